// The duration buckets of the agent's in-kernel flow sums (agent/bpftrace/program.ts computes
// them in bpftrace): 4 * floor(log2 µs) + the next two bits below the top one + 1, so four
// buckets per power of two (each at most 25% wide); bucket 0 is a duration of 0 µs.

/** The bucket of a duration in µs, exactly as the bpftrace program computes it. */
export function durationBucket(us: number): number {
  if (us < 1) return 0;
  const h = Math.floor(Math.log2(us));
  const sub = h >= 2 ? Math.floor(us / 2 ** (h - 2)) & 3 : h === 1 ? (us & 1) << 1 : 0;
  return h * 4 + sub + 1;
}

/** [low, high) in µs of a bucket. */
export function durationBucketRange(b: number): [number, number] {
  if (b <= 0) return [0, 1];
  const h = Math.floor((b - 1) / 4);
  const sub = (b - 1) % 4;
  if (h >= 2) return [2 ** h + sub * 2 ** (h - 2), 2 ** h + (sub + 1) * 2 ** (h - 2)];
  if (h === 1) return sub === 0 ? [2, 3] : [3, 4];
  return [1, 2];
}

/** The value a bucket stands for in percentiles: the middle of its range (exact below 4 µs). */
export function durationBucketMid(b: number): number {
  const [lo, hi] = durationBucketRange(b);
  return hi - lo <= 1 ? lo : (lo + hi) / 2;
}
