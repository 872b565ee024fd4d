// How the CLI names an endpoint: pod (with container and workload), service, node,
// or the bare address with what attribution said about it.
import type { Endpoint } from '../gen/tcpscope/v1/query';

export function endpointLabel(e: Endpoint, withAddr = true): string {
  const addr = e.addr.includes(':') ? `[${e.addr}]` : e.addr;
  const at = withAddr ? ` (${addr}${e.port ? `:${e.port}` : ''})` : '';
  switch (e.kind) {
    case 'pod':
      return `${e.namespace}/${e.pod}${e.container ? `[${e.container}]` : ''}${at}`;
    case 'service':
      return `svc/${e.namespace}/${e.workload.replace(/^Service\//, '')}${at}`;
    case 'node':
      return `node/${e.node}${at}`;
    case 'host':
      return `${e.node}:${addr}${e.port ? `:${e.port}` : ''}`;
    case 'external':
      return `external:${addr}${e.port ? `:${e.port}` : ''}`;
    case 'unknown':
      return `unknown:${addr}${e.port ? `:${e.port}` : ''}`;
    default:
      return `${addr}${e.port ? `:${e.port}` : ''}`;
  }
}
