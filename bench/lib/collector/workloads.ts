// Realistic agent traffic for the collector benchmarks, made by the agent's own Batcher so
// the bytes are what agents send: per-session events (--sessions events, followed pods),
// flow-interval records (the always-on path: in-kernel sums per flow and 1 s interval) and
// a mix of both. Seeded, so wire sizes are the same in every run.
import { Batcher } from '../../../agent/batch/batcher';
import type { FlowSumRecord, RetransmitRecord, SessionRecord } from '../../../agent/records';
import { durationBucket } from '../../../common/duration-bucket';
import { Direction, TcpState } from '../../../common/tcp';
import { Batch, type PodRef } from '../../../gen/tcpscope/v1/events';

export type Mix = 'sessions' | 'flows' | 'mixed';
export const MIXES: Mix[] = ['sessions', 'flows', 'mixed'];

export const MIX_WORDS: Record<Mix, string> = {
  sessions: 'per-session events',
  flows: 'flow-interval records',
  mixed: 'flows + 10 followed pods',
};

export interface Workload {
  mix: Mix;
  /** Encoded tcpscope.v1.Batch messages, as the agent's Batcher made them. */
  batches: Uint8Array[];
  /** Wire records: session events + retransmit events + flow-interval records. */
  records: number;
  sessionEvents: number;
  retransmitEvents: number;
  flowRecords: number;
  /** Sessions and failed connects the records stand for (one by one or summed in flow records). */
  sessions: number;
  /** Sessions + retransmits represented: the "events" of the >= 1M events/s bar. */
  represented: number;
}

/** A small seeded PRNG (mulberry32): the same traffic in every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PODS = 200;
const SERVICES = 50;
const podAddr = (pod: number) => `10.0.${pod >> 8}.${pod & 255}`;
/** The agent attributes every socket to its local pod (Kubernetes on): 200 pods of 20 Deployments in 5 namespaces. */
const POD_REFS: PodRef[] = Array.from({ length: PODS }, (_, p) => ({
  uid: `3f0c${String(p).padStart(4, '0')}-6c1e-4d8a-9b7e-2a5d9c1f${String(p).padStart(4, '0')}`,
  namespace: `team-${p % 5}`, name: `app-${p % 20}-7d9f8c6b5-${String(p).padStart(5, 'x')}`, container: 'app',
  workloadKind: 'ReplicaSet', workloadName: `app-${p % 20}-7d9f8c6b5`, hostNetwork: false,
}));
const svcAddr = (svc: number) => `10.96.0.${svc}`;

function count(batches: Uint8Array[], mix: Mix): Workload {
  const w: Workload = { mix, batches, records: 0, sessionEvents: 0, retransmitEvents: 0, flowRecords: 0, sessions: 0, represented: 0 };
  for (const bytes of batches) {
    const b = Batch.decode(bytes);
    w.sessionEvents += b.sessions.length;
    w.retransmitEvents += b.retransmits.length;
    w.flowRecords += b.flows.length;
    const own = b.sessions.filter((x) => !x.detailOnly).length; // detail-only: counted in a flow record
    w.sessions += own;
    w.represented += own + b.retransmits.length;
    for (const f of b.flows) {
      w.sessions += f.sessions + f.failedConnects;
      w.represented += f.sessions + f.failedConnects + f.retransmits.reduce((n, t) => n + t.events, 0);
    }
  }
  w.records = w.sessionEvents + w.retransmitEvents + w.flowRecords;
  return w;
}

function batcher(perBatch: number, out: Uint8Array[]): Batcher {
  return new Batcher({ runId: 'bench', nodeName: 'node-1', maxEvents: perBatch, flushMs: 1000, onBatch: (x) => out.push(Batch.encode(x).finish()) });
}

function session(rnd: () => number, i: number, t: number, port: number, pod: number, svc: number): SessionRecord {
  return {
    kind: 'session', timeUs: t, family: 4, laddr: podAddr(pod), lport: port, raddr: svcAddr(svc), rport: 8080,
    txBytes: 200 + Math.floor(rnd() * 2000), rxBytes: 1000 + Math.floor(rnd() * 60000), durationUs: 500 + Math.floor(rnd() * 20000),
    retransSegs: i % 50 === 0 ? 1 : 0, pid: 1000 + pod, comm: 'app', netnsInode: 4026532000 + pod, cgroupId: 9000 + pod,
    direction: Direction.DIRECTION_OUTBOUND, failedConnect: i % 500 === 0, srttUs: 50 + (i % 100), bornBeforeTrace: false,
  };
}

function retransmit(t: number, port: number, pod: number, svc: number): RetransmitRecord {
  return {
    kind: 'retransmit', timeUs: t, family: 4, laddr: podAddr(pod), lport: port, raddr: svcAddr(svc), rport: 8080,
    state: TcpState.TCP_STATE_ESTABLISHED, caState: 4, netnsInode: 4026532000 + pod, cgroupId: 9000 + pod,
    direction: Direction.DIRECTION_OUTBOUND, pid: 0, segs: 1,
  };
}

/**
 * Per-session events: 200 local pods talking to 50 services, ephemeral ports, up to 400 µs
 * between closes, ~1 retransmit per 50 sessions, 1 failed connect per 500.
 */
export function sessionBatches(count_: number, perBatch: number, seed = 1): Workload {
  const out: Uint8Array[] = [];
  const rnd = prng(seed);
  let t = Date.now() * 1000 - 3600e6;
  let port = 32768;
  let i = 0;
  const b = batcher(perBatch, out);
  while (out.length < count_) {
    i++;
    t += Math.floor(rnd() * 400);
    port = port >= 60999 ? 32768 : port + 1;
    const pod = i % PODS;
    const svc = (i * 7) % SERVICES;
    if (i % 50 === 0) b.addRetransmit(retransmit(t, port, pod, svc), POD_REFS[pod]);
    b.addSession(session(rnd, i, t, port, pod, svc), POD_REFS[pod]);
  }
  return count(out.slice(0, count_), 'sessions');
}

/**
 * What the always-on agent sends: every second, one record per active flow (200 pods x 50
 * services, each pair active in an interval with probability 1/2, 1-9 sessions each, 1-3
 * duration buckets), a few retransmit events per interval (~10) and, rarely, a flow whose
 * retransmits went past the per-interval limit (a kernel tally). The sessions of `followed`
 * pods (someone runs observe --pod ... --follow) also go out one by one as detail-only events,
 * as in the mixed workload.
 */
export function flowBatches(count_: number, perBatch: number, opts: { followed?: number; seed?: number } = {}): Workload {
  const out: Uint8Array[] = [];
  const rnd = prng(opts.seed ?? 2);
  const followed = opts.followed ?? 0;
  let end = Math.floor(Date.now() / 1000) * 1e6 - 3600e6;
  let port = 32768;
  let i = 0;
  const b = batcher(perBatch, out);
  while (out.length < count_) {
    const start = end;
    end += 1e6;
    const sessionsOneByOne: SessionRecord[] = [];
    const retransmits: RetransmitRecord[] = [];
    const flows: FlowSumRecord[] = [];
    for (let pod = 0; pod < PODS; pod++) {
      for (let svc = 0; svc < SERVICES; svc++) {
        if (rnd() < 0.5) continue;
        const n = 1 + Math.floor(rnd() * 9);
        if (pod < followed) {
          for (let k = 0; k < n; k++) {
            i++;
            port = port >= 60999 ? 32768 : port + 1;
            sessionsOneByOne.push(session(rnd, i, start + Math.floor(rnd() * 1e6), port, pod, svc));
          }
        }
        const failed = rnd() < 0.02 ? 1 : 0;
        const durations = new Map<number, number>();
        let left = n;
        while (left > 0) {
          const k = Math.min(left, 1 + Math.floor(rnd() * 4));
          const bk = durationBucket(500 + Math.floor(rnd() * 20000));
          durations.set(bk, (durations.get(bk) ?? 0) + k);
          left -= k;
        }
        const r: FlowSumRecord = {
          kind: 'flow-sum', timeUs: end, startUs: start, family: 4, laddr: podAddr(pod), lport: 0, raddr: svcAddr(svc), rport: 8080,
          netnsInode: 4026532000 + pod, cgroupId: 9000 + pod, direction: Direction.DIRECTION_OUTBOUND,
          sessions: n, failedConnects: failed, txBytes: n * (200 + Math.floor(rnd() * 2000)), rxBytes: n * (1000 + Math.floor(rnd() * 60000)),
          retransSegs: rnd() < 0.02 ? 1 : 0, srttSumUs: n * (50 + Math.floor(rnd() * 100)), durations,
          retransmits: rnd() < 0.001 ? [{ state: TcpState.TCP_STATE_ESTABLISHED, events: 20 + Math.floor(rnd() * 100), segs: 40 }] : [],
        };
        flows.push(r);
        if (rnd() < 0.002) retransmits.push(retransmit(start + Math.floor(rnd() * 1e6), 32768 + Math.floor(rnd() * 28000), pod, svc));
      }
    }
    // per-session and retransmit events arrive through the interval, before its flow records print
    sessionsOneByOne.sort((x, y) => x.timeUs - y.timeUs);
    for (const s of sessionsOneByOne) b.addSession(s, POD_REFS[s.cgroupId - 9000], true);
    retransmits.sort((x, y) => x.timeUs - y.timeUs);
    for (const r of retransmits) b.addRetransmit(r, POD_REFS[r.cgroupId - 9000]);
    for (const f of flows) b.addFlow(f, POD_REFS[f.cgroupId - 9000]);
    b.flush(); // the batch timer (flushMs = the interval) fires about once per interval
  }
  return count(out.slice(0, count_), followed ? 'mixed' : 'flows');
}

/** The workload of a mix: about `records` wire records in batches of at most perBatch. */
export function workload(mix: Mix, records: number, perBatch = 4096): Workload {
  if (mix === 'sessions') return sessionBatches(Math.max(1, Math.round(records / perBatch)), perBatch);
  // an interval holds ~5000 flow records (two batches: 4096 + the rest)
  const perInterval = 5000;
  const batches = Math.max(2, Math.round(records / perInterval) * 2);
  return mix === 'flows' ? flowBatches(batches, perBatch) : flowBatches(batches, perBatch, { followed: 10 });
}
