// FollowRequests: the pods someone follows right now (observe --pod NS/NAME --follow, the
// UI's live pod page), told to every connected agent so that the one running the pod adds
// per-session detail for it. A follow is a lease the collector renews while anyone
// watches; the last watcher leaving ends it at once (lease 0), a lost collector lets it
// run out on its own.
import type { FollowRequest } from '../../gen/tcpscope/v1/ingest';

type Send = (follows: FollowRequest[]) => void;

export class FollowRequests {
  private readonly streams = new Set<Send>();
  private readonly watchers = new Map<string, number>();   // "ns/name" -> watchers
  private readonly timer: NodeJS.Timeout;

  constructor(readonly leaseMs = 30_000) {
    this.timer = setInterval(() => this.broadcast(this.current()), Math.max(1000, Math.floor(leaseMs / 3)));
    this.timer.unref();
  }

  /** An agent's ingest stream; it hears the current follows at once. Returns the detach. */
  attach(send: Send): () => void {
    this.streams.add(send);
    const now = this.current();
    if (now.length) send(now);
    return () => this.streams.delete(send);
  }

  /** Someone follows pod "ns/name"; call the result when they stop. */
  follow(pod: string): () => void {
    const [namespace, name] = pod.split('/');
    if (!namespace || !name) return () => undefined;
    const n = this.watchers.get(pod) ?? 0;
    this.watchers.set(pod, n + 1);
    if (n === 0) this.broadcast([{ namespace, name, leaseMs: this.leaseMs }]);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const left = (this.watchers.get(pod) ?? 1) - 1;
      if (left > 0) {
        this.watchers.set(pod, left);
        return;
      }
      this.watchers.delete(pod);
      this.broadcast([{ namespace, name, leaseMs: 0 }]);
    };
  }

  /** Pods followed now, with their watcher counts (status, tests). */
  get followed(): Map<string, number> {
    return new Map(this.watchers);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private current(): FollowRequest[] {
    return [...this.watchers.keys()].map((p) => {
      const [namespace, name] = p.split('/') as [string, string];
      return { namespace, name, leaseMs: this.leaseMs };
    });
  }

  private broadcast(follows: FollowRequest[]): void {
    if (!follows.length) return;
    for (const send of this.streams) send(follows);
  }
}
