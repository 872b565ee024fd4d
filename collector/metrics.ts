// The collector's Prometheus metrics, with bounded cardinality: workloads (never ephemeral
// ports or pod IPs) as labels, at most maxSeries label sets per metric (the rest counted
// under an "other" overflow set), and series removed once idle for idleMs (their pods gone).
import * as prom from 'prom-client';
import { tcpStateName } from '../common/tcp';
import type { Endpoint } from '../gen/tcpscope/v1/query';
import type { ResolvedEvent } from './events';

const OTHER = '_other';

/** A counter whose label sets are capped and expire when idle. */
export class BoundedCounter<L extends string> {
  private readonly counter: prom.Counter<L>;
  private readonly lastSeen = new Map<string, { labels: Record<L, string>; at: number }>();
  overflowed = 0;

  constructor(reg: prom.Registry, name: string, help: string, private readonly labelNames: L[], private readonly maxSeries: number) {
    this.counter = new prom.Counter({ name, help, labelNames, registers: [reg] });
  }

  inc(labels: Record<L, string>, n = 1, now = Date.now()): void {
    const key = this.labelNames.map((l) => labels[l]).join('\0');
    let entry = this.lastSeen.get(key);
    if (!entry) {
      if (this.lastSeen.size >= this.maxSeries) {
        this.overflowed += n;
        const other = Object.fromEntries(this.labelNames.map((l) => [l, OTHER])) as Record<L, string>;
        this.counter.inc(other, n);
        return;
      }
      entry = { labels, at: now };
      this.lastSeen.set(key, entry);
    }
    entry.at = now;
    this.counter.inc(labels, n);
  }

  /** Removes series not updated for idleMs. Returns how many went. */
  expire(idleMs: number, now = Date.now()): number {
    let n = 0;
    for (const [key, e] of this.lastSeen) {
      if (now - e.at > idleMs) {
        this.counter.remove(e.labels);
        this.lastSeen.delete(key);
        n++;
      }
    }
    return n;
  }

  get series(): number {
    return this.lastSeen.size;
  }
}

/** The workload an endpoint belongs to, as a label: namespace/Kind/name, or a kind of outside. */
export function workloadLabel(e: Endpoint): string {
  if (e.kind === 'pod') return e.workload ? `${e.namespace}/${e.workload}` : `${e.namespace}/Pod`;
  if (e.kind === 'service') return `${e.namespace}/${e.workload}`;
  if (e.kind === 'node' || e.kind === 'host') return 'node';
  return e.kind || 'unresolved';
}

export class CollectorMetrics {
  readonly retransmits: BoundedCounter<'src_workload' | 'dst_workload' | 'state'>;
  readonly sessions: BoundedCounter<'src_workload' | 'dst_workload'>;
  readonly failedConnects: BoundedCounter<'src_workload' | 'dst_workload'>;

  constructor(reg: prom.Registry, maxSeries: number, private readonly idleMs: number) {
    this.retransmits = new BoundedCounter(reg, 'tcpscope_retransmits_total', 'retransmitted segments seen (events), by workload pair and TCP state', ['src_workload', 'dst_workload', 'state'], maxSeries);
    this.sessions = new BoundedCounter(reg, 'tcpscope_sessions_total', 'closed TCP sessions, by workload pair', ['src_workload', 'dst_workload'], maxSeries);
    this.failedConnects = new BoundedCounter(reg, 'tcpscope_failed_connects_total', 'connects that went SYN_SENT -> CLOSE, by workload pair', ['src_workload', 'dst_workload'], maxSeries);
    const counters = { retransmits: this.retransmits, sessions: this.sessions, failed_connects: this.failedConnects };
    new prom.Gauge({
      name: 'tcpscope_metric_overflow', help: 'increments counted under the _other label set because the metric reached its series cap', labelNames: ['metric'], registers: [reg],
      collect() {
        for (const [name, c] of Object.entries(counters)) this.set({ metric: name }, c.overflowed);
      },
    });
  }

  /** Counts a batch's events: one increment per label set and batch (label hashing is not per event). */
  observeBatch(events: ResolvedEvent[], now = Date.now()): void {
    const sums = new Map<string, { kind: 0 | 1 | 2; src: string; dst: string; state: string; n: number }>();
    const count = (kind: 0 | 1 | 2, src: string, dst: string, state: string, n: number) => {
      if (n === 0) return;
      const key = `${kind}\0${src}\0${dst}\0${state}`;
      const cur = sums.get(key);
      if (cur) cur.n += n;
      else sums.set(key, { kind, src, dst, state, n });
    };
    for (const re of events) {
      const src = workloadLabel(re.local);
      const dst = workloadLabel(re.remote);
      const ev = re.ev;
      if (ev.type === 'retrans') count(0, src, dst, tcpStateName(ev.state), 1);
      else if (ev.type === 'life') count(ev.failedConnect ? 2 : 1, src, dst, '', 1);
      else {
        count(1, src, dst, '', ev.sessions);
        count(2, src, dst, '', ev.failedConnects);
        for (const t of ev.retransmits) count(0, src, dst, tcpStateName(t.state), t.events);
      }
    }
    for (const { kind, src, dst, state, n } of sums.values()) {
      if (kind === 0) this.retransmits.inc({ src_workload: src, dst_workload: dst, state }, n, now);
      else if (kind === 2) this.failedConnects.inc({ src_workload: src, dst_workload: dst }, n, now);
      else this.sessions.inc({ src_workload: src, dst_workload: dst }, n, now);
    }
  }

  expire(now = Date.now()): void {
    for (const c of [this.retransmits, this.sessions, this.failedConnects]) c.expire(this.idleMs, now);
  }
}
