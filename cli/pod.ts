// `tcpscope pod NS/NAME`: one pod at a glance over a window: its peers, sessions, bytes,
// duration percentiles, failed connects, and retransmits by peer and TCP state.
import type { Command } from 'commander';
import { parseWindow } from '../common/duration';
import { tcpStateName } from '../common/tcp';
import { type Flow, Flow as FlowCodec } from '../gen/tcpscope/v1/query';
import { addQueryOptions, QueryConnection } from './client';
import { endpointLabel } from './endpoint';
import { bytes, ms, outputFormat, table } from './format';

export interface PodSummary {
  pod: string;
  sessions: number;
  failedConnects: number;
  txBytes: number;
  rxBytes: number;
  retransSegs: number;
  retransmitEvents: number;
  peers: Flow[];
}

export function summarisePod(pod: string, flows: Flow[]): PodSummary {
  const [ns, name] = pod.split('/');
  // seen from the pod: when it is the remote end of a flow, swap the ends
  const peers = flows.map((f) => (f.local?.namespace === ns && f.local?.pod === name ? f : { ...f, local: f.remote, remote: f.local, txBytes: f.rxBytes, rxBytes: f.txBytes }));
  const sum = (k: 'sessions' | 'failedConnects' | 'txBytes' | 'rxBytes' | 'retransSegs' | 'retransmitEvents') => peers.reduce((s, f) => s + f[k], 0);
  return {
    pod, sessions: sum('sessions'), failedConnects: sum('failedConnects'), txBytes: sum('txBytes'), rxBytes: sum('rxBytes'),
    retransSegs: sum('retransSegs'), retransmitEvents: sum('retransmitEvents'),
    peers: peers.sort((a, b) => b.retransSegs + b.retransmitEvents - (a.retransSegs + a.retransmitEvents) || b.sessions - a.sessions),
  };
}

export function registerPod(program: Command): void {
  const cmd = program
    .command('pod <ns/name>')
    .description('summarise one pod: peers, sessions, bytes, durations, failed connects, retransmits by peer and state')
    .option('--since <time>', 'start of the window: a duration ago (15m, 2h) or an ISO time', '15m')
    .option('--until <time>', 'end of the window (default: now)')
    .option('-o, --output <format>', 'table or json', 'table');
  addQueryOptions(cmd);
  cmd.action(async (pod: string, o) => {
    const format = outputFormat(o.output);
    const w = parseWindow(o.since, o.until, Date.now());
    const conn = new QueryConnection(o);
    const res = await conn.unary(conn.client.flows, { window: { sinceUnixMs: w.sinceMs, untilUnixMs: w.untilMs }, pod, namespace: '', limit: 10_000 });
    const s = summarisePod(pod, res.flows);
    if (format === 'json') {
      process.stdout.write(JSON.stringify({ ...s, peers: s.peers.map((f) => FlowCodec.toJSON(f)), note: res.note }, null, 2) + '\n');
      return;
    }
    if (s.peers.length === 0) {
      process.stdout.write(`${res.note || `no flows of pod ${pod} in the window`}\n`);
      return;
    }
    process.stdout.write(`pod ${pod}: ${s.sessions} sessions, ${s.failedConnects} failed connects, sent ${bytes(s.txBytes)}, received ${bytes(s.rxBytes)}, ${s.retransSegs} retransmitted segments, ${s.retransmitEvents} retransmit events\n\n`);
    process.stdout.write(table(
      ['PEER', 'PORT', 'DIR', 'SESSIONS', 'FAILED', 'TX', 'RX', 'P50', 'P90', 'P99', 'RETRANS_SEGS', 'RETRANS_BY_STATE'],
      s.peers.map((f) => [
        endpointLabel(f.remote!), f.servicePort, f.direction === 2 ? 'in' : f.direction === 1 ? 'out' : '?', f.sessions, f.failedConnects,
        bytes(f.txBytes), bytes(f.rxBytes), ms(f.duration?.p50Ms ?? 0), ms(f.duration?.p90Ms ?? 0), ms(f.duration?.p99Ms ?? 0), f.retransSegs,
        f.retransByState.map((x) => `${tcpStateName(x.state)}:${x.events}`).join(',') || '-',
      ]),
      new Set([1, 3, 4, 5, 6, 7, 8, 9, 10]),
    ) + '\n');
  });
}
