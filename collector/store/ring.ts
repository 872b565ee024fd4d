// EventRing: the most recent raw events (resolved), bounded, for `observe` and the per-pod
// page; subscribers get each new event as it is applied (follow mode).
import type { ResolvedEvent } from '../events';

export class EventRing {
  private readonly buf: (ResolvedEvent | undefined)[];
  private next = 0;
  private size = 0;
  private readonly subscribers = new Set<(e: ResolvedEvent) => void>();
  overwritten = 0;

  constructor(readonly capacity: number) {
    this.buf = new Array(capacity);
  }

  push(e: ResolvedEvent): void {
    if (this.size === this.capacity) this.overwritten++;
    else this.size++;
    this.buf[this.next] = e;
    this.next = this.next + 1 === this.capacity ? 0 : this.next + 1;
    if (this.subscribers.size) for (const s of this.subscribers) s(e);
  }

  /** Events oldest first, optionally only those matching. */
  *scan(match?: (e: ResolvedEvent) => boolean): Generator<ResolvedEvent> {
    const start = (this.next - this.size + this.capacity) % this.capacity;
    for (let i = 0; i < this.size; i++) {
      const e = this.buf[(start + i) % this.capacity]!;
      if (!match || match(e)) yield e;
    }
  }

  get length(): number {
    return this.size;
  }

  /** Oldest event time in the ring (µs), or undefined when empty. */
  oldestUs(): number | undefined {
    if (this.size === 0) return undefined;
    return this.buf[(this.next - this.size + this.capacity) % this.capacity]!.ev.timeUs;
  }

  subscribe(fn: (e: ResolvedEvent) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }
}
