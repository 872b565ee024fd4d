// How benchmarks report: each figure beside its peer or limit measured in the same run,
// the ratio, and the bar from PRODUCT.md it is held against. Printed as one table, written
// as JSON (bench-results/results.json), and scaling curves drawn as SVG (scaling.svg).
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

/** A scaling curve: y against x for one or more series (e.g. collector memory against flows). */
export interface BenchCurve {
  title: string;
  x: string;              // axis label with unit
  y: string;
  logX?: boolean;
  series: Array<{ name: string; points: Array<[number, number]> }>;
}

export interface BenchContext {
  quick: boolean;
  log(msg: string): void;
  /** Adds a curve to the SVG chart and the JSON results. */
  curve(c: BenchCurve): void;
}

/** One file of bench/suites/: `export const suite: BenchSuite = {...}`; run.ts finds it. */
export interface BenchSuite {
  name: string;           // for --only=
  order: number;          // position in the table
  run(ctx: BenchContext): Promise<BenchRow[]>;
}

export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (Math.abs(v) >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  if (Math.abs(v) >= 100) return v.toFixed(0);
  return v.toFixed(2);
}

/** Splits text into lines of at most `width` characters, at spaces where it can. */
function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let rest = text;
  while (rest.length > width) {
    let cut = rest.lastIndexOf(' ', width);
    if (cut <= 0) cut = width;
    out.push(rest.slice(0, cut));
    rest = rest.slice(cut).trimStart();
  }
  out.push(rest);
  return out;
}

const FIGURE_WIDTH = 72;

/** The table: one row per figure; a long figure wraps onto continuation lines (results.json keeps it whole). */
export function printTable(rows: BenchRow[]): string {
  const head = ['BENCH', 'FIGURE', 'VALUE', 'PEER / LIMIT', 'PEER VALUE', 'RATIO', 'BAR', 'MET'];
  const body: string[][] = [];
  for (const r of rows) {
    const figure = wrap(r.figure, FIGURE_WIDTH);
    const peer = wrap(r.peer ?? '', 40);
    body.push([
      r.bench, figure[0]!, `${fmt(r.value)} ${r.unit}`, peer[0]!, r.peerValue !== undefined ? fmt(r.peerValue) : '',
      r.ratio !== undefined ? r.ratio.toFixed(2) : '', r.bar ?? '', r.met === undefined ? '' : r.met ? 'yes' : 'NO',
    ]);
    for (let i = 1; i < Math.max(figure.length, peer.length); i++) body.push(['', figure[i] ? `  ${figure[i]}` : '', '', peer[i] ?? '', '', '', '', '']);
  }
  const all = [head, ...body];
  const w = head.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  return all.map((r) => r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd()).join('\n');
}

/** Writes results.json and, when there are curves, scaling.svg; returns the files written. */
export function writeResults(rows: BenchRow[], curves: BenchCurve[] = [], dir = 'bench-results'): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'results.json');
  fs.writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), rows, curves }, null, 2));
  if (!curves.length) return [file];
  const svg = path.join(dir, 'scaling.svg');
  fs.writeFileSync(svg, renderSvg(curves));
  return [file, svg];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Small multiples: one panel per curve, two panels a row, linear y from 0, x linear or log. */
export function renderSvg(curves: BenchCurve[]): string {
  const W = 460, H = 300, m = { l: 64, r: 16, t: 30, b: 44 };
  const cols = 2;
  const out: string[] = [];
  curves.forEach((c, i) => {
    const ox = (i % cols) * W, oy = Math.floor(i / cols) * H;
    const pts = c.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (!pts.length) return;
    const fx = (x: number) => (c.logX ? Math.log10(Math.max(x, 1e-9)) : x);
    const xs = pts.map(([x]) => fx(x));
    const x0 = Math.min(...xs), x1 = Math.max(...xs) === x0 ? x0 + 1 : Math.max(...xs);
    const y1 = Math.max(...pts.map(([, y]) => y)) * 1.1 || 1;
    const px = (x: number) => ox + m.l + ((fx(x) - x0) / (x1 - x0)) * (W - m.l - m.r);
    const py = (y: number) => oy + H - m.b - (y / y1) * (H - m.t - m.b);
    out.push(`<text x="${ox + W / 2}" y="${oy + 18}" text-anchor="middle" font-weight="bold">${esc(c.title)}</text>`);
    out.push(`<line x1="${ox + m.l}" y1="${py(0)}" x2="${ox + W - m.r}" y2="${py(0)}" stroke="#444"/><line x1="${ox + m.l}" y1="${py(0)}" x2="${ox + m.l}" y2="${oy + m.t}" stroke="#444"/>`);
    for (let k = 0; k <= 4; k++) {
      const y = (y1 / 4) * k;
      out.push(`<text x="${ox + m.l - 4}" y="${py(y) + 4}" text-anchor="end" font-size="10">${fmt(y)}</text>`);
    }
    const ticks = [...new Set(pts.map(([x]) => x))].sort((a, b) => a - b);
    for (const x of ticks) out.push(`<text x="${px(x)}" y="${py(0) + 14}" text-anchor="middle" font-size="10">${fmt(x)}</text>`);
    out.push(`<text x="${ox + W / 2}" y="${oy + H - 8}" text-anchor="middle" font-size="11">${esc(c.x)}</text>`);
    out.push(`<text x="${ox + 12}" y="${oy + H / 2}" text-anchor="middle" font-size="11" transform="rotate(-90 ${ox + 12} ${oy + H / 2})">${esc(c.y)}</text>`);
    c.series.forEach((s, j) => {
      const color = COLORS[j % COLORS.length];
      const sorted = [...s.points].sort((a, b) => a[0] - b[0]);
      out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${sorted.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`);
      for (const [x, y] of sorted) out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${color}"/>`);
      out.push(`<text x="${ox + m.l + 8}" y="${oy + m.t + 12 + j * 13}" font-size="11" fill="${color}">${esc(s.name)}</text>`);
    });
  });
  const rowsN = Math.ceil(curves.length / cols);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${cols * W}" height="${rowsN * H}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${out.join('\n')}\n</svg>\n`;
}
