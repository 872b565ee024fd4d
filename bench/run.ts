// `npm run bench [-- --quick]`: runs every benchmark, prints one table (figure, peer or
// limit measured in the same run, ratio, bar) and writes bench-results/results.json.
// CI runs --quick so the benchmarks never rot; it checks they produce figures, never that
// a figure beats a number.
import { benchCollectorIngest } from './collector-ingest';
import { benchK8sIndex } from './k8s-index';
import { benchStore } from './store';
import { type BenchContext, type BenchRow, printTable, writeResults } from './report';

type Bench = (ctx: BenchContext) => Promise<BenchRow[]>;

const benches: Array<[string, Bench]> = [
  ['collector-ingest', benchCollectorIngest],
  ['k8s-index', benchK8sIndex],
  ['store', benchStore],
];

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7);
  const ctx: BenchContext = { quick, log: (m) => process.stderr.write(`bench: ${m}\n`) };
  const rows: BenchRow[] = [];
  for (const [name, fn] of benches) {
    if (only && !only.split(',').includes(name)) continue;
    process.stderr.write(`bench: running ${name}${quick ? ' (quick)' : ''}...\n`);
    try {
      rows.push(...(await fn(ctx)));
    } catch (err) {
      process.stderr.write(`bench: ${name} failed: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exitCode = 1;
    }
  }
  process.stdout.write(printTable(rows) + '\n');
  process.stdout.write(`results: ${writeResults(rows)}\n`);
  if (rows.length === 0) process.exitCode = 1;
}

main();
