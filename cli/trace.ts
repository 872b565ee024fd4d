// `tcpscope trace life|retrans`: the book's tcplife and tcpretrans on one Linux host, no
// collector needed. Generates the program for this kernel (agent/bpftrace/program.ts), runs
// it under BpftraceRunner and prints the book's columns, or one JSON object per line.
import { type Command, InvalidArgumentError, Option } from 'commander';
import { tcpStateName } from '../common/tcp';
import { preflight } from '../agent/bpftrace/preflight';
import { BpftraceRunner } from '../agent/bpftrace/runner';
import type { ProgramOptions } from '../agent/bpftrace/program';
import type { RetransmitCountRecord, RetransmitRecord, SessionRecord, TraceRecord } from '../agent/records';

interface CommonOpts {
  ipv4?: boolean;
  ipv6?: boolean;
  localport?: number[];
  remoteport?: number[];
  json?: boolean;
  duration?: number;
  bpftrace?: string;
}

function ports(value: string): number[] {
  const out = value.split(',').map((p) => p.trim());
  for (const p of out) if (!/^\d+$/.test(p) || Number(p) > 65535) throw new InvalidArgumentError(`"${p}" is not a port (0-65535)`);
  return out.map(Number);
}

function positiveInt(what: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) <= 0) throw new InvalidArgumentError(`${what} must be a whole number > 0`);
    return Number(value);
  };
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a number of seconds > 0');
  return n;
}

function family(o: CommonOpts): 4 | 6 | undefined {
  if (o.ipv4 && o.ipv6) throw new Error('-4 and -6 exclude each other');
  return o.ipv4 ? 4 : o.ipv6 ? 6 : undefined;
}

function pad(s: string | number, w: number): string {
  return String(s).padEnd(w);
}
function padL(s: string | number, w: number): string {
  return String(s).padStart(w);
}
function hhmmss(timeUs: number): string {
  const d = new Date(timeUs / 1000);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}
function endpoint(addr: string, port: number): string {
  return `${addr}:${port}`;
}

function out(line: string): void {
  process.stdout.write(line + '\n');
}

/**
 * Runs the program until Ctrl-C / SIGTERM / --duration. `onTableEnd` is called when a
 * count-mode table is complete (each interval, and the last one at exit).
 */
async function runTrace(program: ProgramOptions, o: CommonOpts, what: string, onRecord: (r: TraceRecord) => void, onReady: () => void, onTableEnd?: () => void): Promise<void> {
  const tracepoints = program.kind === 'life' ? ['sock:inet_sock_set_state'] : ['tcp:tcp_retransmit_skb'];
  const pre = preflight({ bpftrace: o.bpftrace, tracepoints });
  const runner = new BpftraceRunner({ program, formats: pre.formats, bpftrace: o.bpftrace, restart: false });
  let lost = 0, rejected = 0, failed = 0;
  runner.on('record', (r: TraceRecord) => {
    if (r.kind === 'lost') {
      lost += r.count;
      process.stderr.write(`WARNING: bpftrace lost ${r.count} events (perf buffer full)\n`);
    } else if (r.kind === 'retransmit-failed') failed += r.count;
    else onRecord(r);
  });
  runner.on('reject', (line: string, _reason: string, message: string) => {
    if (++rejected <= 10) process.stderr.write(`WARNING: bpftrace line rejected: ${message}\n`);
  });
  runner.on('stderr', (line: string) => process.stderr.write(`bpftrace: ${line}\n`));
  if (onTableEnd) runner.on('counts-end', onTableEnd);

  let stopping: Promise<void> | null = null;
  let unexpectedExit = false;
  const done = new Promise<void>((resolve) => {
    const stop = () => {
      stopping ??= runner.stop().then(() => {
        const notes = [lost ? `${lost} events lost` : '', rejected ? `${rejected} output lines rejected` : '',
          failed ? `${failed} failed retransmit attempts (err != 0) not shown` : ''].filter(Boolean);
        if (notes.length) process.stderr.write(`Summary: ${notes.join(', ')}\n`);
        resolve();
      });
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    process.stdout.on('error', stop); // EPIPE: the reader went away
    runner.on('exit', (_code: number | null, _signal: string | null, expected: boolean) => {
      if (!expected) {
        unexpectedExit = true;
        stop();
      }
    });
    if (o.duration) setTimeout(stop, o.duration * 1000).unref();
  });
  await runner.start();
  process.stderr.write(`Tracing ${what}. ${o.duration ? `Ending after ${o.duration} s or at Ctrl-C` : 'Ctrl-C to end'}.\n`);
  onReady();
  await done;
  if (unexpectedExit) throw new Error('bpftrace exited unexpectedly');
}

interface LifeOpts extends CommonOpts {
  time?: boolean;
  timestamp?: boolean;
  wide?: boolean;
  pid?: number;
}

function lifeCommand(o: LifeOpts): Promise<void> {
  const program: ProgramOptions = { kind: 'life', family: family(o), localPorts: o.localport, remotePorts: o.remoteport, pid: o.pid };
  let firstUs = 0;
  const header = () => {
    if (o.json) return;
    let h = '';
    if (o.time) h += pad('TIME', 8) + ' ';
    if (o.timestamp) h += pad('TIME(s)', 9) + ' ';
    h += o.wide
      ? `${pad('PID', 5)} ${pad('COMM', 16)} ${pad('IP', 2)} ${pad('LADDR', 26)} ${pad('LPORT', 5)} ${pad('RADDR', 26)} ${pad('RPORT', 5)} ${padL('TX_KB', 6)} ${padL('RX_KB', 6)} MS`
      : `${pad('PID', 5)} ${pad('COMM', 10)} ${pad('LADDR', 15)} ${pad('LPORT', 5)} ${pad('RADDR', 15)} ${pad('RPORT', 5)} ${padL('TX_KB', 5)} ${padL('RX_KB', 5)} MS`;
    out(h);
  };
  const print = (r: TraceRecord) => {
    if (r.kind !== 'session') return;
    const s: SessionRecord = r;
    if (o.json) {
      out(JSON.stringify({
        time: new Date(s.timeUs / 1000).toISOString(), pid: s.pid, comm: s.comm, laddr: s.laddr, lport: s.lport, raddr: s.raddr, rport: s.rport,
        txBytes: s.txBytes, rxBytes: s.rxBytes, durationMs: s.durationUs / 1000, retransSegs: s.retransSegs,
      }));
      return;
    }
    let line = '';
    if (o.time) line += pad(hhmmss(s.timeUs), 8) + ' ';
    if (o.timestamp) {
      firstUs ||= s.timeUs;
      line += pad(((s.timeUs - firstUs) / 1e6).toFixed(6), 9) + ' ';
    }
    const txKb = Math.floor(s.txBytes / 1024), rxKb = Math.floor(s.rxBytes / 1024), ms = (s.durationUs / 1000).toFixed(2);
    line += o.wide
      ? `${pad(s.pid, 5)} ${pad(s.comm.slice(0, 16), 16)} ${pad(s.family, 2)} ${pad(s.laddr, 26)} ${pad(s.lport, 5)} ${pad(s.raddr, 26)} ${pad(s.rport, 5)} ${padL(txKb, 6)} ${padL(rxKb, 6)} ${ms}`
      : `${pad(s.pid, 5)} ${pad(s.comm.slice(0, 10), 10)} ${pad(s.laddr, 15)} ${pad(s.lport, 5)} ${pad(s.raddr, 15)} ${pad(s.rport, 5)} ${padL(txKb, 5)} ${padL(rxKb, 5)} ${ms}`;
    out(line);
  };
  return runTrace(program, o, 'TCP session lifespans', print, header);
}

interface RetransOpts extends CommonOpts {
  count?: boolean;
  interval?: number;
}

function retransCommand(o: RetransOpts): Promise<void> {
  if (o.interval && !o.count) throw new Error('--interval is for count mode (-c)');
  const program: ProgramOptions = {
    kind: o.count ? 'retrans-count' : 'retrans', family: family(o), localPorts: o.localport, remotePorts: o.remoteport,
    intervalSec: o.count ? (o.interval ?? 0) : 1,
  };
  if (!o.count) {
    const header = () => {
      if (!o.json) out(`${pad('TIME', 8)} ${pad('PID', 6)} ${pad('LADDR:LPORT', 20)} T> ${pad('RADDR:RPORT', 20)} STATE`);
    };
    const print = (r: TraceRecord) => {
      if (r.kind !== 'retransmit') return;
      const e: RetransmitRecord = r;
      if (o.json) {
        out(JSON.stringify({ time: new Date(e.timeUs / 1000).toISOString(), pid: e.pid, laddr: e.laddr, lport: e.lport, raddr: e.raddr, rport: e.rport, state: tcpStateName(e.state) }));
        return;
      }
      out(`${pad(hhmmss(e.timeUs), 8)} ${pad(e.pid, 6)} ${pad(endpoint(e.laddr, e.lport), 20)} R> ${pad(endpoint(e.raddr, e.rport), 20)} ${tcpStateName(e.state)}`);
    };
    return runTrace(program, o, 'TCP retransmits', print, header);
  }

  // count mode: @rcount arrives as one line per flow, then a "C" marker ends the table
  let table: RetransmitCountRecord[] = [];
  let printedAny = false;
  const flush = () => {
    const rows = table.sort((a, b) => b.count - a.count);
    table = [];
    if (o.json) {
      for (const r of rows) out(JSON.stringify({ laddr: r.laddr, lport: r.lport, raddr: r.raddr, rport: r.rport, retransmits: r.count }));
      return;
    }
    if (printedAny) out('');
    printedAny = true;
    out(`${hhmmss(Date.now() * 1000)}: retransmits since tracing began`);
    out(`${pad('LADDR:LPORT', 25)}     ${pad('RADDR:RPORT', 25)} ${padL('RETRANSMITS', 11)}`);
    for (const r of rows) out(`${pad(endpoint(r.laddr, r.lport), 25)} <-> ${pad(endpoint(r.raddr, r.rport), 25)} ${padL(r.count, 11)}`);
  };
  const collect = (r: TraceRecord) => {
    if (r.kind === 'retransmit-count') table.push(r);
  };
  const what = `TCP retransmits, counting per flow${o.interval ? ` (table every ${o.interval} s)` : ' (table at the end)'}`;
  return runTrace(program, o, what, collect, () => undefined, flush);
}

export function registerTrace(program: Command): void {
  const trace = program.command('trace').description('trace TCP sessions or retransmits on this host with bpftrace (root; no collector needed)');
  const common = (cmd: Command) => cmd
    .option('-4, --ipv4', 'trace IPv4 only')
    .option('-6, --ipv6', 'trace IPv6 only')
    .option('-L, --localport <ports>', 'only these local ports (comma-separated), filtered in the kernel', ports)
    .option('-D, --remoteport <ports>', 'only these remote ports (comma-separated), filtered in the kernel', ports)
    .option('--json', 'one JSON object per line instead of columns')
    .option('--duration <seconds>', 'stop after this many seconds (default: at Ctrl-C)', seconds)
    .addOption(new Option('--bpftrace <path>', 'bpftrace binary').env('TCPSCOPE_BPFTRACE').default('bpftrace'));

  common(trace.command('life'))
    .description('TCP session lifespans, as tcplife: one line per session at close with bytes each way and duration. '
      + 'Columns PID COMM LADDR LPORT RADDR RPORT TX_KB RX_KB MS; PID/COMM are the process at connect() or close() '
      + 'when known. Bytes are payload bytes (retransmissions not counted twice). Sessions that began before '
      + 'tracing are not shown (their duration is unknown). --json fields: time, pid, comm, laddr, lport, raddr, '
      + 'rport, txBytes, rxBytes, durationMs, retransSegs.')
    .option('-T, --time', 'include a time column (HH:MM:SS)')
    .option('-t, --timestamp', 'include a timestamp column (seconds since the first session)')
    .option('-w, --wide', 'wide columns (fit IPv6 addresses), with an IP version column')
    .option('-p, --pid <pid>', 'only sessions of this process', positiveInt('PID'))
    .action((o: LifeOpts) => lifeCommand(o));

  common(trace.command('retrans'))
    .description('TCP retransmits, as tcpretrans: one line per retransmit (one skb; with GSO/TSO it can carry '
      + 'several segments) with the TCP state. Columns TIME PID LADDR:LPORT T> RADDR:RPORT STATE (T: R = retransmit; '
      + 'PID is whatever task was on the CPU, often 0 or unrelated: retransmits run in softirq and timers). '
      + 'Failed attempts (kernels whose tracepoint has `err`) are counted apart and summarised at the end. '
      + '--json fields: time, pid, laddr, lport, raddr, rport, state; with -c: laddr, lport, raddr, rport, retransmits.')
    .option('-c, --count', 'count retransmits per flow in the kernel; print one row per flow at the end (or every --interval)')
    .option('--interval <seconds>', 'with -c: print the table every this many seconds (counts since tracing began)', positiveInt('interval'))
    .action((o: RetransOpts) => retransCommand(o));
}
