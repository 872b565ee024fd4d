// Output for people and machines: aligned text tables, byte and duration formatting,
// and one JSON document (or one object per line for streams) for -o json.

export function table(headers: string[], rows: Array<Array<string | number>>, rightAlign: Set<number> = new Set()): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : rightAlign.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd())
    .join('\n');
}

export function bytes(n: number): string {
  if (n < 1024) return `${n}B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)}${units[u]}`;
}

export function ms(v: number): string {
  if (v < 1) return `${(v * 1000).toFixed(0)}µs`;
  if (v < 1000) return `${v.toFixed(v < 10 ? 1 : 0)}ms`;
  return `${(v / 1000).toFixed(1)}s`;
}

export function outputFormat(o: string | undefined, allowed: string[] = ['table', 'json']): string {
  const f = o ?? 'table';
  if (!allowed.includes(f)) throw new Error(`invalid output format "${f}": use ${allowed.join(', ')}`);
  return f;
}
