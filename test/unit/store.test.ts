// The embedded rollup store (SQLite): upsert-add sums exactly, watermarks commit with the
// rows or not at all, window reports merge the right buckets (percentiles from merged
// histograms), filters, close/reopen keeps reports, retention and the size cap.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { Direction, TcpState } from '../../common/tcp';
import type { FlowAgg } from '../../collector/aggregate/flows';
import { LogHistogram } from '../../collector/aggregate/histogram';
import { flowToWire } from '../../collector/query/queries';
import { SqliteRollupStore } from '../../collector/store/sqlite-store';
import type { Endpoint } from '../../gen/tcpscope/v1/query';

const BUCKET_S = 10;
const T0 = 1_800_000_000 * 1e6; // a bucket boundary (µs)
const B = (i: number) => T0 + i * BUCKET_S * 1e6;

const dirs: string[] = [];
after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });
function tmpFile(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tcpscope-store-test-'));
  dirs.push(d);
  return path.join(d, 'rollups.db');
}

function pod(ns: string, name: string, node: string, addr: string, port = 0): Endpoint {
  return { addr, port, node, namespace: ns, pod: name, container: 'app', workload: `Deployment/${name}`, kind: 'pod' };
}

const web = pod('shop', 'web', 'node-a', '10.0.0.1');
const db = pod('shop', 'db', 'node-b', '10.0.0.2', 5432);
const cache = pod('infra', 'cache', 'node-b', '10.0.0.3', 6379);

interface AggSpec {
  local?: Endpoint; remote?: Endpoint; sessions?: number; failed?: number; tx?: number; rx?: number; retransSegs?: number;
  states?: Array<[number, number]>; durationsUs?: number[]; srtt?: number[]; firstUs?: number; lastUs?: number;
}

function agg(s: AggSpec = {}): FlowAgg {
  const local = s.local ?? web;
  const remote = s.remote ?? db;
  const h = new LogHistogram();
  for (const d of s.durationsUs ?? []) h.add(d);
  const byState = new Map(s.states ?? []);
  const events = [...byState.values()].reduce((a, b) => a + b, 0);
  return {
    key: `${local.node}/${local.namespace}/${local.pod}->${remote.namespace}/${remote.pod}:${remote.port}`, local, remote,
    servicePort: remote.port, direction: Direction.DIRECTION_OUTBOUND, sessions: s.sessions ?? (s.durationsUs?.length ?? 0),
    failedConnects: s.failed ?? 0, txBytes: s.tx ?? 0, rxBytes: s.rx ?? 0, retransSegs: s.retransSegs ?? 0, retransmitEvents: events,
    retransEventSegs: events, byState, durationsUs: h, srttSumUs: (s.srtt ?? []).reduce((a, b) => a + b, 0), srttCount: (s.srtt ?? []).length,
    firstUs: s.firstUs ?? 0, lastUs: s.lastUs ?? 0,
  };
}

const open = (file: string) => new SqliteRollupStore(file, { bucketSeconds: BUCKET_S });
const noMarks = new Map<string, number>();

test('committing the same bucket and flow twice adds every sum, state count and histogram bin', () => {
  const s = open(tmpFile());
  const a = agg({ durationsUs: [1000, 2000], tx: 100, rx: 1000, retransSegs: 1, failed: 1, states: [[TcpState.TCP_STATE_ESTABLISHED, 2]], srtt: [50, 70], firstUs: B(0) + 5, lastUs: B(0) + 9 });
  const b = agg({ durationsUs: [2000, 500_000], tx: 7, rx: 9, retransSegs: 3, states: [[TcpState.TCP_STATE_ESTABLISHED, 1], [TcpState.TCP_STATE_SYN_SENT, 4]], srtt: [30], firstUs: B(0) + 1, lastUs: B(0) + 7 });
  s.commit([{ bucketStartUs: B(0), agg: a }], noMarks);
  s.commit([{ bucketStartUs: B(0), agg: b }], noMarks);
  assert.equal(s.stats().rows, 1, 'one row per (bucket, flow)');
  const [f] = s.query(B(0), B(1));
  assert.ok(f);
  assert.equal(f.sessions, 4);
  assert.equal(f.failedConnects, 1);
  assert.equal(f.txBytes, 107);
  assert.equal(f.rxBytes, 1009);
  assert.equal(f.retransSegs, 4);
  assert.equal(f.retransmitEvents, 7);
  assert.equal(f.retransEventSegs, 7);
  assert.deepEqual([...f.byState].sort(), [[TcpState.TCP_STATE_ESTABLISHED, 3], [TcpState.TCP_STATE_SYN_SENT, 4]]);
  assert.equal(f.srttSumUs, 150);
  assert.equal(f.srttCount, 3);
  assert.equal(f.firstUs, B(0) + 1);
  assert.equal(f.lastUs, B(0) + 9);
  const expected = agg({ durationsUs: [1000, 2000, 2000, 500_000] }).durationsUs;
  assert.deepEqual([...f.durationsUs.counts].sort((x, y) => x[0] - y[0]), [...expected.counts].sort((x, y) => x[0] - y[0]));
  assert.equal(f.durationsUs.total, 4);
  assert.equal(f.durationsUs.max, 500_000);
  assert.deepEqual(f.local, web);
  assert.deepEqual(f.remote, db);
  s.close();
});

test('watermarks are stored with the rows, keep the highest sequence, and a failed commit stores neither', () => {
  const file = tmpFile();
  const s = open(file);
  s.commit([{ bucketStartUs: B(0), agg: agg({ sessions: 1 }) }], new Map([['run-1', 10], ['run-2', 3]]));
  s.commit([], new Map([['run-1', 7]])); // an older sequence never lowers the mark
  assert.deepEqual(s.watermarks(), new Map([['run-1', 10], ['run-2', 3]]));
  const bad = agg({ sessions: 5, local: cache });
  (bad as { txBytes: unknown }).txBytes = null; // violates NOT NULL halfway through the transaction
  assert.throws(() => s.commit([{ bucketStartUs: B(1), agg: agg({ sessions: 5 }) }, { bucketStartUs: B(1), agg: bad }], new Map([['run-1', 20]])));
  assert.deepEqual(s.watermarks(), new Map([['run-1', 10], ['run-2', 3]]), 'the failed commit left the watermarks alone');
  assert.equal(s.query(B(0), B(5)).reduce((n, f) => n + f.sessions, 0), 1, 'and no row of it');
  s.commit([{ bucketStartUs: B(1), agg: agg({ sessions: 2, local: cache }) }], new Map([['run-1', 21]]));
  s.close();
  const again = open(file);
  assert.deepEqual(again.watermarks(), new Map([['run-1', 21], ['run-2', 3]]));
  assert.equal(again.query(B(0), B(5)).find((f) => f.local.pod === 'cache')?.sessions, 2, 'a flow id handed out in the failed commit is not reused wrongly');
  again.close();
});

test('a window report merges exactly the buckets that overlap it, with percentiles from the merged histograms', () => {
  const s = open(tmpFile());
  // bucket 0: 10 sessions of 1 ms; bucket 1: 10 of 10 ms; bucket 2: 80 of 100 ms; bucket 3: 5 of 1 s
  s.commit([
    { bucketStartUs: B(0), agg: agg({ durationsUs: Array(10).fill(1000), tx: 1, states: [[TcpState.TCP_STATE_ESTABLISHED, 1]] }) },
    { bucketStartUs: B(1), agg: agg({ durationsUs: Array(10).fill(10_000), tx: 10, states: [[TcpState.TCP_STATE_ESTABLISHED, 2]] }) },
    { bucketStartUs: B(2), agg: agg({ durationsUs: Array(80).fill(100_000), tx: 100, states: [[TcpState.TCP_STATE_SYN_SENT, 3]] }) },
    { bucketStartUs: B(3), agg: agg({ durationsUs: Array(5).fill(1_000_000), tx: 1000 }) },
  ], noMarks);
  // [B(1) + 1 s, B(3)) overlaps buckets 1 and 2 only
  const [f] = s.query(B(1) + 1e6, B(3));
  assert.ok(f);
  assert.equal(f.sessions, 90);
  assert.equal(f.txBytes, 110);
  assert.deepEqual([...f.byState].sort(), [[TcpState.TCP_STATE_ESTABLISHED, 2], [TcpState.TCP_STATE_SYN_SENT, 3]]);
  const w = flowToWire(f).duration!;
  // 90 sessions: ranks 1-10 are 10 ms, 11-90 are 100 ms; p50 and p90 are 100 ms, within the histogram's ~9%
  const near = (v: number, want: number) => Math.abs(v - want) / want <= 0.1;
  assert.ok(near(w.p50Ms, 100), `p50 ${w.p50Ms}`);
  assert.ok(near(w.p90Ms, 100), `p90 ${w.p90Ms}`);
  assert.equal(w.maxMs, 100);
  const [g] = s.query(B(0), B(1) + 1); // bucket 0 and (touching) bucket 1
  assert.equal(g!.sessions, 20);
  assert.ok(near(flowToWire(g!).duration!.p50Ms, 1), 'ranks 1-10 of 20 are 1 ms');
  assert.ok(near(flowToWire(g!).duration!.p90Ms, 10));
  const [all] = s.query(B(0), B(4));
  assert.equal(all!.sessions, 105);
  assert.ok(near(flowToWire(all!).duration!.p99Ms, 1000), 'rank 104 of 105 is 1 s');
  assert.deepEqual(s.query(B(4), B(10)), [], 'a window after the data is empty');
  s.close();
});

test('filters: a pod on either end, a namespace on either end, the local namespace', () => {
  const s = open(tmpFile());
  s.commit([
    { bucketStartUs: B(0), agg: agg({ local: web, remote: db, sessions: 1 }) },
    { bucketStartUs: B(0), agg: agg({ local: db, remote: cache, sessions: 2 }) },
    { bucketStartUs: B(0), agg: agg({ local: cache, remote: web, sessions: 4 }) },
  ], noMarks);
  const sum = (fs: FlowAgg[]) => fs.reduce((n, f) => n + f.sessions, 0);
  assert.equal(sum(s.query(B(0), B(1), { pod: { namespace: 'shop', name: 'db' } })), 3, 'db is remote in one flow, local in another');
  assert.equal(sum(s.query(B(0), B(1), { pod: { namespace: 'shop', name: 'web' } })), 5);
  assert.equal(sum(s.query(B(0), B(1), { pod: { namespace: 'infra', name: 'web' } })), 0, 'the namespace is part of the pod');
  assert.equal(sum(s.query(B(0), B(1), { namespace: 'infra' })), 6);
  assert.equal(sum(s.query(B(0), B(1), { namespace: 'shop' })), 7);
  assert.equal(sum(s.query(B(0), B(1), { localNamespace: 'infra' })), 4);
  assert.equal(sum(s.query(B(0), B(1), { localNamespace: 'shop', pod: { namespace: 'infra', name: 'cache' } })), 2);
  s.close();
});

test('a report over an earlier window is unchanged after close and reopen', () => {
  const file = tmpFile();
  const s = open(file);
  for (let b = 0; b < 30; b++) {
    s.commit([
      { bucketStartUs: B(b), agg: agg({ local: web, remote: db, durationsUs: [1000 * (b + 1), 50_000], tx: b, states: b % 3 ? [] : [[TcpState.TCP_STATE_ESTABLISHED, 1]], srtt: [b] }) },
      { bucketStartUs: B(b), agg: agg({ local: cache, remote: db, durationsUs: [7], failed: b % 2 }) },
    ], new Map([['run', b]]));
  }
  const report = () => s2wire(s2.query(B(5), B(25)));
  const s2wire = (fs: FlowAgg[]) => fs.map(flowToWire).sort((a, b) => a.local!.pod.localeCompare(b.local!.pod));
  let s2 = s;
  const before = report();
  s.close();
  s2 = open(file);
  assert.deepEqual(report(), before);
  assert.equal(before.length, 2);
  assert.equal(before.find((f) => f.local!.pod === 'web')!.sessions, 40);
  s2.close();
});

test('retention removes the buckets that ended before the horizon and the flows seen only there', () => {
  const s = open(tmpFile());
  s.commit([
    { bucketStartUs: B(0), agg: agg({ local: cache, remote: db, sessions: 1 }) },
    { bucketStartUs: B(0), agg: agg({ sessions: 1 }) },
    { bucketStartUs: B(1), agg: agg({ sessions: 2 }) },
    { bucketStartUs: B(2), agg: agg({ sessions: 4 }) },
  ], noMarks);
  // now = B(3) + 5 s, retention 20 s: the horizon is B(1) + 5 s; bucket 0 ended at B(1) and goes, bucket 1 stays
  const { removedRows } = s.prune(B(3) + 5e6, 20e6, Number.MAX_SAFE_INTEGER);
  assert.equal(removedRows, 2);
  assert.equal(s.stats().oldestBucketUs, B(1));
  assert.equal(s.query(B(0), B(3)).reduce((n, f) => n + f.sessions, 0), 6);
  assert.equal(s.query(B(0), B(3), { pod: { namespace: 'infra', name: 'cache' } }).length, 0);
  assert.equal(s.prune(B(3) + 5e6, 20e6, Number.MAX_SAFE_INTEGER).removedRows, 0, 'nothing more to remove');
  s.close();
});

test('the size cap holds: the file and its WAL end at or below it, the oldest buckets go first', () => {
  const file = tmpFile();
  const s = open(file);
  const cap = 2 * 1024 * 1024;
  let b = 0;
  // many flows with wide histograms until the database is well above the cap
  while (s.bytes() < 1.5 * cap) {
    const rows = [];
    for (let i = 0; i < 200; i++) {
      const remote = pod('shop', `db-${i}`, 'node-b', `10.1.${i >> 8}.${i & 255}`, 5432);
      rows.push({ bucketStartUs: B(b), agg: agg({ remote, durationsUs: Array.from({ length: 20 }, (_, k) => 1000 * 1.3 ** k), states: [[TcpState.TCP_STATE_ESTABLISHED, 1]] }) });
    }
    s.commit(rows, new Map([['run', b]]));
    b++;
  }
  const rowsBefore = s.stats().rows;
  const { removedRows } = s.prune(B(b), 365 * 86_400e6, cap);
  const size = fs.statSync(file).size + (fs.existsSync(`${file}-wal`) ? fs.statSync(`${file}-wal`).size : 0);
  assert.ok(size <= cap, `${size} bytes on disk, cap ${cap}`);
  assert.ok(removedRows > 0 && removedRows < rowsBefore, `removed ${removedRows} of ${rowsBefore}`);
  const oldest = s.stats().oldestBucketUs!;
  assert.ok(oldest > B(0), 'the oldest went');
  const kept = (B(b) - oldest) / (BUCKET_S * 1e6);
  assert.equal(s.stats().rows, kept * 200, 'every bucket from the oldest kept one to the newest is whole');
  assert.equal(s.query(B(b - 1), B(b)).length, 200, 'the newest bucket is all there');
  assert.deepEqual(s.query(B(0), oldest), [], 'nothing older than the oldest kept bucket');
  s.close();
});
