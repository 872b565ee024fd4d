// FlowAggregator: per-flow sums in time buckets (default 10 s). A flow is one local
// endpoint (node, pod, address) talking to one remote endpoint on one service port in one
// direction; the ephemeral port is aggregated away. Queries over a window merge the
// buckets that overlap it (resolution: one bucket).
import { Direction } from '../../common/tcp';
import type { Endpoint } from '../../gen/tcpscope/v1/query';
import type { ResolvedEvent } from '../events';
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
  retransSegs: number;
  retransmitEvents: number;
  byState: Map<number, number>;
  durationsUs: LogHistogram;
  srttSumUs: number;
  srttCount: number;
  firstUs: number;
  lastUs: number;
}

/** The server side's port: the remote port for outbound, the local one for inbound; unknown direction: the lower port. */
export function servicePort(direction: Direction, lport: number, rport: number): number {
  if (direction === Direction.DIRECTION_OUTBOUND) return rport;
  if (direction === Direction.DIRECTION_INBOUND) return lport;
  return Math.min(lport, rport);
}

function newAgg(key: string, local: Endpoint, remote: Endpoint, svc: number, direction: Direction, tUs: number): FlowAgg {
  return {
    key, local, remote, servicePort: svc, direction, sessions: 0, failedConnects: 0, txBytes: 0, rxBytes: 0,
    retransSegs: 0, retransmitEvents: 0, byState: new Map(), durationsUs: new LogHistogram(),
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
  for (const [s, c] of o.byState) into.byState.set(s, (into.byState.get(s) ?? 0) + c);
  into.durationsUs.merge(o.durationsUs);
  into.srttSumUs += o.srttSumUs;
  into.srttCount += o.srttCount;
  into.firstUs = Math.min(into.firstUs, o.firstUs);
  into.lastUs = Math.max(into.lastUs, o.lastUs);
}

function cloneAgg(a: FlowAgg): FlowAgg {
  const c = newAgg(a.key, a.local, a.remote, a.servicePort, a.direction, a.firstUs);
  mergeAgg(c, a);
  return c;
}

export class FlowAggregator {
  private readonly buckets = new Map<number, Map<string, FlowAgg>>();
  private readonly bucketUs: number;

  constructor(bucketSeconds: number, private readonly retentionUs: number) {
    this.bucketUs = bucketSeconds * 1e6;
  }

  add(re: ResolvedEvent): void {
    const { ev } = re;
    const svc = servicePort(ev.direction, ev.lport, ev.rport);
    const local: Endpoint = { ...re.local, port: svc === ev.lport && ev.direction !== Direction.DIRECTION_OUTBOUND ? ev.lport : 0 };
    const remote: Endpoint = { ...re.remote, port: local.port === 0 ? ev.rport : 0 };
    const key = `${ev.node}\0${local.addr}\0${local.namespace}/${local.pod}/${local.container}\0${remote.addr}\0${remote.kind}:${remote.namespace}/${remote.pod}${remote.workload}\0${svc}\0${ev.direction}`;
    const start = Math.floor(ev.timeUs / this.bucketUs) * this.bucketUs;
    let bucket = this.buckets.get(start);
    if (!bucket) {
      bucket = new Map();
      this.buckets.set(start, bucket);
    }
    let a = bucket.get(key);
    if (!a) {
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
    } else {
      a.retransmitEvents++;
      a.byState.set(ev.state, (a.byState.get(ev.state) ?? 0) + 1);
    }
  }

  /** Flows with activity in [sinceUs, untilUs), merged over buckets; optionally filtered. */
  query(sinceUs: number, untilUs: number, filter?: (a: FlowAgg) => boolean): FlowAgg[] {
    const out = new Map<string, FlowAgg>();
    for (const [start, bucket] of this.buckets) {
      if (start + this.bucketUs <= sinceUs || start >= untilUs) continue;
      for (const a of bucket.values()) {
        if (filter && !filter(a)) continue;
        const m = out.get(a.key);
        if (m) mergeAgg(m, a);
        else out.set(a.key, cloneAgg(a));
      }
    }
    return [...out.values()];
  }

  /** Drops buckets older than the retention. Returns how many buckets went. */
  prune(nowUs: number): number {
    let n = 0;
    for (const start of this.buckets.keys()) {
      if (start + this.bucketUs < nowUs - this.retentionUs) {
        this.buckets.delete(start);
        n++;
      }
    }
    return n;
  }

  flowCount(): number {
    const keys = new Set<string>();
    for (const b of this.buckets.values()) for (const k of b.keys()) keys.add(k);
    return keys.size;
  }
}
