// Opens the collector's history: the embedded store under --data-dir, or memory only.
import * as path from 'node:path';
import type { RollupStore } from './rollup-store';
import { MemoryRollupStore } from './memory-store';

export function openRollupStore(dataDir: string, bucketSeconds: number): RollupStore {
  if (!dataDir) return new MemoryRollupStore(bucketSeconds * 1e6);
  // the embedded store (SQLite) is loaded only when a data directory is used
  const { openEmbeddedStore } = require('./embedded') as { openEmbeddedStore: (file: string, bucketSeconds: number) => RollupStore };
  return openEmbeddedStore(path.join(dataDir, 'rollups.db'), bucketSeconds);
}
