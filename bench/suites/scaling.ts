// Collector cost and memory as the cluster grows, each as a curve (bench-results/scaling.svg,
// log x) and its slope:
//  - flows: N distinct flows in one 10 s bucket (1k, 10k, 100k, 1M; --quick 1k, 10k, 30k),
//    each size in a process of its own: FlowAggregator heap per flow, the memory store's per
//    flow-bucket, the SQLite store's per flow; aggregator.add() per CPU-second into new and
//    into known flows; the checkpoint of a bucket of N flows into SQLite (durable, as the
//    collector commits every --checkpoint-seconds 10, blocking its event loop meanwhile).
//  - pods: 1k, 10k, 50k pods in the ClusterIndex (k8s-index's cluster): heap per pod, resolve.
//  - agents: 1, 10, 100, 500 agents: the AgentRegistry alone (in process), and a real
//    collector process with that many agents' gRPC streams open (the agent's BatchSender,
//    one connection each).
// Where one collector stops keeping up, by two criteria, both reported, the lower one wins:
// the SQLite checkpoint of one bucket's flows takes longer than the 10 s between checkpoints
// (interpolated between the sizes measured, or extrapolated linearly past the largest), or
// the heap passes a 2 GiB budget. Last full run (2026-11-26, shared 2-core VM): the
// checkpoint comes first, at ~250-450k flows a bucket (1M known flows: 22-48 s wall); the
// heap (aggregator ~1.9 KB + SQLite flow ids ~230 B a flow) at ~1M flows; a memory-only
// collector (2 h of 10 s buckets kept, ~1.4 KB a flow-bucket) at ~2.2k always-active flows.
// `npm run bench -- --only=scaling [--quick]`
import { flowScaling, type FlowScale } from '../lib/scaling/flows';
import { registryBytesPerAgent, streamScaling } from '../lib/scaling/agents';
import type { BenchContext, BenchRow, BenchSuite } from '../report';
import { podScaling } from './k8s-index';

const B = 'scaling';
const BUDGET = 2 * 1024 ** 3;
const CHECKPOINT_S = 10;
const MEMORY_RETENTION_BUCKETS = (120 * 60) / 10; // memory-only collector: --memory-retention-minutes 120 of 10 s buckets

/** Least-squares slope of y against x. */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxx === 0 ? points[0]![1] / points[0]![0] : points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0) / sxx;
}

/** Where y (growing with x) reaches `limit`: between measured points when one is past it, else from the last point's y/x. */
function crossing(points: Array<[number, number]>, limit: number): { at: number; measured: boolean } {
  const sorted = [...points].sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < sorted.length; i++) {
    const [x0, y0] = sorted[i - 1]!, [x1, y1] = sorted[i]!;
    if (y1 >= limit && y0 < limit) return { at: x0 + ((limit - y0) / (y1 - y0)) * (x1 - x0), measured: true };
  }
  if (sorted[0]![1] >= limit) return { at: sorted[0]![0] * (limit / sorted[0]![1]), measured: true };
  const [xl, yl] = sorted[sorted.length - 1]!;
  return { at: xl * (limit / yl), measured: false };
}

async function flowRows(ctx: BenchContext): Promise<BenchRow[]> {
  const sizes = ctx.quick ? [1_000, 10_000, 30_000] : [1_000, 10_000, 100_000, 1_000_000];
  const r: FlowScale[] = await flowScaling(sizes, ctx.log);
  const pts = (f: (x: FlowScale) => number): Array<[number, number]> => r.map((x) => [x.flows, f(x)]);
  ctx.curve({
    title: 'Collector heap against flows (one 10 s bucket)', x: 'distinct flows', y: 'heap (MiB)', logX: true,
    series: [
      { name: 'aggregator (the bucket in memory)', points: pts((x) => (x.aggHeapPerFlow * x.flows) / 1048576) },
      { name: 'memory store (the bucket kept)', points: pts((x) => (x.memStoreHeapPerFlow * x.flows) / 1048576) },
      { name: 'SQLite store (flow ids)', points: pts((x) => (x.sqliteHeapPerFlow * x.flows) / 1048576) },
    ],
  });
  ctx.curve({
    title: 'Checkpoint of one bucket against flows', x: 'distinct flows in the bucket', y: 'seconds (10 s = the interval)', logX: true,
    series: [
      { name: 'SQLite, known flows (wall)', points: pts((x) => x.sqliteCheckpointS) },
      { name: 'SQLite, new flows (wall)', points: pts((x) => x.sqliteFirstCheckpointS) },
      { name: 'memory store (CPU)', points: pts((x) => x.memCheckpointS) },
    ],
  });
  ctx.curve({
    title: 'Aggregation rate against flows', x: 'distinct flows', y: 'events per CPU-second', logX: true,
    series: [
      { name: 'into known flows', points: pts((x) => x.addExistingPerS) },
      { name: 'new flows', points: pts((x) => x.addNewPerS) },
    ],
  });
  const aggB = slope(pts((x) => x.aggHeapPerFlow * x.flows));
  const memB = slope(pts((x) => x.memStoreHeapPerFlow * x.flows));
  const sqlB = slope(pts((x) => x.sqliteHeapPerFlow * x.flows));
  const fileB = r[r.length - 1]!.sqliteFileBytesPerRow;
  const ckpt = crossing(pts((x) => x.sqliteCheckpointS), CHECKPOINT_S);
  const big = r[r.length - 1]!;
  // the SQLite collector holds the open bucket(s) in the aggregator and every flow's id
  const memFlowsSqlite = BUDGET / (aggB + sqlB);
  // the memory-only collector keeps every bucket of its retention: a flow active in all of them
  const memFlowsMemory = BUDGET / (aggB + MEMORY_RETENTION_BUCKETS * memB);
  const limit = Math.min(ckpt.at, memFlowsSqlite);
  const which = ckpt.at <= memFlowsSqlite ? `the ${CHECKPOINT_S} s checkpoint into SQLite` : 'the 2 GiB heap budget';
  ctx.log(`scaling: one collector (SQLite) keeps up to ~${Math.round(limit)} flows a 10 s bucket: ${which} comes first (checkpoint at ~${Math.round(ckpt.at)}${ckpt.measured ? '' : ', extrapolated'}, heap at ~${Math.round(memFlowsSqlite)})`);
  return [
    { bench: B, figure: 'heap per flow, aggregator (slope)', value: aggB, unit: 'bytes' },
    { bench: B, figure: 'heap per flow-bucket, memory store (slope)', value: memB, unit: 'bytes' },
    { bench: B, figure: 'heap per flow, SQLite store (flow id cache, slope)', value: sqlB, unit: 'bytes' },
    { bench: B, figure: 'SQLite file per flow-bucket', value: fileB, unit: 'bytes' },
    { bench: B, figure: `aggregator.add into known flows, ${big.flows} flows`, value: big.addExistingPerS, unit: 'events/CPU-s', peer: `${r[0]!.flows} flows`, peerValue: r[0]!.addExistingPerS, ratio: big.addExistingPerS / r[0]!.addExistingPerS },
    { bench: B, figure: `aggregator.add of new flows, ${big.flows} flows`, value: big.addNewPerS, unit: 'events/CPU-s', peer: `${r[0]!.flows} flows`, peerValue: r[0]!.addNewPerS, ratio: big.addNewPerS / r[0]!.addNewPerS },
    { bench: B, figure: `SQLite checkpoint of ${big.flows} known flows (wall; CPU ${big.sqliteCheckpointCpuS.toFixed(2)} s)`, value: big.sqliteCheckpointS, unit: 's', peer: 'the checkpoint interval', peerValue: CHECKPOINT_S, ratio: big.sqliteCheckpointS / CHECKPOINT_S, bar: `<= ${CHECKPOINT_S} s`, met: big.sqliteCheckpointS <= CHECKPOINT_S },
    { bench: B, figure: `flows a bucket where the SQLite checkpoint takes ${CHECKPOINT_S} s${ckpt.measured ? '' : ' (extrapolated)'}`, value: ckpt.at, unit: 'flows' },
    { bench: B, figure: 'flows where the heap passes 2 GiB (SQLite collector: aggregator + flow ids)', value: memFlowsSqlite, unit: 'flows' },
    { bench: B, figure: `flows where the heap passes 2 GiB (memory-only collector, a flow in all ${MEMORY_RETENTION_BUCKETS} buckets of 2 h)`, value: memFlowsMemory, unit: 'flows' },
    { bench: B, figure: `one collector keeps up to (first limit: ${which})`, value: limit, unit: 'flows/bucket' },
  ];
}

async function podRows(ctx: BenchContext): Promise<BenchRow[]> {
  const sizes = ctx.quick ? [1_000, 5_000, 10_000] : [1_000, 10_000, 50_000];
  const res = sizes.map((n) => ({ n, ...podScaling(n, ctx.quick ? 200_000 : 1_000_000) }));
  for (const x of res) ctx.log(`scaling: ${x.n} pods: heap ${x.heapMiB.toFixed(1)} MiB (${x.heapPerPod.toFixed(0)} B a pod), resolve ${x.resolveNs.toFixed(0)} ns, loaded in ${x.loadS.toFixed(1)} s`);
  ctx.curve({ title: 'Cluster index heap against pods', x: 'pods (+1 Service and Deployment per 10)', y: 'heap (MiB)', logX: true, series: [{ name: 'ClusterIndex', points: res.map((x) => [x.n, x.heapMiB]) }] });
  ctx.curve({ title: 'Naming a pod IP against pods', x: 'pods', y: 'ns a resolve', logX: true, series: [{ name: 'ClusterIndex.resolve, now', points: res.map((x) => [x.n, x.resolveNs]) }] });
  const perPod = slope(res.map((x) => [x.n, x.heapMiB * 1048576]));
  const big = res[res.length - 1]!;
  return [
    { bench: B, figure: 'heap per pod, cluster index (slope)', value: perPod, unit: 'bytes' },
    { bench: B, figure: `resolve a pod IP, ${big.n} pods`, value: big.resolveNs, unit: 'ns', peer: `${res[0]!.n} pods`, peerValue: res[0]!.resolveNs, ratio: big.resolveNs / res[0]!.resolveNs },
    { bench: B, figure: 'pods where the cluster index passes 2 GiB', value: BUDGET / perPod, unit: 'pods' },
  ];
}

async function agentRows(ctx: BenchContext): Promise<BenchRow[]> {
  const regSizes = [1, 10, 100, 500];
  const reg = regSizes.map((n) => [n, registryBytesPerAgent(n)] as [number, number]);
  const streams = await streamScaling(ctx.quick ? [1, 10, 50] : [1, 10, 100, 500], ctx.log);
  const base = streams[0]!;
  const pts = streams.slice(1);
  ctx.curve({
    title: 'Collector memory against connected agents', x: 'agents (gRPC streams)', y: 'MiB above no agent', logX: true,
    series: [
      { name: 'heap, real streams', points: pts.map((p) => [p.agents, p.heapMiB - base.heapMiB]) },
      { name: 'RSS, real streams', points: pts.map((p) => [p.agents, p.rssMiB - base.rssMiB]) },
      { name: 'AgentRegistry alone (heap)', points: reg.map(([n, b]) => [n, (n * b) / 1048576]) },
    ],
  });
  const heapPer = slope(pts.map((p) => [p.agents, (p.heapMiB - base.heapMiB) * 1048576]));
  const rssPer = slope(pts.map((p) => [p.agents, (p.rssMiB - base.rssMiB) * 1048576]));
  const regPer = slope(reg.map(([n, b]) => [n, n * b]));
  const big = pts[pts.length - 1]!;
  return [
    { bench: B, figure: 'heap per agent, AgentRegistry alone (slope)', value: regPer, unit: 'bytes' },
    { bench: B, figure: 'heap per agent, real gRPC stream (slope)', value: heapPer, unit: 'bytes', peer: 'registry alone', peerValue: regPer, ratio: heapPer / regPer },
    { bench: B, figure: 'RSS per agent, real gRPC stream (slope)', value: rssPer, unit: 'bytes' },
    { bench: B, figure: `collector RSS with ${big.agents} agents`, value: big.rssMiB, unit: 'MiB', peer: 'no agent', peerValue: base.rssMiB, ratio: big.rssMiB / base.rssMiB },
    { bench: B, figure: 'agents where streams alone pass 2 GiB of heap', value: BUDGET / Math.max(1, heapPer), unit: 'agents' },
  ];
}

export async function benchScaling(ctx: BenchContext): Promise<BenchRow[]> {
  return [...(await flowRows(ctx)), ...(await podRows(ctx)), ...(await agentRows(ctx))];
}

export const suite: BenchSuite = { name: 'scaling', order: 55, run: benchScaling };
