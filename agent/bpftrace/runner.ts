// Runs and supervises one bpftrace process with a generated program: reads its stdout line
// by line, parses (parse.ts), emits records and counted rejects, restarts it with
// exponential backoff when it dies, and stops it cleanly (SIGINT, then SIGTERM, SIGKILL).
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TraceRecord } from '../records';
import { type RejectReason, TraceParser } from './parse';
import { generateProgram, type GeneratedProgram, type KernelFormats, type ProgramOptions, readKernelFormats } from './program';

/** The few logger methods the runner uses (pino's Logger fits). */
export interface RunnerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface RunnerOptions {
  program: ProgramOptions;
  /** Format files to generate from; default: read from the running kernel's tracefs. */
  formats?: KernelFormats;
  tracefsRoot?: string;
  bpftrace?: string;
  /** BPFTRACE_MAP_KEYS_MAX (default 65536; see the programs' header for why). */
  mapKeysMax?: number;
  /** BPFTRACE_PERF_RB_PAGES (perf buffer pages per CPU); bpftrace's default (64) when unset. */
  perfRbPages?: number;
  log?: RunnerLog;
  /** Restart when bpftrace dies unexpectedly (default true). */
  restart?: boolean;
  backoffInitialMs?: number;   // default 500
  backoffMaxMs?: number;       // default 30000
  /** A process that ran this long resets the backoff (default 60000). */
  stableAfterMs?: number;
  /** How long start() waits for the programs to be attached (default 60000). */
  startTimeoutMs?: number;
  /** SIGINT, then after this SIGTERM, then after this again SIGKILL (default 5000). */
  stopTimeoutMs?: number;
}

export interface RunnerStats {
  running: boolean;
  restarts: number;
  accepted: number;
  rejected: Record<RejectReason, number>;
  rejectedTotal: number;
  lost: number;
  stderrLines: number;
}

const MEMLOCK_WARNING = /couldn't set RLIMIT_MEMLOCK/;
const noLog: RunnerLog = { info() {}, warn() {}, error() {} };

/**
 * Events: 'record' (TraceRecord), 'reject' (line, reason, message), 'ready' (each process
 * attached), 'counts-end' (a count-mode table is complete), 'restart' (restart count), 'stderr' (line), 'exit' (code, signal, expected).
 * Implements the agent's TraceSource (agent/agent.ts).
 */
export class BpftraceRunner extends EventEmitter {
  readonly program: GeneratedProgram;
  readonly parser = new TraceParser();
  private child: ChildProcess | null = null;
  private stopping = false;
  private restarts = 0;
  private failuresInRow = 0;
  private lost = 0;
  /** Probe runs the kernel skipped: of processes that ended, and the last reading of the current one. */
  private missesEnded = 0;
  private missesCurrent = 0;
  private stderrLines = 0;
  private recentStderr: string[] = [];
  private restartTimer: NodeJS.Timeout | null = null;
  private readonly dir: string;
  private readonly file: string;
  private readonly log: RunnerLog;

  constructor(private readonly opts: RunnerOptions) {
    super();
    this.log = opts.log ?? noLog;
    this.program = generateProgram(opts.program, opts.formats ?? readKernelFormats(opts.tracefsRoot));
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'tcpscope-bt-'));
    this.file = path.join(this.dir, `tcpscope-${opts.program.kind}.bt`);
    writeFileSync(this.file, this.program.text);
  }

  /** The running bpftrace's pid, if any. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  // ---- TraceSource (agent/agent.ts) ----
  onRecord(fn: (r: TraceRecord) => void): void { this.on('record', fn); }
  onReject(fn: (line: string, reason: string) => void): void { this.on('reject', fn); }
  onRestart(fn: () => void): void { this.on('restart', fn); }

  stats(): RunnerStats {
    return {
      running: this.child !== null, restarts: this.restarts, accepted: this.parser.accepted, rejected: { ...this.parser.rejected },
      rejectedTotal: this.parser.rejectedTotal, lost: this.lost, stderrLines: this.stderrLines,
    };
  }

  /**
   * Probe runs the kernel skipped since this runner started: BPF recursion protection drops
   * a run when the tracepoint fires inside another run of the same program on the same CPU
   * (e.g. a softirq close interrupting a process-context one). bpftrace does not report
   * them; the kernel counts them per program (recursion_misses in the fdinfo of its fds).
   */
  probeMisses(): number {
    const pid = this.child?.pid;
    if (pid) {
      const n = readRecursionMisses(pid);
      if (n !== undefined) this.missesCurrent = n;
    }
    return this.missesEnded + this.missesCurrent;
  }

  /** Starts bpftrace; resolves once its probes are attached, rejects with bpftrace's own error when it cannot start. */
  async start(): Promise<void> {
    if (this.child) throw new Error('bpftrace runner already started');
    this.stopping = false;
    await this.spawnOnce();
  }

  private spawnOnce(): Promise<void> {
    const env: NodeJS.ProcessEnv = { ...process.env, BPFTRACE_MAP_KEYS_MAX: String(this.opts.mapKeysMax ?? 65536) };
    if (this.opts.perfRbPages) env.BPFTRACE_PERF_RB_PAGES = String(this.opts.perfRbPages);
    const bin = this.opts.bpftrace ?? 'bpftrace';
    // -B line: each record leaves bpftrace when printed, not when a 4 KB buffer fills
    const child = spawn(bin, ['-B', 'line', this.file], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.recentStderr = [];
    this.parser.restart();
    this.missesEnded += this.missesCurrent;
    this.missesCurrent = 0;
    const startedAt = Date.now();
    let ready = false;

    return new Promise<void>((resolve, reject) => {
      const timeout = setTimeout(() => {
        if (ready) return;
        fail(new Error(`bpftrace did not attach its probes within ${this.opts.startTimeoutMs ?? 60_000} ms${this.stderrTail()}`));
        child.kill('SIGKILL');
      }, this.opts.startTimeoutMs ?? 60_000);
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timeout);
        reject(err);
      };

      child.on('error', (err) => {
        const code = (err as NodeJS.ErrnoException).code;
        fail(new Error(code === 'ENOENT' ? `bpftrace is not installed ("${bin}" not found); on Debian/Ubuntu: apt-get install bpftrace` : `cannot run ${bin}: ${err.message}`));
      });

      splitLines(child.stdout!, (line) => {
        const out = this.parser.parse(line);
        switch (out.type) {
          case 'record':
            if (out.record.kind === 'lost') this.lost += out.record.count;
            this.emit('record', out.record);
            break;
          case 'records':
            for (const r of out.records) this.emit('record', r);
            break;
          case 'reject':
            this.emit('reject', line, out.reason, out.message);
            break;
          case 'ready':
            if (!ready) {
              ready = true;
              settled = true;
              clearTimeout(timeout);
              this.emit('ready');
              resolve();
            }
            break;
          case 'counts-end':
            this.emit('counts-end');
            break;
          case 'note':
            break;
        }
      });
      splitLines(child.stderr!, (line) => {
        if (!line || MEMLOCK_WARNING.test(line)) return;
        this.stderrLines++;
        this.recentStderr.push(line);
        if (this.recentStderr.length > 20) this.recentStderr.shift();
        this.emit('stderr', line);
        this.log.warn({ line }, 'bpftrace stderr');
      });

      // 'close': stdout and stderr are drained (END's output included), the process is gone
      child.on('close', (code, signal) => {
        if (this.child === child) this.child = null;
        const expected = this.stopping;
        this.emit('exit', code, signal, expected);
        if (!ready) {
          fail(new Error(`bpftrace failed to start (exit ${code ?? signal})${this.stderrTail()}`));
        }
        if (expected || !ready) {
          if (!ready && !expected && this.restarts > 0) this.scheduleRestart(); // a restart that failed: keep trying
          return;
        }
        this.log.error({ code, signal, ranMs: Date.now() - startedAt, stderr: this.recentStderr.slice(-5) }, 'bpftrace exited unexpectedly');
        if (Date.now() - startedAt >= (this.opts.stableAfterMs ?? 60_000)) this.failuresInRow = 0;
        if (this.opts.restart ?? true) this.scheduleRestart();
      });
    });
  }

  private stderrTail(): string {
    const lines = this.recentStderr.filter((l) => !MEMLOCK_WARNING.test(l));
    return lines.length ? `:\n${lines.slice(-10).join('\n')}` : '';
  }

  private scheduleRestart(): void {
    if (this.stopping || this.restartTimer) return;
    const initial = this.opts.backoffInitialMs ?? 500;
    const delay = Math.min(this.opts.backoffMaxMs ?? 30_000, initial * 2 ** this.failuresInRow);
    this.failuresInRow++;
    this.log.warn({ delayMs: delay, restarts: this.restarts }, 'restarting bpftrace');
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.stopping) return;
      this.restarts++;
      this.emit('restart', this.restarts);
      this.spawnOnce().then(
        () => this.log.info({ restarts: this.restarts }, 'bpftrace restarted'),
        (err: Error) => this.log.error({ err: err.message }, 'bpftrace restart failed'),
      );
    }, delay);
  }

  /** SIGINT (bpftrace runs END and exits), then SIGTERM, then SIGKILL; resolves when its output is drained. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const closed = new Promise<void>((r) => child.once('close', () => r()));
      const wait = (ms: number) => Promise.race([closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
      const ms = this.opts.stopTimeoutMs ?? 5000;
      child.kill('SIGINT');
      if (!(await wait(ms))) {
        this.log.warn({ pid: child.pid }, 'bpftrace ignored SIGINT; sending SIGTERM');
        child.kill('SIGTERM');
        if (!(await wait(ms))) {
          child.kill('SIGKILL');
          await closed;
        }
      }
    }
    this.child = null;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Calls fn for each complete line of a stream (and for a last unterminated line at its end). */
function splitLines(stream: NodeJS.ReadableStream, fn: (line: string) => void): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    let start = 0;
    let nl = chunk.indexOf('\n');
    if (nl === -1) {
      rest += chunk;
      return;
    }
    fn(rest + chunk.slice(0, nl));
    rest = '';
    start = nl + 1;
    while ((nl = chunk.indexOf('\n', start)) !== -1) {
      fn(chunk.slice(start, nl));
      start = nl + 1;
    }
    rest = chunk.slice(start);
  });
  stream.on('end', () => {
    if (rest) fn(rest);
    rest = '';
  });
}

/** Sum of recursion_misses over a process's BPF program fds (Linux >= 5.12); undefined when unreadable. */
export function readRecursionMisses(pid: number, procRoot = '/proc'): number | undefined {
  const dir = path.join(procRoot, String(pid), 'fdinfo');
  let fds: string[];
  try {
    fds = fs.readdirSync(dir);
  } catch {
    return undefined;
  }
  let total = 0;
  for (const fd of fds) {
    let text: string;
    try {
      text = fs.readFileSync(path.join(dir, fd), 'utf8');
    } catch {
      continue; // closed meanwhile
    }
    if (!text.includes('prog_type:')) continue;
    const m = /^recursion_misses:\s*(\d+)/m.exec(text);
    if (m) total += Number(m[1]);
  }
  return total;
}
