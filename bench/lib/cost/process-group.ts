// The cost benchmark's child processes (load generators, bpftrace, tcpdump, the agent and the
// collector), each started in its own process group so that stopping it, or a failed run,
// takes its whole tree with it (the agent's bpftrace child included). Keeps their output
// lines for readiness checks and reports.
import { type ChildProcess, spawn } from 'node:child_process';

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  stdout: string[];
  stderr: string[];
  /** Resolves with the exit code (or the signal's name) once the process is gone. */
  exited: Promise<number | string>;
  /** Resolves with the first line (stdout or stderr) matching re; rejects on exit or timeout. */
  waitFor(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  /** Signals the process (SIGINT by default), then SIGKILLs its group after graceMs. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | string>;
}

export interface SpawnOptions {
  /** 'pipe' (kept as lines) or a file descriptor (e.g. /dev/null opened for writing). */
  stdout?: 'pipe' | number;
  /** A pipe to write to (proc.stdin); default: none. */
  stdin?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Called for each stdout line as it arrives (only with stdout 'pipe'). */
  onLine?(line: string): void;
  /** Most lines kept per stream (the oldest go first); default 2000. */
  keepLines?: number;
}

/** Every child started through it; killAll() is synchronous so it also works from signal handlers. */
export class ProcessGroups {
  private readonly live = new Set<Child>();

  spawn(name: string, cmd: string, args: string[], opts: SpawnOptions = {}): Child {
    const proc = spawn(cmd, args, { detached: true, env: opts.env ?? process.env, stdio: [opts.stdin ? 'pipe' : 'ignore', opts.stdout ?? 'pipe', 'pipe'] });
    proc.stdin?.on('error', () => undefined); // written to after the process died: nothing to do
    const stdout: string[] = [];
    const stderr: string[] = [];
    const keep = opts.keepLines ?? 2000;
    const waiters = new Set<() => void>();
    const feed = (into: string[], onLine?: (l: string) => void) => {
      let rest = '';
      return (chunk: Buffer) => {
        const lines = (rest + chunk.toString()).split('\n');
        rest = lines.pop()!;
        for (const l of lines) {
          into.push(l);
          onLine?.(l);
        }
        if (into.length > keep) into.splice(0, into.length - keep);
        for (const w of waiters) w();
      };
    };
    proc.stdout?.on('data', feed(stdout, opts.onLine));
    proc.stderr!.on('data', feed(stderr));
    let done = false;
    const exited = new Promise<number | string>((resolve) => {
      proc.on('error', (err) => {
        stderr.push(`spawn ${cmd}: ${err.message}`);
        done = true;
        this.live.delete(child);
        for (const w of waiters) w();
        resolve(-1);
      });
      proc.on('exit', (code, signal) => {
        done = true;
        this.live.delete(child);
        for (const w of waiters) w();
        resolve(code ?? signal ?? -1);
      });
    });
    const killGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-proc.pid!, signal);
      } catch { /* gone */ }
    };
    const child: Child = {
      name, proc, pid: proc.pid ?? -1, stdout, stderr, exited,
      async waitFor(re, ms = 30_000) {
        const end = Date.now() + ms;
        for (;;) {
          for (const l of [...stdout, ...stderr]) {
            const m = l.match(re);
            if (m) return m;
          }
          if (done) throw new Error(`${name} exited before printing ${re}: ${stderr.slice(-5).join(' | ')}`);
          if (Date.now() > end) throw new Error(`${name}: timed out waiting for ${re}: ${stderr.slice(-5).join(' | ')}`);
          await new Promise<void>((r) => {
            const t = setTimeout(fire, 100);
            function fire() {
              clearTimeout(t);
              waiters.delete(fire);
              r();
            }
            waiters.add(fire);
          });
        }
      },
      async stop(signal = 'SIGINT', graceMs = 8000) {
        if (!done) {
          try {
            proc.kill(signal);
          } catch { /* gone */ }
          const t = setTimeout(() => killGroup('SIGKILL'), graceMs);
          await exited;
          clearTimeout(t);
        }
        killGroup('SIGKILL'); // anything the process left behind in its group
        return exited;
      },
    };
    this.live.add(child);
    return child;
  }

  /** SIGKILLs every live group (synchronous). */
  killAll(): void {
    for (const c of this.live) {
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch { /* gone */ }
    }
    this.live.clear();
  }
}
