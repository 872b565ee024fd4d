// The agent's parser as it would be if our programs ran with bpftrace's JSON output mode
// (`bpftrace -f json`), for the output-format comparison only: every line is a JSON object;
// a printf's text (our S/R/F/G lines) comes back as a string to parse as today, a map print
// comes back as one object holding every entry, keys joined by ",". The same checks as
// agent/bpftrace/parse.ts (numbers, ranges, addresses), so the comparison is fair.
import type { TraceParser } from '../../../agent/bpftrace/parse';
import type { FlowSumRecord, TraceRecord } from '../../../agent/records';

/** A non-negative decimal integer, or -1 (as parse.ts). */
function uint(s: string | undefined): number {
  if (s === undefined || s.length === 0 || s.length > 20) return -1;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

function isIPv4(s: string | undefined): boolean {
  if (!s) return false;
  let octets = 0, digits = 0, value = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0) return false;
      octets++; digits = 0; value = 0;
      continue;
    }
    const d = c - 48;
    if (d < 0 || d > 9 || digits === 3 || (digits === 1 && value === 0)) return false;
    value = value * 10 + d;
    if (value > 255) return false;
    digits++;
  }
  return octets === 3 && digits > 0;
}

export interface JsonCounts {
  records: TraceRecord[];
  rejected: number;
}

/** bpftrace -f json lines -> records: printf text through TraceParser, maps joined per flow here. */
export class JsonTraceParser {
  rejected = 0;
  private interval: { startUs: number; endUs: number; flows: Map<string, FlowSumRecord>; closes: number } | undefined;

  constructor(private readonly text: TraceParser) {}

  /** Calls emit for every record the line completes. */
  parse(line: string, emit: (r: TraceRecord) => void): void {
    let o: { type?: unknown; data?: unknown };
    try {
      o = JSON.parse(line) as typeof o;
    } catch {
      this.rejected++;
      return;
    }
    if (o.type === 'printf' && typeof o.data === 'string') {
      const t = o.data.endsWith('\n') ? o.data.slice(0, -1) : o.data;
      const tag = t.charCodeAt(0);
      if (tag === 70 /* F */) {
        const f = t.split(' ');
        const start = uint(f[1]), end = uint(f[2]);
        if (start < 0 || end < start) { this.rejected++; return; }
        this.interval = { startUs: Math.round(start / 1000) + this.text.offsetUs, endUs: Math.round(end / 1000) + this.text.offsetUs, flows: new Map(), closes: 0 };
        return;
      }
      if (tag === 71 /* G */) {
        const iv = this.interval;
        this.interval = undefined;
        if (!iv) { this.rejected++; return; }
        let counted = 0;
        for (const f of iv.flows.values()) {
          counted += f.sessions + f.failedConnects;
          emit(f);
        }
        emit({ kind: 'flow-interval-end', startUs: iv.startUs, endUs: iv.endUs, flows: iv.flows.size, closes: iv.closes, unaccounted: Math.max(0, iv.closes - counted) });
        return;
      }
      const out = this.text.parse(t);
      if (out.type === 'record') emit(out.record);
      else if (out.type === 'records') for (const r of out.records) emit(r);
      else if (out.type === 'reject') this.rejected++;
      return;
    }
    if (o.type === 'map' && o.data && typeof o.data === 'object') {
      for (const [name, entries] of Object.entries(o.data as Record<string, unknown>)) this.map(name, entries);
      return;
    }
    if (o.type !== 'attached_probes') this.rejected++;
  }

  private map(name: string, entries: unknown): void {
    const iv = this.interval;
    const base = name.slice(0, 3);
    if (base === '@lc') {
      if (typeof entries === 'number' && iv) iv.closes += entries;
      return;
    }
    if (!iv || !entries || typeof entries !== 'object') return;
    const extra = base === '@lh' || base === '@rn' || base === '@rc';
    for (const [keyText, value] of Object.entries(entries as Record<string, unknown>)) {
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) { this.rejected++; continue; }
      let flowKey = keyText;
      let sub = 0;
      if (extra) {
        const cut = keyText.lastIndexOf(',');
        sub = uint(keyText.slice(cut + 1));
        flowKey = keyText.slice(0, cut);
        if (cut < 0 || sub < 0) { this.rejected++; continue; }
      }
      let f = iv.flows.get(flowKey);
      if (!f) {
        const k = flowKey.split(',');
        if (k.length !== 7) { this.rejected++; continue; }
        const cg = uint(k[0]), ns = uint(k[1]), lport = uint(k[4]), rport = uint(k[5]), dir = uint(k[6]);
        if (cg < 0 || ns < 0 || (lport | rport | dir) < 0 || !isIPv4(k[2]) || !isIPv4(k[3]) || lport > 65535 || rport > 65535 || dir > 2) { this.rejected++; continue; }
        f = {
          kind: 'flow-sum', timeUs: iv.endUs, startUs: iv.startUs, family: 4, laddr: k[2]!, lport, raddr: k[3]!, rport, netnsInode: ns, cgroupId: cg,
          direction: dir, sessions: 0, failedConnects: 0, txBytes: 0, rxBytes: 0, retransSegs: 0, srttSumUs: 0, durations: new Map(), retransmits: [],
        };
        iv.flows.set(flowKey, f);
      }
      switch (base) {
        case '@ls': f.sessions += value; break;
        case '@lf': f.failedConnects += value; break;
        case '@lt': f.txBytes += value; break;
        case '@lr': f.rxBytes += value; break;
        case '@lx': f.retransSegs += value; break;
        case '@lq': f.srttSumUs += value; break;
        case '@lh': f.durations.set(sub, (f.durations.get(sub) ?? 0) + value); break;
        default: break;
      }
    }
  }
}
