// One size of the scaling suite's flow curve, in a process of its own so that its memory
// figures are its alone: `node --expose-gc flows-worker.js <flows> <dir>` prints one JSON
// line (FlowScale). Steps: N distinct flows into a FlowAggregator (one 10 s bucket) with the
// memory store behind it, then the same flows again (the steady state), a checkpoint into
// the memory store; then a fresh aggregator in front of the SQLite store (durable, as the
// collector runs it): a checkpoint of the N new flows, and of the same flows' next bucket.
// Rates are by CPU time (the machine is shared); checkpoints by wall time too, since the
// collector's checkpoint blocks its event loop (ingest included) for that long.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FlowAggregator } from '../../../collector/aggregate/flows';
import type { ResolvedEvent } from '../../../collector/events';
import { MemoryRollupStore } from '../../../collector/store/memory-store';
import { SqliteRollupStore } from '../../../collector/store/sqlite-store';
import { flowEvent } from './flow-events';

export interface FlowScale {
  flows: number;
  /** aggregator.add() a second: a new flow each, then into the flows already there. */
  addNewPerS: number;
  addExistingPerS: number;
  /** heapUsed after GC: the aggregator holding one bucket of N flows; the memory store holding that bucket (per flow). */
  aggHeapPerFlow: number;
  memStoreHeapPerFlow: number;
  rssPerFlow: number;
  rssMiB: number;
  memCheckpointS: number;
  /** SQLite: checkpoint of N flows never seen, then of the same flows' next bucket (the steady state); wall time (it blocks ingest that long: fsync included) and CPU. */
  sqliteFirstCheckpointS: number;
  sqliteCheckpointS: number;
  sqliteCheckpointCpuS: number;
  /** Heap the SQLite store keeps per flow after its commits (flow ids), file bytes per flow-bucket. */
  sqliteHeapPerFlow: number;
  sqliteFileBytesPerRow: number;
}

const gc = (globalThis as { gc?: () => void }).gc;
function mem(): { heap: number; rss: number } {
  if (!gc) throw new Error('flows-worker needs --expose-gc');
  gc();
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

const CHUNK = 10_000;
const BUCKET_US = 1_700_000_000_000_000;

/** CPU seconds of this process (GC threads included): holds on a busy machine, where wall time does not. */
function cpuS(fn: () => void): number {
  const c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
}

/** Adds the events of flows [0, n) for one bucket in chunks made beforehand; returns the CPU seconds spent in add(). */
function addAll(agg: FlowAggregator, n: number, bucketUs: number): number {
  let s = 0;
  for (let from = 0; from < n; from += CHUNK) {
    const evs: ResolvedEvent[] = [];
    for (let i = from; i < Math.min(n, from + CHUNK); i++) evs.push(flowEvent(i, bucketUs));
    s += cpuS(() => { for (const e of evs) agg.add(e); });
  }
  return s;
}

/** addAll() into an aggregator of its own, gone when this returns (in a frame of its own: a
 *  temporary left in main()'s interpreter registers stayed reachable and was counted in the
 *  SQLite store's heap). */
function addToFresh(n: number): number {
  return addAll(new FlowAggregator(10, new MemoryRollupStore(10e6)), n, BUCKET_US);
}

/** Wall and CPU seconds of fn. */
function timed(fn: () => void): { wallS: number; cpuS: number } {
  const t0 = process.hrtime.bigint();
  const c = cpuS(fn);
  return { wallS: Number(process.hrtime.bigint() - t0) / 1e9, cpuS: c };
}

/** The aggregator in front of the memory store: heap, rates, checkpoint. A function of its own,
 *  so that nothing of it stays reachable afterwards (a stale interpreter register in a caller
 *  that lives on kept it, and the SQLite phase measured less than nothing). */
function memoryPhase(n: number, m0: { heap: number; rss: number }) {
  const agg = new FlowAggregator(10, new MemoryRollupStore(10e6));
  let newS = addAll(agg, n, BUCKET_US);
  let newAdds = n;
  const m1 = mem();
  // Rates: no GC is forced from here on (after a forced one V8 starts from a small young
  // generation); small sizes are repeated until 200k adds are timed.
  const rounds = Math.ceil(200_000 / n);
  if (rounds > 1) {
    newS = 0;
    newAdds = 0;
    for (let r = 0; r < rounds; r++) {
      newS += addToFresh(n);
      newAdds += n;
    }
  }
  addAll(agg, n, BUCKET_US); // warm-up
  let existingS = 0;
  for (let r = 0; r < rounds; r++) existingS += addAll(agg, n, BUCKET_US);
  const memCheckpointS = timed(() => agg.checkpoint(new Map([['run', 1]]))).cpuS;
  const m2 = mem();
  return {
    addNewPerS: newAdds / newS, addExistingPerS: (rounds * n) / existingS, memCheckpointS,
    aggHeapPerFlow: (m1.heap - m0.heap) / n, memStoreHeapPerFlow: (m2.heap - m0.heap) / n, rssPerFlow: (m1.rss - m0.rss) / n, rssMiB: m1.rss / 1048576,
  };
}

/** The aggregator in front of the SQLite store: two checkpoints, the heap the store keeps. */
function sqlitePhase(n: number, dir: string) {
  const m3 = mem();
  const file = path.join(dir, `flows-${n}.sqlite`);
  const sqlite = new SqliteRollupStore(file, { bucketSeconds: 10 });
  const agg = new FlowAggregator(10, sqlite);
  addAll(agg, n, BUCKET_US);
  const first = timed(() => agg.checkpoint(new Map([['run', 1]])));
  addAll(agg, n, BUCKET_US + 10_000_000);
  const steady = timed(() => agg.checkpoint(new Map([['run', 2]])));
  const m4 = mem();
  const fileBytes = ['', '-wal'].reduce((b, s) => b + (fs.existsSync(file + s) ? fs.statSync(file + s).size : 0), 0);
  sqlite.close();
  return {
    sqliteFirstCheckpointS: first.wallS, sqliteCheckpointS: steady.wallS, sqliteCheckpointCpuS: steady.cpuS,
    sqliteHeapPerFlow: (m4.heap - m3.heap) / n, sqliteFileBytesPerRow: fileBytes / (2 * n),
  };
}

function main(): void {
  const n = Number(process.argv[2]);
  const dir = process.argv[3]!;
  if (!Number.isInteger(n) || n < 1 || !dir) throw new Error('usage: flows-worker <flows> <dir>');
  flowEvent(0, BUCKET_US); // warm the generator's code before the baseline
  const m0 = mem();
  const out: FlowScale = { flows: n, ...memoryPhase(n, m0), ...sqlitePhase(n, dir) };
  process.stdout.write(JSON.stringify(out) + '\n');
}

main();
