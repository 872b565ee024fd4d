// The collector's cluster index at scale: 50k pods, 5k pod changes a minute (each a pod
// deleted and a new one created, IPs reused from a small free pool as real CNIs do),
// deleted pods kept for the 15-minute retention. Prints memory (heapUsed delta) and the
// cost of a change and of a lookup; `npm run bench -- --only=k8s-index [--quick]`.
// benchK8sIndex() gives the same figures as rows for bench/run.ts; loadIndex() and
// podScaling() are the loading and lookup steps alone, for the scaling suite's pod curve.
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { ClusterIndex } from '../../collector/k8s/cluster-index';
import { trimNode, trimOwner, trimPod, trimService } from '../../collector/k8s/trim';
import { node, pod, service, workload } from '../../test/kube-apiserver/fixtures';
import type { BenchContext, BenchRow, BenchSuite } from '../report';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function heap(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

const S = 1_000_000;

const ipOf = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

type LivePod = { raw: ReturnType<typeof trimPod>; ip: number };

export interface LoadedIndex {
  ix: ClusterIndex;
  live: LivePod[];
  /** Makes the next pod (trimmed as the watch does) with the address of ipIndex. */
  makePod(ipIndex: number): LivePod;
  clock: { us: number };
  nodes: number;
  /** heapUsed after GC before the index was built, and after its pods were loaded. */
  before: number;
  afterLoad: number;
}

/** A cluster of `pods` pods (1 Deployment and 1 Service per 10 pods, 100 pods a node, 200 namespaces) loaded into a ClusterIndex. */
export function loadIndex(PODS: number): LoadedIndex {
  const NODES = Math.max(10, PODS / 100);
  const NAMESPACES = 200;
  const clock = { us: 1_700_000_000 * S };
  const ix = new ClusterIndex({ retentionMs: 15 * 60_000, nowUs: () => clock.us });
  const before = heap();
  for (let n = 0; n < NODES; n++) ix.setNode(trimNode(node(`node-${n}`, [`192.168.${n >> 8}.${n & 255}`])), clock.us);
  for (let i = 0; i < PODS / 10; i++) {
    const ns = `ns-${i % NAMESPACES}`;
    ix.setOwner(trimOwner('ReplicaSet')(workload('ReplicaSet', `app-${i}-5d4f8b`, ns, { kind: 'Deployment', name: `app-${i}` })));
    ix.setService(trimService(service(`svc-${i}`, ns, [`172.16.${i >> 8}.${i & 255}`])), clock.us);
  }
  const live: LivePod[] = [];
  let serial = 0;
  const makePod = (ipIndex: number): LivePod => {
    const i = serial++;
    const d = i % (PODS / 10);
    const raw = pod({ name: `app-${d}-5d4f8b-${i.toString(36)}`, namespace: `ns-${d % NAMESPACES}`, node: `node-${i % NODES}`, ip: ipOf(ipIndex), owner: { kind: 'ReplicaSet', name: `app-${d}-5d4f8b` } });
    raw.metadata.creationTimestamp = new Date(clock.us / 1000).toISOString();
    return { raw: trimPod(raw), ip: ipIndex };
  };
  for (let i = 0; i < PODS; i++) {
    const p = makePod(i);
    ix.setPod(p.raw, clock.us);
    live.push(p);
  }
  ix.markSynced(clock.us);
  return { ix, live, makePod, clock, nodes: NODES, before, afterLoad: heap() };
}

/** Heap per pod and the CPU cost of naming a live pod's IP now, for `pods` pods (no churn). */
export function podScaling(pods: number, lookups: number): { heapMiB: number; heapPerPod: number; resolveNs: number; loadS: number } {
  const t0 = process.hrtime.bigint();
  const l = loadIndex(pods);
  const loadS = Number(process.hrtime.bigint() - t0) / 1e9;
  const addrs = Array.from({ length: 4096 }, (_, i) => ipOf(l.live[(i * 104729) % l.live.length]!.ip));
  let sink = 0;
  for (let i = 0; i < 10_000; i++) sink += l.ix.resolve(addrs[i & 4095]!, l.clock.us).kind.length; // warm-up
  // CPU time, not wall: on a shared machine wall time measured the neighbours
  const c0 = process.cpuUsage();
  for (let i = 0; i < lookups; i++) sink += l.ix.resolve(addrs[i & 4095]!, l.clock.us).kind.length;
  const c = process.cpuUsage(c0);
  const resolveNs = ((c.user + c.system) * 1000) / lookups;
  if (sink === 42) process.stderr.write('');
  return { heapMiB: (l.afterLoad - l.before) / 1048576, heapPerPod: (l.afterLoad - l.before) / pods, resolveNs, loadS };
}

export async function benchK8sIndex(ctx: BenchContext): Promise<BenchRow[]> {
  const PODS = ctx.quick ? 5_000 : 50_000;
  const CHANGES_PER_MIN = ctx.quick ? 500 : 5_000;
  const MINUTES = 15; // one retention period of churn
  const { ix, live, makePod, clock: clk, nodes: NODES, before, afterLoad } = loadIndex(PODS);
  let clock = clk.us;

  // churn: CHANGES_PER_MIN replacements a minute for MINUTES, freed IPs reused after a short while
  const free: number[] = [];
  let nextIp = PODS;
  const changes = CHANGES_PER_MIN * MINUTES;
  const step = (60 * S) / CHANGES_PER_MIN;
  // the new pods are built (and trimmed) first, so the timing is the index's alone
  const fresh: Array<ReturnType<typeof makePod>> = [];
  for (let c = 0; c < changes; c++) fresh.push(makePod(0));
  const t0 = process.hrtime.bigint();
  for (let c = 0; c < changes; c++) {
    clock += step;
    clk.us = clock;
    const k = (c * 7919) % live.length;
    const gone = live[k]!;
    ix.deletePod(gone.raw, clock);
    free.push(gone.ip);
    const ip = free.length > 64 ? free.shift()! : nextIp++;
    const p = fresh[c]!;
    p.ip = ip;
    p.raw.ips = [ipOf(ip)];
    p.raw.createdUs = clock;
    ix.setPod(p.raw, clock + step / 2);
    live[k] = p;
  }
  fresh.length = 0;
  const changeNs = Number(process.hrtime.bigint() - t0) / changes / 2;
  ix.prune(clock);
  const afterChurn = heap();
  const stats = ix.stats();

  // lookups: live pods now, pods at a random time in the retention window (late events), external
  const N = ctx.quick ? 200_000 : 2_000_000;
  const addrs = Array.from({ length: 4096 }, (_, i) => ipOf(live[(i * 104729) % live.length]!.ip));
  const times = Array.from({ length: 4096 }, (_, i) => clock - ((i * 7_654_321) % (14 * 60 * S)));
  let sink = 0;
  let t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) sink += ix.resolve(addrs[i & 4095]!, clock).kind.length;
  const nowNs = Number(process.hrtime.bigint() - t) / N;
  t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) sink += ix.resolve(addrs[i & 4095]!, times[i & 4095]!).kind.length;
  const pastNs = Number(process.hrtime.bigint() - t) / N;
  const ext = Array.from({ length: 4096 }, (_, i) => `203.0.${(i >> 8) & 255}.${i & 255}`);
  t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) sink += ix.resolve(ext[i & 4095]!, clock).kind.length;
  const extNs = Number(process.hrtime.bigint() - t) / N;
  const v6 = Array.from({ length: 4096 }, (_, i) => `2001:db8::${(i + 1).toString(16)}`);
  t = process.hrtime.bigint();
  for (let i = 0; i < N / 10; i++) sink += ix.resolve(v6[i & 4095]!, clock).kind.length;
  const v6Ns = Number(process.hrtime.bigint() - t) / (N / 10);
  if (sink === 42) ctx.log('');
  const c = ix.counters;
  ctx.log(`index: ${stats.pods} live pods, ${stats.deletedPods} deleted pods retained, ${stats.addresses} addresses, ${stats.services} services, ${stats.nodes} nodes, ${stats.owners} owners`);
  ctx.log(`past lookups: ${c.pod} pod, ${c.ambiguous} ambiguous, ${c.uncertain} uncertain, ${c.vacant} vacant, ${c.external} external`);
  const B = 'k8s-index';
  const perPod = (afterLoad - before) / PODS;
  return [
    { bench: B, figure: `heap for ${PODS} pods (+${PODS / 10} services, owners; ${NODES} nodes)`, value: (afterLoad - before) / 1048576, unit: 'MiB' },
    { bench: B, figure: 'heap per pod', value: perPod, unit: 'bytes' },
    { bench: B, figure: `heap after ${MINUTES} min of ${CHANGES_PER_MIN} changes/min (retention 15 min)`, value: (afterChurn - before) / 1048576, unit: 'MiB' },
    { bench: B, figure: 'deleted pods retained', value: stats.deletedPods, unit: 'pods' },
    { bench: B, figure: 'apply a pod change (delete or add)', value: changeNs, unit: 'ns' },
    { bench: B, figure: 'resolve a pod IP, now', value: nowNs, unit: 'ns' },
    { bench: B, figure: 'resolve a pod IP at a past time (late event)', value: pastNs, unit: 'ns' },
    { bench: B, figure: 'resolve an external IPv4', value: extNs, unit: 'ns' },
    { bench: B, figure: 'resolve an external IPv6', value: v6Ns, unit: 'ns' },
  ];
}

export const suite: BenchSuite = { name: 'k8s-index', order: 50, run: benchK8sIndex };
