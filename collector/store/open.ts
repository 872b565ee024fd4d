// Opens the collector's history: the embedded store under --data-dir, or memory only.
import * as path from 'node:path';
import type { RollupStore } from './rollup-store';
import { MemoryRollupStore } from './memory-store';

export function openRollupStore(dataDir: string, bucketSeconds: number): RollupStore {
  if (!dataDir) return new MemoryRollupStore(bucketSeconds * 1e6);
  // the embedded store (SQLite, chosen over DuckDB by bench/store.ts) is loaded only with a data directory
  const { openSqliteStore } = require('./sqlite-store') as { openSqliteStore: (file: string, bucketSeconds: number) => RollupStore };
  return openSqliteStore(path.join(dataDir, 'history.sqlite'), bucketSeconds);
}
