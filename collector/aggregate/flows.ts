// FlowAggregator: per-flow sums in time buckets (default 10 s). A flow is one local
// endpoint (node, pod, address) talking to one remote endpoint on one service port in one
// direction; the ephemeral port is aggregated away. Recent buckets live in memory; a
// checkpoint moves them into the RollupStore. Queries over a window merge the buckets of
// both that overlap it (resolution: one bucket).
import { Direction } from '../../common/tcp';
import type { Endpoint } from '../../gen/tcpscope/v1/query';
import type { ResolvedEvent } from '../events';
import type { FlowFilter, RollupRow, RollupStore } from '../store/rollup-store';
import { durationBucketMid } from '../../common/duration-bucket';
import { FlowKeys } from './flow-key';
import { LogHistogram } from './histogram';

export interface FlowAgg {
  key: string;
  local: Endpoint;
  remote: Endpoint;
  servicePort: number;
  direction: Direction;
  sessions: number;
  failedConnects: number;
  txBytes: number;
  rxBytes: number;
  retransSegs: number;       // total_retrans of the sessions that closed
  retransmitEvents: number;
  retransEventSegs: number;  // segments carried by the retransmit events (as they happen)
  byState: Map<number, number>;
  durationsUs: LogHistogram;
  srttSumUs: number;
  srttCount: number;
  firstUs: number;
  lastUs: number;
}

/** durationBucketMid of every bucket the ingest edge lets through (0-260), looked up per flow record. */
const BUCKET_MID = Array.from({ length: 261 }, (_, b) => durationBucketMid(b));

/** The server side's port: the remote port for outbound, the local one for inbound; unknown direction: the lower port. */
export function servicePort(direction: Direction, lport: number, rport: number): number {
  if (direction === Direction.DIRECTION_OUTBOUND) return rport;
  if (direction === Direction.DIRECTION_INBOUND) return lport;
  return Math.min(lport, rport);
}

function newAgg(key: string, local: Endpoint, remote: Endpoint, svc: number, direction: Direction, tUs: number): FlowAgg {
  return {
    key, local, remote, servicePort: svc, direction, sessions: 0, failedConnects: 0, txBytes: 0, rxBytes: 0,
    retransSegs: 0, retransmitEvents: 0, retransEventSegs: 0, byState: new Map(), durationsUs: new LogHistogram(),
    srttSumUs: 0, srttCount: 0, firstUs: tUs, lastUs: tUs,
  };
}

export function mergeAgg(into: FlowAgg, o: FlowAgg): void {
  into.sessions += o.sessions;
  into.failedConnects += o.failedConnects;
  into.txBytes += o.txBytes;
  into.rxBytes += o.rxBytes;
  into.retransSegs += o.retransSegs;
  into.retransmitEvents += o.retransmitEvents;
  into.retransEventSegs += o.retransEventSegs;
  for (const [s, c] of o.byState) into.byState.set(s, (into.byState.get(s) ?? 0) + c);
  into.durationsUs.merge(o.durationsUs);
  into.srttSumUs += o.srttSumUs;
  into.srttCount += o.srttCount;
  into.firstUs = Math.min(into.firstUs, o.firstUs);
  into.lastUs = Math.max(into.lastUs, o.lastUs);
}

export function matchesFilter(a: FlowAgg, f: FlowFilter): boolean {
  const isPod = (e: Endpoint) => f.pod !== undefined && e.namespace === f.pod.namespace && e.pod === f.pod.name;
  if (f.pod && !isPod(a.local) && !isPod(a.remote)) return false;
  if (f.namespace && a.local.namespace !== f.namespace && a.remote.namespace !== f.namespace) return false;
  if (f.localNamespace && a.local.namespace !== f.localNamespace) return false;
  return true;
}

export function cloneAgg(a: FlowAgg): FlowAgg {
  const c = newAgg(a.key, a.local, a.remote, a.servicePort, a.direction, a.firstUs);
  mergeAgg(c, a);
  return c;
}

export class FlowAggregator {
  private buckets = new Map<number, Map<string, FlowAgg>>();
  private lastStart = NaN;
  private lastBucket: Map<string, FlowAgg> | undefined;
  private readonly keys = new FlowKeys();
  private readonly bucketUs: number;

  constructor(bucketSeconds: number, readonly store: RollupStore) {
    this.bucketUs = bucketSeconds * 1e6;
  }

  add(re: ResolvedEvent): void {
    const { ev, local: l, remote: r } = re;
    // a flow record carries the service port on its side and 0 on the other
    const svc = ev.type === 'flow' ? ev.lport || ev.rport : servicePort(ev.direction, ev.lport, ev.rport);
    const lport = ev.type === 'flow' ? ev.lport : svc === ev.lport && ev.direction !== Direction.DIRECTION_OUTBOUND ? ev.lport : 0;
    const key = this.keys.key(ev.node, l, r, svc, ev.direction);
    const start = Math.floor(ev.timeUs / this.bucketUs) * this.bucketUs;
    // events come in time order, mostly within one bucket: skip the lookup of the bucket then
    let bucket = start === this.lastStart ? this.lastBucket : this.buckets.get(start);
    if (!bucket) {
      bucket = new Map();
      this.buckets.set(start, bucket);
    }
    this.lastStart = start;
    this.lastBucket = bucket;
    let a = bucket.get(key);
    if (!a) {
      // the flow's two ends, with the ephemeral port aggregated away: made once per flow and bucket
      const local: Endpoint = { ...l, port: lport };
      const remote: Endpoint = { ...r, port: lport === 0 ? ev.rport : 0 };
      a = newAgg(key, local, remote, svc, ev.direction, ev.timeUs);
      bucket.set(key, a);
    }
    if (ev.timeUs < a.firstUs) a.firstUs = ev.timeUs;
    if (ev.timeUs > a.lastUs) a.lastUs = ev.timeUs;
    if (ev.type === 'life') {
      if (ev.failedConnect) a.failedConnects++;
      else {
        a.sessions++;
        if (!ev.bornBeforeTrace) a.durationsUs.add(ev.durationUs);
      }
      a.txBytes += ev.txBytes;
      a.rxBytes += ev.rxBytes;
      a.retransSegs += ev.retransSegs;
      if (ev.srttUs > 0) {
        a.srttSumUs += ev.srttUs;
        a.srttCount++;
      }
    } else if (ev.type === 'flow') {
      a.sessions += ev.sessions;
      a.failedConnects += ev.failedConnects;
      for (const [b, n] of ev.durations) a.durationsUs.add(BUCKET_MID[b] ?? durationBucketMid(b), n);
      a.txBytes += ev.txBytes;
      a.rxBytes += ev.rxBytes;
      a.retransSegs += ev.retransSegs;
      if (ev.srttSumUs > 0) {
        a.srttSumUs += ev.srttSumUs;
        a.srttCount += ev.sessions;
      }
      for (const t of ev.retransmits) {
        a.retransmitEvents += t.events;
        a.retransEventSegs += t.segs;
        a.byState.set(t.state, (a.byState.get(t.state) ?? 0) + t.events);
      }
    } else {
      a.retransmitEvents++;
      a.retransEventSegs += ev.segs;
      a.byState.set(ev.state, (a.byState.get(ev.state) ?? 0) + 1);
    }
  }

  /** Flows with activity in [sinceUs, untilUs), from memory and store, merged over buckets. */
  query(sinceUs: number, untilUs: number, filter?: FlowFilter): FlowAgg[] {
    const out = new Map<string, FlowAgg>();
    for (const a of this.store.query(sinceUs, untilUs, filter)) out.set(a.key, a);
    for (const [start, bucket] of this.buckets) {
      if (start + this.bucketUs <= sinceUs || start >= untilUs) continue;
      for (const a of bucket.values()) {
        if (filter && !matchesFilter(a, filter)) continue;
        const m = out.get(a.key);
        if (m) mergeAgg(m, a);
        else out.set(a.key, cloneAgg(a));
      }
    }
    return [...out.values()];
  }

  /** Moves every in-memory bucket into the store, with the delivery watermarks, in one commit. */
  checkpoint(watermarks: Map<string, number>): number {
    const rows: RollupRow[] = [];
    for (const [bucketStartUs, bucket] of this.buckets) for (const agg of bucket.values()) rows.push({ bucketStartUs, agg });
    this.store.commit(rows, watermarks);
    this.buckets = new Map();
    this.lastStart = NaN;
    this.lastBucket = undefined;
    this.keys.clear(); // learnt again from the flows still active
    return rows.length;
  }

  /** Flow keys in memory and in the store over the last hour (for status). */
  flowCount(nowUs = Date.now() * 1000): number {
    return this.query(nowUs - 3600e6, nowUs + 1).length;
  }
}
