// How fast bpftrace 0.17 itself can print, with nothing reading its output: the limit the
// agent's parser is compared with. Needs root (it loads BPF programs).
//
// printf lines: a self-clocked program. BEGIN queues 1000 S lines (the real S printf's
// format and argument types); then every write(2) bpftrace itself makes queues one more
// (tracepoint:syscalls:sys_enter_write filtered on bpftrace's pid). With -B line each line
// is one write, so about 1000 lines are always waiting in the perf buffer (which holds
// ~2000): bpftrace is never idle for want of work and never loses any. stdout goes to
// /dev/null; the kernel counts the lines for us (/proc/<pid>/io syscw, one write per line,
// checked against wchar / line length), and CPU is bpftrace's utime+stime. The probe's own
// work runs in bpftrace's write calls, so the CPU figure carries ~1 µs a line more than
// printing alone would.
//
// map prints: a map of N flow keys (the @ls0 key types) filled once, then print(@ls0)
// asked for faster than bpftrace can print it (every 50 ms); stdout goes to a file in
// /dev/shm (the entries printed in the window are counted in that file's new bytes).
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface PrintLimit {
  /** Lines (printf) or map entries (map print) per second of wall time. */
  perSecond: number;
  /** bpftrace's CPU in the window, in cores (1 = one core busy). */
  cpu: number;
  /** Per CPU-second: what one core of bpftrace prints. */
  perCpuSecond: number;
  bytesPerItem: number;
}

const SESSION_PRINTF = `printf("S %llu 4 %s %d %s %d %llu %llu %llu %u %u %u %llu %d %d %u %d %s\\n", nsecs, ntop(0x0200f40a), 41234, ntop(0x0700600a), 8080, (uint64)1234, (uint64)56789, (uint64)1200, (uint32)0, (uint32)1000, (uint32)4026532001, (uint64)9001, 1, 0, (uint32)150, 1, comm);`;

const SELF_CLOCKED = `// tcpscope bench: bpftrace printing S lines as fast as it can (self-clocked by its own writes)
BEGIN
{
  $i = 0;
  while ($i < 1000) {
    ${SESSION_PRINTF}
    $i++;
  }
}

tracepoint:syscalls:sys_enter_write
/pid == $1/
{
  ${SESSION_PRINTF}
}
`;

const MAP_PRINT = `// tcpscope bench: bpftrace printing a flow map of $1 keys as fast as it can
BEGIN { @i = (uint64)0; }

interval:us:50
/@i < $1/
{
  $i = @i;
  @ls0[(uint64)9001 + ($i % 100), (uint32)4026532001 + ($i % 100), ntop((uint32)(0x0000f40a + ((2 + $i % 100) << 24))), ntop((uint32)(0x0000600a + (($i / 100) << 16))), (uint16)0, (uint16)(8080 + $i % 7), (uint8)1] = count();
  @i = @i + 1;
}

interval:ms:50
/@i >= $1/
{
  print(@ls0);
}

END
{
  clear(@ls0);
  clear(@i);
}
`;

let clkTck: number | undefined;
function ticksPerSecond(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

function cpuTicks(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
}

function ioCounters(pid: number): { syscw: number; wchar: number } {
  const io = fs.readFileSync(`/proc/${pid}/io`, 'utf8');
  const get = (k: string) => Number(new RegExp(`^${k}: (\\d+)$`, 'm').exec(io)?.[1] ?? NaN);
  return { syscw: get('syscw'), wchar: get('wchar') };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Why the bpftrace rows cannot run here, or undefined when they can. */
export function bpftraceUnavailable(bin = 'bpftrace'): string | undefined {
  if (process.getuid?.() !== 0) return 'not root: bpftrace needs root to load its programs';
  try {
    execFileSync(bin, ['--version'], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    return `no ${bin} on this host`;
  }
  if (!fs.existsSync('/sys/kernel/tracing/events/syscalls/sys_enter_write') && !fs.existsSync('/sys/kernel/debug/tracing/events/syscalls/sys_enter_write'))
    return 'the kernel has no syscalls:sys_enter_write tracepoint (the self-clocked printer needs it)';
  return undefined;
}

interface Running {
  pid: number;
  stderr: string[];
  stop(): Promise<void>;
}

/** Starts `bin ...args <its own pid> ...more`: a shell that execs bpftrace keeps its pid, and appends it ($$). */
function startWithOwnPid(bin: string, args: string[], more: string[], stdoutFd: number): Running {
  const child = spawn('sh', ['-c', `exec "$0" "$@" $$ ${more.join(' ')}`, bin, ...args], { stdio: ['ignore', stdoutFd, 'pipe'] });
  const stderr: string[] = [];
  child.stderr!.setEncoding('utf8').on('data', (d: string) => stderr.push(...d.split('\n').filter((l) => l && !/RLIMIT_MEMLOCK/.test(l))));
  const exited = new Promise<void>((r) => child.once('close', () => r()));
  return {
    pid: child.pid!, stderr,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGINT');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

async function waitUntil(cond: () => boolean, what: string, run: Running, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (!fs.existsSync(`/proc/${run.pid}`)) throw new Error(`bpftrace exited before ${what}: ${run.stderr.slice(-5).join(' | ')}`);
    if (Date.now() > end) throw new Error(`bpftrace: timed out waiting for ${what}${run.stderr.length ? `: ${run.stderr.slice(-3).join(' | ')}` : ''}`);
    await sleep(100);
  }
}

/** The same bpftrace program in a fresh temporary directory, removed afterwards. */
async function withProgram<T>(name: string, text: string, fn: (file: string) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcpscope-bench-bt-'));
  try {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return await fn(file);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** S lines printed a second by bpftrace alone, stdout to /dev/null (-B line, as the agent runs it). */
export function printfLimit(opts: { seconds: number; json?: boolean; bin?: string }): Promise<PrintLimit> {
  return withProgram('print-limit.bt', SELF_CLOCKED, async (file) => {
    const devnull = fs.openSync('/dev/null', 'w');
    const run = startWithOwnPid(opts.bin ?? 'bpftrace', ['-B', 'line', ...(opts.json ? ['-f', 'json'] : []), file], [], devnull);
    fs.closeSync(devnull);
    try {
      // printing has begun once writes flow; give it a second to settle
      await waitUntil(() => fs.existsSync(`/proc/${run.pid}/io`) && ioCounters(run.pid).syscw > 5000, 'its first lines', run);
      await sleep(1000);
      const io0 = ioCounters(run.pid), cpu0 = cpuTicks(run.pid), t0 = process.hrtime.bigint();
      await sleep(opts.seconds * 1000);
      const io1 = ioCounters(run.pid), cpu1 = cpuTicks(run.pid), t1 = process.hrtime.bigint();
      const wall = Number(t1 - t0) / 1e9;
      const lines = io1.syscw - io0.syscw;
      const cpu = (cpu1 - cpu0) / ticksPerSecond() / wall;
      const bytesPerItem = (io1.wchar - io0.wchar) / Math.max(1, lines);
      if (bytesPerItem < 80 || bytesPerItem > 200) throw new Error(`bpftrace printf limit: ${bytesPerItem.toFixed(0)} bytes a write, not one S line a write: the count would be wrong`);
      return { perSecond: lines / wall, cpu, perCpuSecond: lines / wall / Math.max(cpu, 1e-9), bytesPerItem };
    } finally {
      await run.stop();
    }
  });
}

/** Map entries (flow keys of @ls0) printed a second by bpftrace alone; `entries` keys in the map. */
export function mapPrintLimit(opts: { seconds: number; entries: number; json?: boolean; bin?: string }): Promise<PrintLimit> {
  return withProgram('map-print-limit.bt', MAP_PRINT, async (file) => {
    const shm = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
    const out = path.join(shm, `tcpscope-bench-maps-${process.pid}-${opts.json ? 'json' : 'text'}.out`);
    const fd = fs.openSync(out, 'w');
    const env = { ...process.env, BPFTRACE_MAP_KEYS_MAX: String(Math.max(4096, opts.entries * 2)) };
    const child = spawn(opts.bin ?? 'bpftrace', ['-B', 'line', ...(opts.json ? ['-f', 'json'] : []), file, String(opts.entries)], { stdio: ['ignore', fd, 'pipe'], env });
    fs.closeSync(fd);
    const stderr: string[] = [];
    child.stderr!.setEncoding('utf8').on('data', (d: string) => stderr.push(...d.split('\n').filter((l) => l && !/RLIMIT_MEMLOCK/.test(l))));
    const exited = new Promise<void>((r) => child.once('close', () => r()));
    const run: Running = {
      pid: child.pid!, stderr,
      async stop() {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGINT');
          const t = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(t);
        }
      },
    };
    try {
      const size = () => fs.statSync(out).size;
      await waitUntil(() => size() > opts.entries * 60 * 2, 'its first map prints', run);
      await sleep(500);
      const s0 = size(), cpu0 = cpuTicks(run.pid), t0 = process.hrtime.bigint();
      await sleep(opts.seconds * 1000);
      const s1 = size(), cpu1 = cpuTicks(run.pid), t1 = process.hrtime.bigint();
      const wall = Number(t1 - t0) / 1e9;
      const fd2 = fs.openSync(out, 'r');
      const buf = Buffer.alloc(s1 - s0);
      fs.readSync(fd2, buf, 0, buf.length, s0);
      fs.closeSync(fd2);
      // text: one "@ls0[...]: n" line an entry; JSON: every entry's key ends in the direction, 1
      const needle = Buffer.from(opts.json ? ',1": ' : '\n@ls0[');
      let entries = 0;
      for (let i = buf.indexOf(needle); i !== -1; i = buf.indexOf(needle, i + needle.length)) entries++;
      const cpu = (cpu1 - cpu0) / ticksPerSecond() / wall;
      return { perSecond: entries / wall, cpu, perCpuSecond: entries / wall / Math.max(cpu, 1e-9), bytesPerItem: buf.length / Math.max(1, entries) };
    } finally {
      await run.stop();
      fs.rmSync(out, { force: true });
    }
  });
}

const SAMPLE = `// tcpscope bench: one of each kind of output of our programs, to see bpftrace -f json's shapes
BEGIN
{
  printf("S %llu 4 %s %d %s %d %llu %llu %llu %u %u %u %llu %d %d %u %d %s\\n", (uint64)5000000000000, ntop(0x0200f40a), 41234, ntop(0x0700600a), 8080, (uint64)1234, (uint64)56789, (uint64)1200, (uint32)0, (uint32)1000, (uint32)4026532001, (uint64)9001, 1, 0, (uint32)150, 1, "app");
  printf("R %llu 4 %s %d %s %d %d %d %u %llu %d %u %d\\n", (uint64)5000000000001, ntop(0x0200f40a), 41234, ntop(0x0700600a), 8080, 1, 4, (uint32)4026532001, (uint64)9001, 1, (uint32)0, 3);
  @ls0[(uint64)9001, (uint32)4026532001, ntop(0x0200f40a), ntop(0x0700600a), (uint16)0, (uint16)8080, (uint8)1] = count();
  @lt0[(uint64)9001, (uint32)4026532001, ntop(0x0200f40a), ntop(0x0700600a), (uint16)0, (uint16)8080, (uint8)1] = sum(1234);
  @lh0[(uint64)9001, (uint32)4026532001, ntop(0x0200f40a), ntop(0x0700600a), (uint16)0, (uint16)8080, (uint8)1, (uint64)41] = count();
  @lf0[(uint64)9001, (uint32)4026532001, ntop(0x0200f40a), ntop(0x0700600a), (uint16)0, (uint16)8080, (uint8)1] = count();
  clear(@lf0);
  @lc0 = count();
  printf("F %llu %llu\\n", (uint64)4000000000000, (uint64)5000000000000);
  print(@ls0);
  print(@lf0);
  print(@lt0);
  print(@lh0);
  print(@lc0);
  printf("G %llu\\n", (uint64)5500000000000);
  clear(@ls0);
  clear(@lt0);
  clear(@lh0);
  clear(@lc0);
  exit();
}
`;

/** The lines bpftrace -f json prints for SAMPLE (up to its G line), and what our renderers must make of the same values. */
export function jsonSample(bin = 'bpftrace'): Promise<string[]> {
  return withProgram('json-sample.bt', SAMPLE, async (file) => {
    const out = execFileSync(bin, ['-f', 'json', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000 });
    const lines = out.split('\n').filter((l) => l.trim() !== '' && !l.includes('"attached_probes"'));
    const g = lines.findIndex((l) => l.includes('"G '));
    return lines.slice(0, g + 1);
  });
}
