// Runs flows-worker.ts once per size, each in a fresh process (--expose-gc, a heap limit
// far above the sizes measured), and gives back what each printed.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FlowScale } from './flows-worker';

export type { FlowScale };

export async function flowScaling(sizes: number[], log: (m: string) => void): Promise<FlowScale[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcpscope-bench-flows-'));
  const out: FlowScale[] = [];
  try {
    for (const n of sizes) {
      const t0 = Date.now();
      const stdout = await new Promise<string>((resolve, reject) => {
        execFile(process.execPath, ['--expose-gc', '--max-old-space-size=16384', path.join(__dirname, 'flows-worker.js'), String(n), dir],
          { maxBuffer: 1 << 20, timeout: 15 * 60_000 }, (err, so, se) => (err ? reject(new Error(`flows-worker ${n}: ${se.trim() || err.message}`)) : resolve(so)));
      });
      const r = JSON.parse(stdout.trim().split('\n').pop()!) as FlowScale;
      log(`scaling: ${n} flows in ${((Date.now() - t0) / 1000).toFixed(1)} s: add ${(r.addNewPerS / 1e6).toFixed(2)}M new / ${(r.addExistingPerS / 1e6).toFixed(2)}M existing a second; heap a flow ${r.aggHeapPerFlow.toFixed(0)} B in the aggregator, ${r.memStoreHeapPerFlow.toFixed(0)} B in the memory store, ${r.sqliteHeapPerFlow.toFixed(0)} B with SQLite; checkpoint memory ${r.memCheckpointS.toFixed(2)} s, SQLite ${r.sqliteFirstCheckpointS.toFixed(2)} s new / ${r.sqliteCheckpointS.toFixed(2)} s known; ${r.sqliteFileBytesPerRow.toFixed(0)} file bytes a flow-bucket`);
      out.push(r);
      for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f), { force: true });
    }
    return out;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
