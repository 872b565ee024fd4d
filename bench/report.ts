// How benchmarks report: each figure beside its peer or limit measured in the same run,
// the ratio, and the bar from PRODUCT.md it is held against. Printed as one table and
// written as JSON (bench-results/results.json).
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface BenchRow {
  bench: string;
  figure: string;         // what was measured
  value: number;
  unit: string;
  peer?: string;          // what it is compared with, measured in the same run
  peerValue?: number;
  ratio?: number;         // value / peerValue
  bar?: string;           // the quality bar, in words
  met?: boolean;          // undefined when there is no bar
}

export interface BenchContext {
  quick: boolean;
  log(msg: string): void;
}

export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (Math.abs(v) >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  if (Math.abs(v) >= 100) return v.toFixed(0);
  return v.toFixed(2);
}

export function printTable(rows: BenchRow[]): string {
  const head = ['BENCH', 'FIGURE', 'VALUE', 'PEER / LIMIT', 'PEER VALUE', 'RATIO', 'BAR', 'MET'];
  const body = rows.map((r) => [
    r.bench, r.figure, `${fmt(r.value)} ${r.unit}`, r.peer ?? '', r.peerValue !== undefined ? fmt(r.peerValue) : '',
    r.ratio !== undefined ? r.ratio.toFixed(2) : '', r.bar ?? '', r.met === undefined ? '' : r.met ? 'yes' : 'NO',
  ]);
  const all = [head, ...body];
  const w = head.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  return all.map((r) => r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd()).join('\n');
}

export function writeResults(rows: BenchRow[], dir = 'bench-results'): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'results.json');
  fs.writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), rows }, null, 2));
  return file;
}
