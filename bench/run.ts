// `npm run bench [-- --quick] [-- --only=a,b]`: runs every benchmark suite in bench/suites/
// (each file exports `suite`), prints one table (figure, peer or limit measured in the same
// run, ratio, bar), writes bench-results/results.json and an SVG of the scaling curves.
// CI runs --quick so the benchmarks never rot; it checks they produce figures, never that
// a figure beats a number.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type BenchContext, type BenchCurve, type BenchRow, type BenchSuite, printTable, writeResults } from './report';

function loadSuites(): BenchSuite[] {
  const dir = path.join(__dirname, 'suites');
  const suites: BenchSuite[] = [];
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.js')).sort()) {
    const mod = require(path.join(dir, f)) as { suite?: BenchSuite };
    if (!mod.suite) throw new Error(`bench/suites/${f} exports no \`suite\``);
    suites.push(mod.suite);
  }
  return suites.sort((a, b) => a.order - b.order || a.name.localeCompare(b.name));
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7).split(',');
  const suites = loadSuites();
  if (only) {
    const unknown = only.filter((n) => !suites.some((s) => s.name === n));
    if (unknown.length) throw new Error(`no such benchmark: ${unknown.join(', ')} (have: ${suites.map((s) => s.name).join(', ')})`);
  }
  const rows: BenchRow[] = [];
  const curves: BenchCurve[] = [];
  const ctx: BenchContext = { quick, log: (m) => process.stderr.write(`bench: ${m}\n`), curve: (c) => curves.push(c) };
  for (const s of suites) {
    if (only && !only.includes(s.name)) continue;
    const t0 = Date.now();
    process.stderr.write(`bench: running ${s.name}${quick ? ' (quick)' : ''}...\n`);
    try {
      rows.push(...(await s.run(ctx)));
      process.stderr.write(`bench: ${s.name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    } catch (err) {
      process.stderr.write(`bench: ${s.name} failed: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exitCode = 1;
    }
  }
  process.stdout.write(printTable(rows) + '\n');
  for (const f of writeResults(rows, curves)) process.stdout.write(`results: ${f}\n`);
  if (rows.length === 0) process.exitCode = 1;
}

main().catch((err) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 2;
});
