// Real tcpscope processes for the collector benchmarks: the collector and agent as users run
// them (`node dist/cli/main.js collector|agent ...`), and the benchmarks' own helper scripts;
// each with its output kept, a wait for the line that says it is ready, and a kill that
// always ends it (SIGTERM, then SIGKILL). Everything started here is killed when the
// benchmark process exits.
import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';

export const CLI = path.resolve(__dirname, '..', '..', '..', 'cli', 'main.js');

export interface BenchProc {
  child: ChildProcess;
  pid: number;
  lines: string[];
  /** Resolves with the first line (stdout or stderr) matching re. */
  waitFor(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  /** Calls fn for every stdout line from now on. */
  onLine(fn: (line: string) => void): void;
  kill(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export function startProcess(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): BenchProc {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(child);
  const lines: string[] = [];
  const listeners: Array<(l: string) => void> = [];
  const wake: Array<() => void> = [];
  const feed = (out: boolean) => {
    let rest = '';
    return (chunk: Buffer) => {
      const ls = (rest + chunk.toString()).split('\n');
      rest = ls.pop()!;
      for (const l of ls) {
        lines.push(l);
        if (lines.length > 2000) lines.splice(0, 1000);
        if (out) for (const f of listeners) f(l);
      }
      for (const w of wake.splice(0)) w();
    };
  };
  child.stdout!.on('data', feed(true));
  child.stderr!.on('data', feed(false));
  const exited = new Promise<void>((r) => child.on('exit', () => {
    live.delete(child);
    for (const w of wake.splice(0)) w();
    r();
  }));
  return {
    child, pid: child.pid!, lines,
    async waitFor(re, ms = 30_000) {
      const end = Date.now() + ms;
      for (;;) {
        for (const l of lines) {
          const m = re.exec(l);
          if (m) return m;
        }
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${path.basename(args[0] ?? cmd)} exited before printing ${re}: ${lines.slice(-5).join(' | ')}`);
        if (Date.now() > end) throw new Error(`timed out waiting for ${re}: ${lines.slice(-5).join(' | ')}`);
        await new Promise<void>((r) => {
          wake.push(r);
          setTimeout(r, 200);
        });
      }
    },
    onLine(fn) {
      listeners.push(fn);
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

export interface CollectorProc extends BenchProc {
  ingest: string;
  http: string;
}

/** `tcpscope collector` on loopback, every port chosen by the kernel. */
export async function startCollectorProcess(extra: string[] = []): Promise<CollectorProc> {
  const p = startProcess(process.execPath, [CLI, 'collector', '--grpc-listen', '127.0.0.1:0', '--query-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', ...extra],
    { TCPSCOPE_LOG_LEVEL: process.env.TCPSCOPE_LOG_LEVEL ?? 'warn' });
  try {
    const m = await p.waitFor(/collector: ingest (\S+), query \S+, HTTP http:\/\/([^/]+)\//);
    return { ...p, ingest: m[1]!, http: m[2]! };
  } catch (err) {
    await p.kill();
    throw err;
  }
}

/** A helper script of bench/lib/collector (compiled: dist/bench/lib/collector/<name>.js). */
export function startBenchScript(name: string, args: string[], env: NodeJS.ProcessEnv = {}): BenchProc {
  return startProcess(process.execPath, [path.join(__dirname, `${name}.js`), ...args], env);
}
