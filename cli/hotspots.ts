// `tcpscope hotspots`: who retransmits most over a window, grouped by pod, workload,
// namespace, node, node pair or remote, with the book's reading of each row.
import type { Command } from 'commander';
import { parseWindow } from '../common/duration';
import { tcpStateName } from '../common/tcp';
import { HotspotsResponse } from '../gen/tcpscope/v1/query';
import { addQueryOptions, addWindowOptions, QueryConnection } from './client';
import { bytes, outputFormat, table } from './format';

export function registerHotspots(program: Command): void {
  const cmd = program
    .command('hotspots')
    .description('rank retransmit hot spots over a window, with what each pattern most likely means')
    .option('--by <grouping>', 'pod, workload, namespace, node, node-pair, remote or flow', 'pod')
    .option('-n, --namespace <ns>', 'only this namespace (local end)');
  addWindowOptions(cmd, 'rows', 20);
  addQueryOptions(cmd);
  cmd.action(async (o) => {
    const format = outputFormat(o.output);
    const w = parseWindow(o.since, o.until, Date.now());
    const conn = new QueryConnection(o);
    const res = await conn.unary(conn.client.hotspots, {
      window: { sinceUnixMs: w.sinceMs, untilUnixMs: w.untilMs }, by: o.by, namespace: o.namespace ?? '', limit: Number(o.limit),
    });
    if (format === 'json') {
      process.stdout.write(JSON.stringify(HotspotsResponse.toJSON(res), null, 2) + '\n');
      return;
    }
    if (res.rows.length === 0) {
      process.stdout.write(`${res.note || 'no retransmits in the window'}\n`);
      return;
    }
    process.stdout.write(
      table(
        [res.by.toUpperCase(), 'RETRANS_SEGS', 'RETRANS_EV', 'SESSIONS', 'FAILED', 'TX', 'PER_SESSION', 'PER_MB', 'STATES'],
        res.rows.map((r) => [
          r.key, r.retransSegs, r.retransmitEvents, r.sessions, r.failedConnects, bytes(r.txBytes),
          r.retransPerSession.toFixed(2), r.retransPerMb.toFixed(2), r.states.map((s) => `${tcpStateName(s.state)}:${s.events}`).join(','),
        ]),
        new Set([1, 2, 3, 4, 5, 6, 7]),
      ) + '\n\n',
    );
    for (const r of res.rows) if (r.finding) process.stdout.write(`${r.key}: ${r.finding}\n    evidence: ${r.evidence}\n`);
  });
}
