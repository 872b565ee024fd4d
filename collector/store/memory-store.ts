// MemoryRollupStore: the RollupStore for the memory-only collector (no --data-dir): the
// same semantics as the embedded store, gone when the process ends.
import { mergeAgg, type FlowAgg } from '../aggregate/flows';
import { cloneAgg, matchesFilter } from '../aggregate/flows';
import type { FlowFilter, RollupRow, RollupStore, StoreStats } from './rollup-store';

export class MemoryRollupStore implements RollupStore {
  private readonly buckets = new Map<number, Map<string, FlowAgg>>();
  private marks = new Map<string, number>();
  private rows = 0;

  constructor(private readonly bucketUs: number) {}

  commit(rows: RollupRow[], watermarks: Map<string, number>): void {
    for (const { bucketStartUs, agg } of rows) {
      let b = this.buckets.get(bucketStartUs);
      if (!b) {
        b = new Map();
        this.buckets.set(bucketStartUs, b);
      }
      const cur = b.get(agg.key);
      if (cur) mergeAgg(cur, agg);
      else {
        b.set(agg.key, cloneAgg(agg));
        this.rows++;
      }
    }
    for (const [run, seq] of watermarks) this.marks.set(run, Math.max(seq, this.marks.get(run) ?? 0));
  }

  watermarks(): Map<string, number> {
    return new Map(this.marks);
  }

  query(sinceUs: number, untilUs: number, filter?: FlowFilter): FlowAgg[] {
    const out = new Map<string, FlowAgg>();
    for (const [start, b] of this.buckets) {
      if (start + this.bucketUs <= sinceUs || start >= untilUs) continue;
      for (const a of b.values()) {
        if (filter && !matchesFilter(a, filter)) continue;
        const m = out.get(a.key);
        if (m) mergeAgg(m, a);
        else out.set(a.key, cloneAgg(a));
      }
    }
    return [...out.values()];
  }

  prune(nowUs: number, retentionUs: number, _maxBytes: number): { removedRows: number } {
    let removedRows = 0;
    for (const [start, b] of this.buckets) {
      if (start + this.bucketUs < nowUs - retentionUs) {
        removedRows += b.size;
        this.buckets.delete(start);
      }
    }
    this.rows -= removedRows;
    return { removedRows };
  }

  stats(): StoreStats {
    const starts = [...this.buckets.keys()];
    return { rows: this.rows, bytes: 0, oldestBucketUs: starts.length ? Math.min(...starts) : undefined };
  }

  close(): void {}
}
