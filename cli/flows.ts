// `tcpscope flows`: who talks to whom over a window, with sessions, bytes, durations,
// failed connects and retransmits, from a collector.
import type { Command } from 'commander';
import { parseWindow } from '../common/duration';
import { directionName } from '../common/tcp';
import { type Flow, FlowsResponse } from '../gen/tcpscope/v1/query';
import { endpointLabel } from './endpoint';
import { addQueryOptions, addWindowOptions, QueryConnection } from './client';
import { bytes, ms, outputFormat, table } from './format';

export function registerFlows(program: Command): void {
  const cmd = program
    .command('flows')
    .description('flows seen by the collector over a window: who talks to whom, with counts, bytes and retransmits')
    .option('--pod <ns/name>', 'only flows with this pod on either end')
    .option('-n, --namespace <ns>', 'only flows with this namespace on either end');
  addWindowOptions(cmd, 'flows', 100);
  addQueryOptions(cmd);
  cmd.action(async (o) => {
    const format = outputFormat(o.output);
    const w = parseWindow(o.since, o.until, Date.now());
    const conn = new QueryConnection(o);
    const res = await conn.unary(conn.client.flows, {
      window: { sinceUnixMs: w.sinceMs, untilUnixMs: w.untilMs }, pod: o.pod ?? '', namespace: o.namespace ?? '', limit: Number(o.limit),
    });
    if (format === 'json') {
      process.stdout.write(JSON.stringify(FlowsResponse.toJSON(res), null, 2) + '\n');
      return;
    }
    if (res.flows.length === 0) {
      process.stdout.write(`${res.note || 'no flows'}\n`);
      return;
    }
    process.stdout.write(renderFlows(res.flows) + '\n');
    if (res.total > res.flows.length) process.stdout.write(`(${res.flows.length} of ${res.total} flows; raise --limit to see more)\n`);
  });
}

export function renderFlows(flows: Flow[]): string {
  return table(
    ['LOCAL', 'DIR', 'REMOTE', 'PORT', 'SESSIONS', 'FAILED', 'TX', 'RX', 'P50', 'P99', 'RETRANS_SEGS', 'RETRANS_EV', 'STATES'],
    flows.map((f) => [
      endpointLabel(f.local!), directionName(f.direction) === 'inbound' ? '<-' : directionName(f.direction) === 'outbound' ? '->' : '--',
      endpointLabel(f.remote!), f.servicePort, f.sessions, f.failedConnects, bytes(f.txBytes), bytes(f.rxBytes),
      ms(f.duration?.p50Ms ?? 0), ms(f.duration?.p99Ms ?? 0), f.retransSegs, f.retransmitEvents,
      f.retransByState.map((s) => `${stateShort(s.state)}:${s.events}`).join(','),
    ]),
    new Set([3, 4, 5, 6, 7, 8, 9, 10, 11]),
  );
}

function stateShort(s: number): string {
  return ({ 1: 'EST', 2: 'SYN_SENT', 3: 'SYN_RECV', 4: 'FIN_WAIT1', 5: 'FIN_WAIT2', 8: 'CLOSE_WAIT', 9: 'LAST_ACK', 11: 'CLOSING' } as Record<number, string>)[s] ?? String(s);
}
