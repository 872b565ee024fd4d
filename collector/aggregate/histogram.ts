// LogHistogram: a sparse log-linear histogram (8 buckets per power of two, ~9% relative
// error) for session durations, mergeable across flows and time buckets, for percentiles.

const SUB = 8;

function bucketOf(v: number): number {
  if (v < 1) return 0;
  return Math.floor(Math.log2(v) * SUB) + 1;
}

function bucketMid(b: number): number {
  if (b === 0) return 0;
  const lo = 2 ** ((b - 1) / SUB);
  const hi = 2 ** (b / SUB);
  return (lo + hi) / 2;
}

export class LogHistogram {
  readonly counts = new Map<number, number>();
  total = 0;
  max = 0;

  add(v: number, n = 1): void {
    const b = bucketOf(v);
    this.counts.set(b, (this.counts.get(b) ?? 0) + n);
    this.total += n;
    if (v > this.max) this.max = v;
  }

  merge(o: LogHistogram): void {
    for (const [b, c] of o.counts) this.counts.set(b, (this.counts.get(b) ?? 0) + c);
    this.total += o.total;
    if (o.max > this.max) this.max = o.max;
  }

  /** q in [0,1]; 0 when empty. Never above the largest value seen. */
  quantile(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.total));
    const keys = [...this.counts.keys()].sort((a, b) => a - b);
    let seen = 0;
    for (const k of keys) {
      seen += this.counts.get(k)!;
      if (seen >= rank) return Math.min(bucketMid(k), this.max);
    }
    return this.max;
  }
}
