// RollupStore: the one interface between the collector and its history. Per-flow sums in
// time buckets are added to it (upsert-add by bucket and flow key) together with the
// delivery watermarks of the agent runs they came from, atomically; reports read merged
// flows over a window. An embedded store implements it today; a distributed backend can
// implement it later without touching the reports.
import type { FlowAgg } from '../aggregate/flows';

export interface RollupRow {
  bucketStartUs: number;
  agg: FlowAgg;
}

/** Filters a store can apply itself (pushed down into its queries). */
export interface FlowFilter {
  pod?: { namespace: string; name: string }; // either end
  namespace?: string;                        // either end
  localNamespace?: string;                   // local end only (hot spots -n)
}

export interface StoreStats {
  rows: number;
  bytes: number;
  oldestBucketUs: number | undefined;
}

export interface RollupStore {
  /** Adds the rows to what is stored (sums per bucket and key) and records the watermarks, in one transaction. */
  commit(rows: RollupRow[], watermarks: Map<string, number>): void;
  /** Highest applied sequence per agent run id, as last committed. */
  watermarks(): Map<string, number>;
  /** Flows with activity in [sinceUs, untilUs) merged over buckets (resolution: one bucket). */
  query(sinceUs: number, untilUs: number, filter?: FlowFilter): FlowAgg[];
  /** Removes buckets older than the retention, then the oldest until the size cap holds. */
  prune(nowUs: number, retentionUs: number, maxBytes: number): { removedRows: number };
  stats(): StoreStats;
  close(): void;
}
