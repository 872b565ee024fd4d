// PodFollower: per-session detail for the pods someone follows (observe --pod NS/NAME
// --follow). The always-on program sums sessions per flow in the kernel; while a follow
// lease runs, one more bpftrace process prints each session of the followed pods' sockets
// (filtered in the kernel by their cgroup ids, else their network namespaces), so the cost
// per session applies to those pods only. The sessions go out marked detail-only: the flow
// sums count them already.
import type { Logger } from '../../common/log';
import type { ProgramOptions } from '../bpftrace/program';
import type { CgroupMap } from '../attribute/cgroup-map';
import type { NetnsMap } from '../attribute/netns-map';
import type { LocalPodIndex } from '../k8s/local-pod-index';
import type { SessionRecord, TraceRecord } from '../records';

/** The per-session program's process (a BpftraceRunner; a stand-in in tests). */
export interface FollowRunner {
  onRecord(fn: (r: TraceRecord) => void): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface PodFollowerOptions {
  index: LocalPodIndex;
  cgroups?: CgroupMap;
  netns: NetnsMap;
  log: Logger;
  makeRunner(program: ProgramOptions): FollowRunner;
  /** Longest lease granted, whatever is asked (ms). */
  maxLeaseMs?: number;
  /** At most this many pods followed at once (the rest is refused and logged). */
  maxPods?: number;
}

interface Lease {
  uid: string;
  untilMs: number;
}

export class PodFollower {
  private readonly leases = new Map<string, Lease>();   // "ns/name" -> lease
  private runner: FollowRunner | undefined;
  private filterKey = '';
  private pending: Promise<void> = Promise.resolve();
  private listener: (r: SessionRecord) => void = () => undefined;
  private readonly timer: NodeJS.Timeout;
  /** Sessions reported for followed pods, and follow requests refused (pod limit). */
  readonly counters = { sessions: 0, refused: 0, programStarts: 0 };

  constructor(private readonly o: PodFollowerOptions) {
    this.timer = setInterval(() => this.expire(), 1000);
    this.timer.unref();
  }

  /** A follow request from the collector: starts, renews (lease > 0) or ends (0) a pod's lease. */
  request(namespace: string, name: string, leaseMs: number, nowMs = Date.now()): void {
    const key = `${namespace}/${name}`;
    if (leaseMs <= 0) {
      if (this.leases.delete(key)) {
        this.o.log.info({ pod: key }, 'nobody follows the pod any more: per-session events off');
        this.update();
      }
      return;
    }
    const pod = this.o.index.pods().find((p) => p.namespace === namespace && p.name === name && p.deletedUs === undefined);
    if (!pod) return; // not on this node
    if (!this.leases.has(key) && this.leases.size >= (this.o.maxPods ?? 8)) {
      this.counters.refused++;
      this.o.log.warn({ pod: key, followed: this.leases.size }, 'not following one more pod: at the limit of followed pods');
      return;
    }
    const isNew = !this.leases.has(key);
    this.leases.set(key, { uid: pod.uid, untilMs: nowMs + Math.min(leaseMs, this.o.maxLeaseMs ?? 60_000) });
    if (isNew) this.o.log.info({ pod: key }, 'following pod: per-session events on');
    this.update();
  }

  /** Where the followed pods' sessions go (the agent's batcher). */
  onSession(fn: (r: SessionRecord) => void): void {
    this.listener = fn;
  }

  /** Pods followed now. */
  get followed(): string[] {
    return [...this.leases.keys()];
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.leases.clear();
    await this.update();
  }

  private expire(nowMs = Date.now()): void {
    let changed = false;
    for (const [key, l] of this.leases) {
      if (l.untilMs <= nowMs) {
        this.leases.delete(key);
        this.o.log.info({ pod: key }, 'follow lease ended: per-session events off');
        changed = true;
      }
    }
    // a container restart makes a new cgroup: the filter follows it
    if (changed || this.leases.size) this.update();
  }

  /** The sockets to trace: the followed pods' cgroup ids, or their network namespaces. */
  private filter(): Pick<ProgramOptions, 'cgroupIds' | 'netnsInodes'> {
    const cgroupIds = new Set<number>();
    const netnsInodes = new Set<number>();
    for (const { uid } of this.leases.values()) {
      const ids = this.o.cgroups?.idsOf(uid) ?? [];
      if (ids.length) for (const id of ids) cgroupIds.add(id);
      else for (const inode of this.o.netns.inodesOf(uid)) netnsInodes.add(inode);
    }
    return { cgroupIds: [...cgroupIds].sort((a, b) => a - b), netnsInodes: [...netnsInodes].sort((a, b) => a - b) };
  }

  /** Restarts the per-session program when the set of sockets changes; stops it when none is left. */
  private update(): Promise<void> {
    this.pending = this.pending.then(async () => {
      const f = this.leases.size ? this.filter() : { cgroupIds: [], netnsInodes: [] };
      const key = JSON.stringify(f);
      if (key === this.filterKey) return;
      this.filterKey = key;
      if (this.runner) {
        await this.runner.stop();
        this.runner = undefined;
      }
      if (!f.cgroupIds!.length && !f.netnsInodes!.length) {
        if (this.leases.size) this.o.log.warn({ pods: this.followed }, 'followed pods have no cgroup or network namespace on this node yet');
        return;
      }
      const runner = this.o.makeRunner({ kind: 'life', includeUnborn: true, ...f });
      runner.onRecord((r) => {
        if (r.kind !== 'session') return;
        this.counters.sessions++;
        this.listener(r);
      });
      this.runner = runner;
      this.counters.programStarts++;
      try {
        await runner.start();
        this.o.log.info({ pods: this.followed, cgroupIds: f.cgroupIds, netnsInodes: f.netnsInodes }, 'per-session program for followed pods attached');
      } catch (err) {
        this.o.log.error({ err: (err as Error).message }, 'per-session program for followed pods failed to start');
        this.runner = undefined;
        this.filterKey = '';
      }
    });
    return this.pending;
  }
}
