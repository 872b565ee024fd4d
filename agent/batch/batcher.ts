// Batcher: turns records into wire batches (tcpscope.v1.Batch). Endpoints, pods and
// strings go into per-batch dictionaries and times are deltas, so an event costs a few
// varint bytes. A batch is flushed when it holds maxEvents events, or flushMs after its
// first event (at most every second), whichever comes first. Loss totals are not the
// batcher's: the sender stamps them on each batch as it goes out.
import { ipToBytes } from '../../common/addr';
import { AddressFamily, type Batch, type Endpoints, type FlowInterval, type PodRef, type RetransmitEvent, type SessionEvent } from '../../gen/tcpscope/v1/events';
import type { FlowSumRecord, RetransmitRecord, SessionRecord } from '../records';

export interface BatcherOptions {
  runId: string;
  nodeName: string;
  maxEvents: number;
  flushMs: number;
  onBatch: (batch: Batch) => void;
}

export class Batcher {
  private seq = 0;
  private cur!: Batch;
  private endpointIndex = new Map<string, number>();
  private stringIndex = new Map<string, number>();
  private podIndex = new Map<string, number>();
  private lastSessionNs = 0n;
  private lastRetransNs = 0n;
  private lastFlowNs = 0n;
  private baseNs = 0n;
  private events = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: BatcherOptions) {
    this.reset();
  }

  /** Sequence number of the last batch handed out (0 = none yet). */
  get lastSeq(): number {
    return this.seq;
  }

  /** detailOnly: a followed pod's session that the flow sums count already (shown, not aggregated). */
  addSession(r: SessionRecord, pod?: PodRef, detailOnly = false): void {
    const ns = this.timeNs(r.timeUs);
    const ev: SessionEvent = {
      endpoints: this.endpoint(r, pod),
      timeDeltaNs: Number(ns - (this.lastSessionNs || this.baseNs)),
      localPort: r.lport,
      remotePort: r.rport,
      txBytes: r.txBytes,
      rxBytes: r.rxBytes,
      durationUs: r.durationUs,
      retransSegs: r.retransSegs,
      pid: r.pid,
      comm: r.comm ? this.string(r.comm) : 0,
      direction: r.direction,
      failedConnect: r.failedConnect,
      srttUs: r.srttUs,
      bornBeforeTrace: r.bornBeforeTrace,
      detailOnly,
    };
    this.lastSessionNs = ns;
    this.cur.sessions.push(ev);
    this.added();
  }

  addRetransmit(r: RetransmitRecord, pod?: PodRef): void {
    const ns = this.timeNs(r.timeUs);
    const ev: RetransmitEvent = {
      endpoints: this.endpoint(r, pod),
      timeDeltaNs: Number(ns - (this.lastRetransNs || this.baseNs)),
      localPort: r.lport,
      remotePort: r.rport,
      state: r.state,
      caState: r.caState,
      direction: r.direction,
      segs: r.segs === 1 ? 0 : r.segs,
    };
    this.lastRetransNs = ns;
    this.cur.retransmits.push(ev);
    this.added();
  }

  /** One flow's in-kernel sums over one interval: counts as one event toward maxEvents. */
  addFlow(r: FlowSumRecord, pod?: PodRef): void {
    const ns = this.timeNs(r.timeUs);
    const buckets: number[] = [];
    for (const [b, n] of r.durations) buckets.push(b, n);
    const ev: FlowInterval = {
      endpoints: this.endpoint(r, pod),
      endDeltaNs: Number(ns - (this.lastFlowNs || this.baseNs)),
      intervalMs: Math.max(0, Math.round((r.timeUs - r.startUs) / 1000)),
      localPort: r.lport,
      remotePort: r.rport,
      direction: r.direction,
      sessions: r.sessions,
      failedConnects: r.failedConnects,
      txBytes: r.txBytes,
      rxBytes: r.rxBytes,
      retransSegs: r.retransSegs,
      srttSumUs: r.srttSumUs,
      durationBuckets: buckets,
      retransmits: r.retransmits,
    };
    this.lastFlowNs = ns;
    this.cur.flows.push(ev);
    this.added();
  }

  /** Hands the current batch out if it holds anything. */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.events === 0) return;
    this.handOut();
  }

  /** Hands out an event-less batch: carries loss totals when there is nothing else to send. */
  flushEmpty(): void {
    if (this.events === 0) this.handOut();
    else this.flush();
  }

  private handOut(): void {
    const b = this.cur;
    b.seq = ++this.seq;
    b.baseTimeUnixNs = this.baseNs.toString();
    this.reset();
    this.opts.onBatch(b);
  }

  stop(): void {
    this.flush();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private added(): void {
    this.events++;
    if (this.events >= this.opts.maxEvents) this.flush();
    else this.arm();
  }

  private arm(): void {
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.opts.flushMs);
      this.timer.unref?.();
    }
  }

  private timeNs(timeUs: number): bigint {
    const ns = BigInt(Math.round(timeUs)) * 1000n;
    if (this.baseNs === 0n) this.baseNs = ns;
    return ns;
  }

  private endpoint(r: SessionRecord | RetransmitRecord | FlowSumRecord, pod?: PodRef): number {
    const podIdx = pod ? this.pod(pod) : 0;
    const key = `${r.laddr}|${r.raddr}|${r.netnsInode}|${r.cgroupId}|${podIdx}`;
    let idx = this.endpointIndex.get(key);
    if (idx === undefined) {
      const e: Endpoints = {
        family: r.family === 6 ? AddressFamily.ADDRESS_FAMILY_INET6 : AddressFamily.ADDRESS_FAMILY_INET,
        localAddr: ipToBytes(r.laddr),
        remoteAddr: ipToBytes(r.raddr),
        netnsInode: r.netnsInode,
        cgroupId: r.cgroupId,
        localPod: podIdx,
      };
      idx = this.cur.endpoints.push(e) - 1;
      this.endpointIndex.set(key, idx);
    }
    return idx;
  }

  private pod(p: PodRef): number {
    const key = `${p.uid}|${p.container}`;
    let idx = this.podIndex.get(key);
    if (idx === undefined) {
      idx = this.cur.pods.push(p);
      this.podIndex.set(key, idx);
    }
    return idx;
  }

  private string(s: string): number {
    let idx = this.stringIndex.get(s);
    if (idx === undefined) {
      idx = this.cur.strings.push(s);
      this.stringIndex.set(s, idx);
    }
    return idx;
  }

  private reset(): void {
    this.cur = {
      runId: this.opts.runId, seq: 0, nodeName: this.opts.nodeName, baseTimeUnixNs: '0',
      endpoints: [], strings: [], pods: [], sessions: [], retransmits: [], flows: [], losses: [], counters: undefined,
    };
    this.endpointIndex.clear();
    this.stringIndex.clear();
    this.podIndex.clear();
    this.lastSessionNs = 0n;
    this.lastRetransNs = 0n;
    this.lastFlowNs = 0n;
    this.baseNs = 0n;
    this.events = 0;
  }
}
