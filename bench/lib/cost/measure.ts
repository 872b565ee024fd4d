// One measurement of the cost benchmark: runs the load client in the client namespace against
// the long-lived load server, samples CPU (load processes, tracer processes, ksoftirqd, the
// machine) exactly when the client's measured window begins and ends, and turns the deltas
// into CPU per completed session.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { type CpuSnapshot, delta, snapshot, USER_HZ } from './cpu';
import type { ExitReport, LoadPlan, WindowReport } from './load-client';
import type { Child, ProcessGroups } from './process-group';
import type { Testbed } from './testbed';

export const LOAD_CLIENT = path.join(__dirname, 'load-client.js');
export const LOAD_SERVER = path.join(__dirname, 'load-server.js');
export const SERVER_PORT = 8000;

export interface Measurement {
  sessions: number;        // completed in the window
  errors: number;
  seconds: number;         // the window, by the client's clock
  rate: number;            // sessions / seconds
  /** µs of CPU per session: load processes (client + server), tracer processes, both. */
  loadUs: number;
  tracerUs: number;
  processUs: number;
  /** µs per session of the tracer's BPF programs (0 unless kernel.bpf_stats_enabled), inside the load's (or softirq) time. */
  bpfUs: number;
  /** BPF program runs in the window (counted while bpf_stats_enabled), and the runs the kernel skipped (recursion): silently lost events. */
  bpfRuns: number;
  bpfMisses: number;
  /** TCP segments retransmitted in both namespaces in the window, per 1000 sessions. */
  retransPerK: number;
  /** Other people's bpftrace processes running meanwhile, and their BPF time per session (their probes fire on our sessions, inside the load's time). */
  foreignBpftraces: number;
  foreignBpfUs: number;
  /** µs per session of machine-wide busy time (/proc/stat), its softirq part, all kernel threads, ksoftirqd threads. */
  machineUs: number;
  softirqUs: number;
  kthreadsUs: number;
  ksoftirqdUs: number;
  exit: ExitReport;
}

/** TcpRetransSegs of the network namespace a process lives in (its /proc/<pid>/net/snmp). */
export function retransSegs(pid: number): number {
  try {
    const tcp = readFileSync(`/proc/${pid}/net/snmp`, 'utf8').split('\n').filter((l) => l.startsWith('Tcp:'));
    const names = tcp[0]!.split(/\s+/), values = tcp[1]!.split(/\s+/);
    return Number(values[names.indexOf('RetransSegs')]);
  } catch {
    return NaN;
  }
}

/** Starts the load server in the server namespace; resolves once it listens. */
export async function startLoadServer(groups: ProcessGroups, bed: Testbed): Promise<Child> {
  const c = groups.spawn('load-server', 'ip', ['netns', 'exec', bed.serverNs, process.execPath, LOAD_SERVER, bed.serverAddr, String(SERVER_PORT)]);
  await c.waitFor(/"listening"/, 20_000);
  return c;
}

/** Runs the client once; tracerPids are sampled with the load processes. */
export async function measure(groups: ProcessGroups, bed: Testbed, server: Child, plan: Omit<LoadPlan, 'host' | 'port'>, tracerPids: number[]): Promise<Measurement> {
  const full: LoadPlan = { host: bed.serverAddr, port: SERVER_PORT, ...plan, waitForAck: true };
  let client: Child | undefined = undefined;
  let before: CpuSnapshot | undefined;
  let after: CpuSnapshot | undefined;
  let window: WindowReport | undefined;
  let retrans0 = 0, retrans1 = 0;
  const retrans = () => retransSegs(client!.pid) + retransSegs(server.pid);
  let exit: ExitReport | undefined;
  const groupsOf = () => ({ load: [client!.pid, server.pid], tracer: tracerPids });
  client = groups.spawn('load-client', 'ip', ['netns', 'exec', bed.clientNs, process.execPath, LOAD_CLIENT, JSON.stringify(full)], {
    stdin: true,
    onLine(line) {
      if (!line.startsWith('{')) return;
      const msg = JSON.parse(line) as { phase: string };
      if (msg.phase === 'measure') {
        before = snapshot(groupsOf());
        retrans0 = retrans();
      } else if (msg.phase === 'done') {
        after = snapshot(groupsOf());
        retrans1 = retrans();
        window = msg as WindowReport;
        client!.proc.stdin?.end('read\n'); // the client may exit now
      } else if (msg.phase === 'exit') exit = msg as ExitReport;
    },
  });
  const limit = setTimeout(() => void client!.stop('SIGKILL'), full.warmupMs + full.measureMs + 30_000);
  const code = await client.exited;
  clearTimeout(limit);
  if (!before || !after || !window || !exit) throw new Error(`load client ended early (exit ${code}): ${client.stderr.slice(-5).join(' | ')}`);
  const d = delta(before, after);
  if (Number.isNaN(d.groups.load) || Number.isNaN(d.groups.tracer)) throw new Error('a load or tracer process exited during the measured window');
  const n = Math.max(1, window.sessions);
  const us = (ticks: number) => (ticks * 1e6) / USER_HZ / n;
  return {
    sessions: window.sessions, errors: window.errors, seconds: window.ms / 1000, rate: window.sessions / (window.ms / 1000),
    loadUs: us(d.groups.load!), tracerUs: us(d.groups.tracer!), processUs: us(d.groups.load! + d.groups.tracer!),
    bpfUs: d.bpfNs / 1000 / n, bpfRuns: d.bpfRuns, bpfMisses: d.bpfMisses, retransPerK: ((retrans1 - retrans0) * 1000) / n, foreignBpftraces: d.foreignBpftraces, foreignBpfUs: d.foreignBpfNs / 1000 / n, machineUs: us(d.machineBusy), softirqUs: us(d.machineSoftirq), kthreadsUs: us(d.kthreads), ksoftirqdUs: us(d.ksoftirqd), exit,
  };
}
