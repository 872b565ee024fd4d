// `tcpscope status`: the agents a collector knows, whether they are connected, when they
// last sent, what they lost and why, and their kernels' features.
import type { Command } from 'commander';
import { LossReason } from '../gen/tcpscope/v1/events';
import { StatusResponse } from '../gen/tcpscope/v1/query';
import { addQueryOptions, QueryConnection } from './client';
import { outputFormat, table } from './format';

function ago(ms: number): string {
  if (!ms) return 'never';
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 120 ? `${s}s ago` : `${Math.round(s / 60)}m ago`;
}

export function registerStatus(program: Command): void {
  const cmd = program
    .command('status')
    .description('agents connected to the collector: last batch, events, losses by reason, kernel features')
    .option('-o, --output <format>', 'table or json', 'table');
  addQueryOptions(cmd);
  cmd.action(async (o) => {
    const format = outputFormat(o.output);
    const conn = new QueryConnection(o);
    const res = await conn.unary(conn.client.status, {});
    if (format === 'json') {
      process.stdout.write(JSON.stringify(StatusResponse.toJSON(res), null, 2) + '\n');
      return;
    }
    process.stdout.write(`collector ${res.collectorVersion}, up since ${new Date(res.startedUnixMs).toISOString()}, ${res.eventsTotal} events, ${res.flows} flows\n\n`);
    if (res.agents.length === 0) {
      process.stdout.write('no agents have connected yet\n');
      return;
    }
    process.stdout.write(
      table(
        ['NODE', 'CONNECTED', 'LAST_BATCH', 'BATCHES', 'SESSIONS', 'RETRANS', 'DUPLICATES', 'REJECTED', 'LOST', 'RETRANS_FAILED', 'RESTARTS', 'KERNEL'],
        res.agents.map((a) => [
          a.nodeName, a.connected ? 'yes' : 'no', ago(a.lastBatchUnixMs), a.batches, a.sessions, a.retransmits, a.duplicates, a.rejected,
          a.losses.length ? a.losses.map((l) => `${LossReason[l.reason]?.replace('LOSS_REASON_', '').toLowerCase()}:${l.count}`).join(',') : '0',
          a.retransmitFailed, a.bpftraceRestarts, a.kernel ? `${a.kernel.kernelRelease}${a.kernel.retransmitErrField ? ' (err field)' : ''}` : '',
        ]),
      ) + '\n',
    );
  });
}
