// Resolver: names both ends of an event at the event's time. The local end comes from the
// agent's attribution (pod, container) or is the node itself; the remote end comes from
// the cluster index (pod, service, node or external at that time) when Kubernetes is on.
// Without an index the remote end stays "unresolved": an address, never a guessed name.
import type { Endpoint } from '../../gen/tcpscope/v1/query';
import type { FlowEvent } from '../events';

/** What a cluster index answers for an address at a time (collector/k8s implements it). */
export interface RemoteLookup {
  kind: 'pod' | 'service' | 'node' | 'external' | 'unknown';
  uid?: string;
  namespace?: string;
  name?: string;
  container?: string;
  workload?: { kind: string; name: string };
  node?: string;
}

export interface RemoteIndex {
  resolve(addr: string, timeUs: number): RemoteLookup;
}

export class Resolver {
  /** "Kind/name" of the agent's workloads, kept: one string per workload, not one per event. */
  private readonly workloads = new Map<string, Map<string, string>>();

  constructor(private readonly index?: RemoteIndex) {}

  private workloadName(kind: string, name: string): string {
    let byName = this.workloads.get(kind);
    if (!byName) {
      byName = new Map();
      this.workloads.set(kind, byName);
    }
    let w = byName.get(name);
    if (w === undefined) {
      if (byName.size >= 65536) byName.clear();
      w = `${kind}/${name}`;
      byName.set(name, w);
    }
    return w;
  }

  local(ev: FlowEvent): Endpoint {
    const p = ev.localPod;
    if (p) {
      // the agent names the pod's controller (ReplicaSet/x); the cluster index knows the workload (Deployment/y)
      let workload = p.workloadKind ? this.workloadName(p.workloadKind, p.workloadName) : '';
      if (this.index && !p.hostNetwork) {
        const r = this.index.resolve(ev.laddr, ev.timeUs);
        if (r.kind === 'pod' && r.uid === p.uid && r.workload) workload = `${r.workload.kind}/${r.workload.name}`;
      }
      return {
        addr: ev.laddr, port: ev.lport, node: ev.node, namespace: p.namespace, pod: p.name,
        container: p.container, workload, kind: 'pod',
      };
    }
    return { addr: ev.laddr, port: ev.lport, node: ev.node, namespace: '', pod: '', container: '', workload: '', kind: 'host' };
  }

  remote(ev: FlowEvent): Endpoint {
    const base: Endpoint = { addr: ev.raddr, port: ev.rport, node: '', namespace: '', pod: '', container: '', workload: '', kind: 'unresolved' };
    if (!this.index) return base;
    const r = this.index.resolve(ev.raddr, ev.timeUs);
    base.kind = r.kind;
    if (r.kind === 'pod') {
      base.namespace = r.namespace ?? '';
      base.pod = r.name ?? '';
      base.container = r.container ?? '';
      base.node = r.node ?? '';
      base.workload = r.workload ? `${r.workload.kind}/${r.workload.name}` : '';
    } else if (r.kind === 'service') {
      base.namespace = r.namespace ?? '';
      base.workload = `Service/${r.name ?? ''}`;
    } else if (r.kind === 'node') {
      base.node = r.name ?? r.node ?? '';
    }
    return base;
  }
}

/** A short human name for an endpoint: ns/pod, Service/ns/name, node:x, or the address. */
export function endpointName(e: Endpoint): string {
  if (e.kind === 'pod') return `${e.namespace}/${e.pod}`;
  if (e.kind === 'service') return `svc:${e.namespace}/${e.workload.replace(/^Service\//, '')}`;
  if (e.kind === 'node') return `node:${e.node}`;
  if (e.kind === 'host') return `${e.node}:${e.addr}`;
  return e.addr;
}
