// The store choice, measured on our own workload: SQLite (collector/store/sqlite-store.ts)
// beside DuckDB (bench/lib/duckdb-store.ts) in one process run. Figures: commit rate of 10 s
// rollups (a fresh bucket of N flows, then the same bucket again: the upsert path), a day
// of history filled one commit per bucket, report latency over 1 h and 24 h windows (all
// flows, and one pod's), file size, and what deleting the older half gives back.
// `npm run bench -- --only=store [--quick]` prints the side-by-side table.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Direction, TcpState } from '../../common/tcp';
import type { FlowAgg } from '../../collector/aggregate/flows';
import { LogHistogram } from '../../collector/aggregate/histogram';
import type { RollupRow } from '../../collector/store/rollup-store';
import { SqliteRollupStore } from '../../collector/store/sqlite-store';
import { type AsyncRollupStore, DuckdbRollupStore } from '../lib/duckdb-store';
import type { BenchContext, BenchRow, BenchSuite } from '../report';

const BUCKET_S = 10;

interface Scale {
  flows: number;       // distinct flow keys
  commitFlows: number; // flows in one commit (the commit-rate figure)
  active: number;      // flows with activity in each bucket of the filled history
  buckets: number;     // buckets of history (8640 = 24 h of 10 s)
}

function scale(quick: boolean): Scale {
  const env = (k: string, d: number) => Number(process.env[`TCPSCOPE_BENCH_STORE_${k}`] ?? d);
  return quick
    ? { flows: env('FLOWS', 10_000), commitFlows: env('COMMIT_FLOWS', 2_000), active: env('ACTIVE', 50), buckets: env('BUCKETS', 1440) }
    : { flows: env('FLOWS', 10_000), commitFlows: env('COMMIT_FLOWS', 10_000), active: env('ACTIVE', 100), buckets: env('BUCKETS', 8640) };
}

/** A deterministic synthetic flow: 200 pods on 20 nodes in 10 namespaces, talking to pods, services and the outside. */
function flow(i: number, bucketStartUs: number): FlowAgg {
  const pod = i % 200;
  const peer = (i * 7 + 3) % 200;
  const ns = `ns-${pod % 10}`;
  const local = { addr: `10.0.${pod >> 8}.${pod & 255}`, port: 0, node: `node-${pod % 20}`, namespace: ns, pod: `app-${pod}-7d9f8c6b5-x2x4z`, container: 'app', workload: `Deployment/app-${pod}`, kind: 'pod' };
  const external = i % 10 === 0;
  const remote = external
    ? { addr: `203.0.${(i >> 8) & 255}.${i & 255}`, port: 443, node: '', namespace: '', pod: '', container: '', workload: '', kind: 'external' }
    : { addr: `10.0.${peer >> 8}.${peer & 255}`, port: 1024 + i, node: `node-${peer % 20}`, namespace: `ns-${peer % 10}`, pod: `app-${peer}-7d9f8c6b5-x2x4z`, container: 'app', workload: `Deployment/app-${peer}`, kind: 'pod' };
  const durations = new LogHistogram();
  const sessions = 1 + (i % 20);
  for (let s = 0; s < sessions; s++) durations.add(1000 * (1 + ((i + s) % 400)));
  const byState = new Map<number, number>();
  if (i % 5 === 0) byState.set(TcpState.TCP_STATE_ESTABLISHED, 1 + (i % 3));
  if (i % 50 === 0) byState.set(TcpState.TCP_STATE_SYN_SENT, 1);
  return {
    key: `${local.node}\0${local.addr}\0${ns}/${local.pod}/app\0${remote.addr}\0${remote.kind}:${remote.namespace}/${remote.pod}\0${remote.port}\0${Direction.DIRECTION_OUTBOUND}`,
    local, remote, servicePort: remote.port, direction: Direction.DIRECTION_OUTBOUND, sessions, failedConnects: i % 50 === 0 ? 1 : 0,
    txBytes: 1000 * sessions, rxBytes: 20_000 * sessions, retransSegs: byState.size ? 2 : 0, retransmitEvents: [...byState.values()].reduce((a, b) => a + b, 0),
    retransEventSegs: [...byState.values()].reduce((a, b) => a + b, 0), byState, durationsUs: durations, srttSumUs: 150 * sessions, srttCount: sessions,
    firstUs: bucketStartUs + 1000, lastUs: bucketStartUs + 9_000_000,
  };
}

export function bucketRows(b: number, first: number, count: number, flows: number, t0Us: number): RollupRow[] {
  const start = t0Us + b * BUCKET_S * 1e6;
  const rows: RollupRow[] = [];
  for (let k = 0; k < count; k++) rows.push({ bucketStartUs: start, agg: flow((first + k) % flows, start) });
  return rows;
}

interface Figures {
  commitFresh: number;  // rows/s
  commitUpsert: number; // rows/s
  fill: number;         // rows/s over the day
  q1h: number;          // ms
  q24h: number;         // ms
  q24hPod: number;      // ms
  flows24h: number;
  bytes: number;
  bytesAfterHalf: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timed<T>(fn: () => T | Promise<T>): Promise<[T, number]> {
  const t = process.hrtime.bigint();
  const r = await fn();
  return [r, Number(process.hrtime.bigint() - t) / 1e6];
}

async function measure(name: string, store: AsyncRollupStore & { bytes(): number; deleteThrough(b: number): Promise<unknown> }, sc: Scale, log: (m: string) => void): Promise<Figures> {
  const t0Us = Math.floor(Date.now() / 1000 / 86400 - 2) * 86400 * 1e6; // two days ago, midnight
  const marks = new Map([['run-a', 1]]);
  // commit rate: fresh buckets, then the same buckets again (every row an upsert-add)
  const fresh: number[] = [];
  const upsert: number[] = [];
  for (let r = 0; r < 3; r++) {
    const rows = bucketRows(-100 - r, 0, sc.commitFlows, sc.flows, t0Us);
    fresh.push((await timed(() => store.commit(rows, marks)))[1]);
    upsert.push((await timed(() => store.commit(rows, marks)))[1]);
  }
  log(`${name}: commit ${sc.commitFlows} flows fresh ${median(fresh).toFixed(1)} ms, again ${median(upsert).toFixed(1)} ms`);
  // a day of history, one commit per bucket
  let fillMs = 0;
  for (let b = 0; b < sc.buckets; b++) {
    const rows = bucketRows(b, (b * sc.active) % sc.flows, sc.active, sc.flows, t0Us);
    marks.set('run-a', b + 2);
    fillMs += (await timed(() => store.commit(rows, marks)))[1];
  }
  log(`${name}: filled ${sc.buckets} buckets x ${sc.active} flows in ${(fillMs / 1000).toFixed(1)} s`);
  const endUs = t0Us + sc.buckets * BUCKET_S * 1e6;
  const q = async (sinceUs: number, filter?: Parameters<AsyncRollupStore['query']>[2]) => {
    const runs: number[] = [];
    let n = 0;
    for (let i = 0; i < 3; i++) {
      const [flows, ms] = await timed(() => store.query(sinceUs, endUs, filter));
      runs.push(ms);
      n = flows.length;
    }
    return [median(runs), n] as const;
  };
  const [q1h] = await q(endUs - 3600e6);
  const [q24h, flows24h] = await q(endUs - 86_400e6);
  const [q24hPod] = await q(endUs - 86_400e6, { pod: { namespace: 'ns-7', name: 'app-17-7d9f8c6b5-x2x4z' } });
  const bytes = store.bytes();
  await store.deleteThrough(Math.floor((t0Us + (sc.buckets / 2) * BUCKET_S * 1e6) / 1e6));
  const bytesAfterHalf = store.bytes();
  const rowsFresh = sc.commitFlows;
  return {
    commitFresh: rowsFresh / (median(fresh) / 1000), commitUpsert: rowsFresh / (median(upsert) / 1000),
    fill: (sc.buckets * sc.active) / (fillMs / 1000), q1h, q24h, q24hPod, flows24h, bytes, bytesAfterHalf,
  };
}

/** SQLite's synchronous store behind the same promise-shaped surface as DuckDB's. */
function asAsync(s: SqliteRollupStore): AsyncRollupStore & { bytes(): number; deleteThrough(b: number): Promise<unknown> } {
  return {
    commit: async (r, w) => s.commit(r, w), watermarks: async () => s.watermarks(), query: async (a, b, f) => s.query(a, b, f),
    prune: async (n, r, m) => s.prune(n, r, m), stats: async () => s.stats(), close: async () => s.close(), bytes: () => s.bytes(),
    // the oldest half goes the way the size cap removes it: delete, then give the pages back
    deleteThrough: async (bucket) => s.prune(bucket * 1e6 + BUCKET_S * 1e6 + 1, 1, Number.MAX_SAFE_INTEGER),
  };
}

export async function benchStore(ctx: BenchContext): Promise<BenchRow[]> {
  const sc = scale(ctx.quick);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcpscope-bench-store-'));
  try {
    ctx.log(`store: ${sc.flows} flow keys; commits of ${sc.commitFlows} flows; history ${sc.buckets} buckets x ${sc.active} active flows`);
    const sqlite = asAsync(new SqliteRollupStore(path.join(dir, 'rollups.sqlite'), { bucketSeconds: BUCKET_S }));
    const a = await measure('sqlite', sqlite, sc, ctx.log);
    await sqlite.close();
    const duck = await DuckdbRollupStore.open(path.join(dir, 'rollups.duckdb'), BUCKET_S);
    const b = await measure('duckdb', duck, sc, ctx.log);
    await duck.close();
    const row = (figure: string, va: number, vb: number, unit: string, bar?: string): BenchRow => ({
      bench: 'store', figure: `${figure} (sqlite)`, value: va, unit, peer: 'duckdb', peerValue: vb, ratio: vb ? va / vb : undefined, bar,
    });
    return [
      row(`commit ${sc.commitFlows} new flow rows`, a.commitFresh, b.commitFresh, 'rows/s'),
      row(`commit ${sc.commitFlows} rows again (upsert-add)`, a.commitUpsert, b.commitUpsert, 'rows/s'),
      row(`fill ${sc.buckets} buckets x ${sc.active} flows`, a.fill, b.fill, 'rows/s'),
      row('report 1 h window', a.q1h, b.q1h, 'ms'),
      row(`report 24 h window (${a.flows24h} flows)`, a.q24h, b.q24h, 'ms'),
      row('report 24 h, one pod', a.q24hPod, b.q24hPod, 'ms'),
      row('file size incl. WAL', a.bytes / 2 ** 20, b.bytes / 2 ** 20, 'MiB'),
      row('file size after the older half is deleted', a.bytesAfterHalf / 2 ** 20, b.bytesAfterHalf / 2 ** 20, 'MiB', 'size cap needs space back'),
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export const suite: BenchSuite = { name: 'store', order: 60, run: benchStore };
