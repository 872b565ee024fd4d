// Real tcpscope processes for tests: spawn the CLI, wait for a line that says it is ready,
// collect its output, and make sure it is gone when the test ends (kill -9 included).
import { type ChildProcess, spawn } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';

export const CLI = path.resolve(__dirname, '..', '..', 'cli', 'main.js');

export interface Proc {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  exited: Promise<number | null>;
  waitFor(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** The tcpscope CLI with these arguments (or another command, when cmd is given). */
export function startProc(args: string[], env: NodeJS.ProcessEnv = {}, cmd = process.execPath): Proc {
  return spawnProc(cmd, cmd === process.execPath ? [CLI, ...args] : args, env);
}

/** A node script (not the CLI) with these arguments. */
export function startScript(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  return spawnProc(process.execPath, [script, ...args], env);
}

function spawnProc(cmd: string, argv: string[], env: NodeJS.ProcessEnv): Proc {
  const child = spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters: Array<() => void> = [];
  const feed = (into: string[]) => {
    let rest = '';
    return (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop()!;
      into.push(...lines);
      for (const w of waiters.splice(0)) w();
    };
  };
  child.stdout!.on('data', feed(stdout));
  child.stderr!.on('data', feed(stderr));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => {
    live.delete(child);
    for (const w of waiters.splice(0)) w();
    resolve(code);
  }));
  const proc: Proc = {
    child, stdout, stderr, exited,
    async waitFor(re, ms = 20_000) {
      const end = Date.now() + ms;
      for (;;) {
        const hit = [...stdout, ...stderr].map((l) => l.match(re)).find((m) => m);
        if (hit) return hit;
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`process exited before printing ${re}: ${stderr.slice(-5).join('\n')}`);
        if (Date.now() > end) throw new Error(`timed out waiting for ${re}; stderr: ${stderr.slice(-5).join('\n')}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
    },
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
  return proc;
}

/** A free TCP port on loopback (bind to 0, read, release). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}
