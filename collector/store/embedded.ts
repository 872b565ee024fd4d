// The embedded analytical store behind RollupStore (placeholder until the store lands).
import type { RollupStore } from './rollup-store';

export function openEmbeddedStore(file: string, _bucketSeconds: number): RollupStore {
  throw new Error(`the embedded store is not available in this build (wanted ${file}); run without --data-dir`);
}
