// The columns of the cost benchmark: what runs beside the session load, and which processes'
// CPU counts as the tracer's. Untraced (nothing), the per-event tcplife-style bpftrace program
// (a printf per session, to /dev/null), the agent's own always-on bpftrace program alone (to
// /dev/null), `tcpdump -w /dev/null` on the client's veth, and tcpscope itself (the real agent
// with its bpftrace child, and the collector on loopback). Programs come from the project's
// generator (agent/bpftrace/program.ts), never from copied text.
import { openSync, closeSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { generateProgram, type KernelFormats, type ProgramOptions } from '../../../agent/bpftrace/program';
import { CLI, freePort } from '../../../test/lib/procs';
import { childPids } from './cpu';
import type { Child, ProcessGroups } from './process-group';
import type { Testbed } from './testbed';

export type TracerKey = 'untraced' | 'per-event' | 'summed' | 'tcpdump' | 'tcpscope';

export interface TracerEnv {
  groups: ProcessGroups;
  bed: Testbed;
  formats: KernelFormats;
  tmpDir: string;
  log(msg: string): void;
}

export interface RunningTracer {
  /** Processes whose CPU is the tracer's (all alive while it runs). */
  pids: number[];
  /** Stops it; resolves with what it said on the way out (drops, losses). */
  stop(): Promise<string[]>;
}

export interface TracerSpec {
  key: TracerKey;
  label: string;
  start(env: TracerEnv): Promise<RunningTracer>;
}

/** The bpftrace environment the agent's runner uses (map size; see the programs' header). */
const BPFTRACE_ENV = { ...process.env, BPFTRACE_MAP_KEYS_MAX: '65536' };

export function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Why this host cannot run the traced columns, or null. */
export function bpftraceUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (bpftrace, network namespaces)';
  if (!hasCommand('bpftrace')) return 'bpftrace is not installed (npm run setup installs it)';
  return null;
}

/** Probes a program attaches ("Attaching N probes"): one perf event each once attached. */
export function probeCount(text: string): number {
  return (text.match(/^(BEGIN|END|tracepoint:\S+|interval:\S+|profile:\S+|k(ret)?probe:\S+|u(ret)?probe:\S+|software:\S+|hardware:\S+)\s*$/gm) ?? []).length;
}

function perfEventFds(pid: number): number {
  let n = 0;
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === 'anon_inode:[perf_event]') n++;
      } catch { /* closed meanwhile */ }
    }
  } catch { /* gone */ }
  return n;
}

/**
 * Waits until a bpftrace whose output goes to /dev/null has attached its probes: it holds one
 * perf-event fd per probe once attached (checked against its "B" line on 0.17: both appear together).
 */
export async function waitAttached(child: Child, probes: number, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (perfEventFds(child.pid) < probes) {
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) throw new Error(`${child.name} exited: ${child.stderr.filter((l) => !/RLIMIT_MEMLOCK/.test(l)).slice(-5).join(' | ')}`);
    if (Date.now() > end) throw new Error(`${child.name} did not attach ${probes} probes within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 200));
}

/** bpftrace running a generated program with its output to `out` (default /dev/null). */
export async function startBpftrace(env: TracerEnv, name: string, opts: ProgramOptions, out = '/dev/null'): Promise<{ child: Child; text: string }> {
  const prog = generateProgram(opts, env.formats);
  const file = path.join(env.tmpDir, `${name}.bt`);
  writeFileSync(file, prog.text);
  const fd = openSync(out, 'w');
  let child: Child;
  try {
    child = env.groups.spawn(name, 'bpftrace', [file], { stdout: fd, env: BPFTRACE_ENV });
  } finally {
    closeSync(fd);
  }
  try {
    await waitAttached(child, probeCount(prog.text));
  } catch (err) {
    await child.stop('SIGKILL');
    throw err;
  }
  return { child, text: prog.text };
}

const stderrNotes = (c: Child) => c.stderr.filter((l) => l.trim() && !/RLIMIT_MEMLOCK/.test(l));

function bpftraceColumn(key: TracerKey, label: string, opts: ProgramOptions): TracerSpec {
  return {
    key, label,
    async start(env) {
      const { child } = await startBpftrace(env, key, opts);
      return {
        pids: [child.pid],
        async stop() {
          await child.stop('SIGINT');
          return stderrNotes(child);
        },
      };
    },
  };
}

/** What the agent's program does with sessions: one line each, or sums in kernel maps. */
export interface ProgramShape {
  flowSums: string[];        // maps filled with sum()/count() per flow key in the lifespan probe
  perSessionPrintf: boolean; // a printf("S ...") per session
  lines: number;
  sha: string;
  summary: string;
}

export function describeProgram(text: string): ProgramShape {
  const life = text.split(/^(?=tracepoint:|interval:|BEGIN|END)/m).filter((p) => p.startsWith('tracepoint:sock:inet_sock_set_state')).join('\n');
  const flowSums = [...new Set([...life.matchAll(/(@[A-Za-z_]+)\d*\[[^\]\n]+\]\s*=\s*(?:sum|count)\(/g)].map((m) => m[1]!))];
  const perSessionPrintf = /printf\("S /.test(life);
  const sha = createHash('sha256').update(text).digest('hex').slice(0, 12);
  const lines = text.split('\n').length;
  const summary = flowSums.length
    ? `sums sessions per flow in bpftrace maps (${flowSums.join(' ')})${perSessionPrintf ? ' and prints every session' : ', no per-session line'}`
    : perSessionPrintf ? 'prints one line per session (no flow-sum maps)' : 'neither flow sums nor per-session lines found';
  return { flowSums, perSessionPrintf, lines, sha, summary: `${summary}; ${lines} lines, sha256 ${sha}` };
}

/** The real tcpscope: collector (loopback, no TLS, memory only) + agent (its own bpftrace child). */
function tcpscopeColumn(onProgram: (shape: ProgramShape) => void): TracerSpec {
  return {
    key: 'tcpscope', label: 'tcpscope (bpftrace + agent + collector)',
    async start(env) {
      const [grpc, query, http] = [await freePort(), await freePort(), await freePort()];
      const logEnv = { ...process.env, TCPSCOPE_LOG_LEVEL: 'info' }; // its "connected to collector" line is info
      const collector = env.groups.spawn('collector', process.execPath, [CLI, 'collector', '--grpc-listen', `127.0.0.1:${grpc}`,
        '--query-listen', `127.0.0.1:${query}`, '--http-listen', `127.0.0.1:${http}`], { env: logEnv });
      let agent: Child | undefined;
      try {
        await collector.waitFor(/collector: ingest/, 30_000);
        agent = env.groups.spawn('agent', process.execPath, [CLI, 'agent', '--collector', `127.0.0.1:${grpc}`, '--node-name', 'cost-bench'], { env: logEnv });
        await agent.waitFor(/^agent: tracing/, 90_000);          // bpftrace attached (its "B" line was read)
        await agent.waitFor(/connected to collector/, 30_000);   // the gRPC stream is up
        const bt = childPids(agent.pid).find((p) => {
          try {
            return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'bpftrace';
          } catch {
            return false;
          }
        });
        if (!bt) throw new Error('the agent runs no bpftrace child');
        const argv = readFileSync(`/proc/${bt}/cmdline`, 'utf8').split('\0').filter(Boolean);
        const file = argv.find((a) => a.endsWith('.bt'));
        if (file) onProgram(describeProgram(readFileSync(file, 'utf8')));
        const a = agent;
        return {
          pids: [a.pid, bt, collector.pid],
          async stop() {
            const notes: string[] = [];
            try {
              const st = execFileSync(process.execPath, [CLI, 'status', '-o', 'json', '--collector', `127.0.0.1:${query}`], { encoding: 'utf8', timeout: 15_000 });
              notes.push(...lossNotes(st));
            } catch (err) {
              notes.push(`status failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
            }
            await a.stop('SIGTERM', 15_000);
            await collector.stop('SIGTERM', 10_000);
            notes.push(...a.stderr.filter((l) => /"level":(40|50|60)/.test(l)).slice(-3));
            return notes;
          },
        };
      } catch (err) {
        await agent?.stop('SIGKILL');
        await collector.stop('SIGKILL');
        throw err;
      }
    },
  };
}

/** Non-zero loss counters from `tcpscope status -o json`, as short notes. */
function lossNotes(json: string): string[] {
  const out: string[] = [];
  const walk = (v: unknown, at: string) => {
    if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) walk(x, at ? `${at}.${k}` : k);
    } else if (/los[st]|drop|reject/i.test(at) && typeof v === 'number' && v > 0) {
      out.push(`${at}=${v}`);
    } else if (/los[st]|drop|reject/i.test(at) && typeof v === 'string' && /^\d+$/.test(v) && v !== '0') {
      out.push(`${at}=${v}`);
    }
  };
  try {
    walk(JSON.parse(json), '');
  } catch {
    out.push('status: not JSON');
  }
  return out;
}

function tcpdumpColumn(): TracerSpec {
  return {
    key: 'tcpdump', label: 'tcpdump -w /dev/null',
    async start(env) {
      const c = env.groups.spawn('tcpdump', 'ip', ['netns', 'exec', env.bed.clientNs, 'tcpdump', '-i', env.bed.clientDev, '-n', '-w', '/dev/null']);
      try {
        await c.waitFor(/listening on/, 20_000);
      } catch (err) {
        await c.stop('SIGKILL');
        throw err;
      }
      return {
        pids: [c.pid],
        async stop() {
          await c.stop('SIGINT');
          return c.stderr.filter((l) => /packets/.test(l));
        },
      };
    },
  };
}

/** The columns, in the order they run; `onProgram` hears which program the agent ran. */
export function tracerColumns(onProgram: (shape: ProgramShape) => void): TracerSpec[] {
  return [
    bpftraceColumn('per-event', 'per-event bpftrace printf (tcplife way)', { kind: 'life' }),
    bpftraceColumn('summed', "agent's bpftrace program alone (kind agent, 1 s)", { kind: 'agent', intervalSec: 1 }),
    tcpdumpColumn(),
    tcpscopeColumn(onProgram),
  ];
}
