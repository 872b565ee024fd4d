// `tcpscope observe`: recent (and with --follow, live) sessions and retransmits from a
// collector, with both ends named; filters in the spirit of `hubble observe`.
import type * as grpc from '@grpc/grpc-js';
import type { Command } from 'commander';
import { parseDurationMs, parseWindow } from '../common/duration';
import { CA_STATE_NAMES, tcpStateName } from '../common/tcp';
import { type EventRecord, EventRecord as EventRecordCodec, EventType } from '../gen/tcpscope/v1/query';
import { addQueryOptions, QueryConnection, explain } from './client';
import { endpointLabel } from './endpoint';
import { bytes, ms, outputFormat } from './format';

export function registerObserve(program: Command): void {
  const cmd = program
    .command('observe')
    .description('show recent sessions and retransmits (live with --follow), both ends named')
    .option('--pod <ns/name>', 'only events with this pod on either end')
    .option('-n, --namespace <ns>', 'only events with this namespace on either end')
    .option('--from-pod <ns/name>', 'only sessions this pod opened (it is the client)')
    .option('--to-pod <ns/name>', 'only sessions to this pod (it is the server)')
    .option('--node <name>', 'only events recorded on this node')
    .option('--type <type>', 'life (sessions, and flow sums from agents that sum in the kernel), flow (only flow sums), retrans or all', 'all')
    .option('--port <port>', 'only events with this local or remote port')
    .option('--since <time>', 'a duration ago (5m) or an ISO time', '5m')
    .option('--last <n>', 'only the newest N past events')
    .option('-f, --follow', 'keep streaming new events until Ctrl-C')
    .option('--for <duration>', 'with --follow: stop after this long (e.g. 30s)')
    .option('-o, --output <format>', 'table, compact or json (one object per line)', 'table');
  addQueryOptions(cmd);
  cmd.action(async (o) => {
    const format = outputFormat(o.output, ['table', 'compact', 'json']);
    if (!['life', 'flow', 'retrans', 'all'].includes(o.type)) throw new Error(`invalid --type "${o.type}": use life, flow, retrans or all`);
    const port = o.port ? Number(o.port) : 0;
    if (o.port && !(Number.isInteger(port) && port > 0 && port < 65536)) throw new Error(`invalid --port "${o.port}"`);
    const w = parseWindow(o.since, undefined, Date.now());
    const conn = new QueryConnection(o);
    const client = conn.client;
    const stream = client.events({
      window: { sinceUnixMs: w.sinceMs, untilUnixMs: 0 }, pod: o.pod ?? '', namespace: o.namespace ?? '',
      type: EVENT_TYPES[o.type] ?? EventType.EVENT_TYPE_UNSPECIFIED,
      port, last: o.last ? Number(o.last) : 0, follow: !!o.follow, node: o.node ?? '', fromPod: o.fromPod ?? '', toPod: o.toPod ?? '',
    }, conn.callMetadata());
    let n = 0;
    if (format === 'table') process.stdout.write('TIME          NODE        TYPE     LOCAL -> REMOTE  DETAILS\n');
    const stop = () => stream.cancel();
    process.once('SIGINT', stop);
    if (o.for) setTimeout(stop, parseDurationMs(o.for, '--for')).unref();
    await new Promise<void>((resolve, reject) => {
      stream.on('data', (e: EventRecord) => {
        n++;
        process.stdout.write(render(e, format) + '\n');
      });
      stream.on('end', resolve);
      stream.on('error', (err: grpc.ServiceError) => (err.code === 1 /* CANCELLED */ ? resolve() : reject(explain(err, o.collector))));
    });
    process.removeListener('SIGINT', stop);
    client.close();
    if (n === 0 && format !== 'json') process.stderr.write('no events matched\n');
  });
}

export const EVENT_TYPES: Record<string, EventType> = {
  life: EventType.EVENT_TYPE_LIFE, flow: EventType.EVENT_TYPE_FLOW, retrans: EventType.EVENT_TYPE_RETRANS, all: EventType.EVENT_TYPE_UNSPECIFIED,
};
const TYPE_NAMES: Partial<Record<EventType, string>> = {
  [EventType.EVENT_TYPE_LIFE]: 'life', [EventType.EVENT_TYPE_FLOW]: 'flow', [EventType.EVENT_TYPE_RETRANS]: 'retrans',
};

export function render(e: EventRecord, format: string): string {
  if (format === 'json') return JSON.stringify(EventRecordCodec.toJSON(e));
  const t = new Date(Number(BigInt(e.timeUnixNs) / 1_000_000n));
  const time = format === 'compact' ? t.toISOString().slice(11, 23) : t.toISOString().slice(11, 23).padEnd(13);
  const arrow = e.direction === 2 ? '<-' : '->';
  const ends = `${endpointLabel(e.local!)} ${arrow} ${endpointLabel(e.remote!)}`;
  const details = e.type === EventType.EVENT_TYPE_FLOW
    ? `${e.sessions} session${Number(e.sessions) === 1 ? '' : 's'}${e.failedConnects ? ` ${e.failedConnects} FAILED CONNECT${Number(e.failedConnects) === 1 ? '' : 'S'}` : ''} in ${(e.intervalMs / 1000).toFixed(1)}s tx=${bytes(e.txBytes)} rx=${bytes(e.rxBytes)} dur~${ms(e.durationMs)} retrans=${e.retransSegs}${e.retransmits ? ` (+${e.retransmits} counted in kernel)` : ''}`
    : e.type === EventType.EVENT_TYPE_LIFE
    ? e.failedConnect
      ? `FAILED CONNECT pid=${e.pid} ${e.comm}`
      : `tx=${bytes(e.txBytes)} rx=${bytes(e.rxBytes)} dur=${ms(e.durationMs)} retrans=${e.retransSegs} pid=${e.pid} ${e.comm}`
    : `${tcpStateName(e.state)} ca=${CA_STATE_NAMES[e.caState] ?? e.caState}`;
  const type = TYPE_NAMES[e.type] ?? 'event';
  if (format === 'compact') return `${time} ${type.toUpperCase()} ${ends} ${details}`;
  return `${time} ${e.node.padEnd(11)} ${type.padEnd(8)} ${ends}  ${details}`;
}
