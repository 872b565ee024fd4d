// CPU time as the kernel accounts it, for the cost benchmark: per process from
// /proc/<pid>/stat (utime+stime of all its threads, optionally + cutime+cstime of its
// waited-for children), machine-wide busy time from /proc/stat (user+nice+system+irq+
// softirq), the kernel threads (ksoftirqd: softirq work no process of ours is charged for;
// kworkers, rcu), and the run time of a process's BPF programs (fdinfo run_time_ns, counted
// while kernel.bpf_stats_enabled is 1). Units: clock ticks (USER_HZ, 100 per second on
// Linux) except BPF time (ns).
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';

export const USER_HZ = 100;

/** utime+stime (+ cutime+cstime when withChildren) of a live process, in ticks; undefined when it is gone. */
export function processTicks(pid: number, withChildren = false): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // fields after "(comm) ": state is field 3, utime 14, stime 15, cutime 16, cstime 17
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const own = Number(f[11]) + Number(f[12]);
  return withChildren ? own + Number(f[13]) + Number(f[14]) : own;
}

export interface MachineTicks {
  busy: number;      // user + nice + system + irq + softirq
  softirq: number;
  irq: number;
  total: number;     // every column (busy + idle + iowait + steal)
}

/** The "cpu" line of /proc/stat (all CPUs). guest time is already inside user. */
export function machineTicks(): MachineTicks {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = v;
  return { busy: user + nice + system + irq + softirq, softirq, irq, total: user + nice + system + idle + iowait + irq + softirq + steal };
}

/** One pass over /proc: every kernel thread's utime+stime (children of kthreadd), the ksoftirqd/N ones summed, and the pids of bpftrace processes. */
export function scanProcesses(): { kthreads: Map<number, number>; ksoftirqd: number; bpftrace: number[] } {
  const kthreads = new Map<number, number>();
  const bpftrace: number[] = [];
  let ksoftirqd = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let text: string;
    try {
      text = readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch {
      continue;
    }
    const close = text.lastIndexOf(')');
    const comm = text.slice(text.indexOf('(') + 1, close);
    const f = text.slice(close + 2).split(' ');
    if (comm === 'bpftrace') bpftrace.push(Number(d));
    if (f[1] !== '2') continue; // ppid: kthreadd
    const t = Number(f[11]) + Number(f[12]);
    kthreads.set(Number(d), t);
    if (comm.startsWith('ksoftirqd/')) ksoftirqd += t;
  }
  return { kthreads, ksoftirqd, bpftrace };
}

/**
 * The BPF programs a process holds, summed over its bpf-prog fds: run time (ns; 0 unless
 * bpf_stats_enabled) and recursion misses (runs the kernel skipped because another BPF
 * program was already running on that CPU, e.g. interrupted by the softirq that fired this
 * one; always counted, and nothing else reports them: no "Lost" line).
 */
export function bpfProgStats(pid: number): { runNs: number; runs: number; misses: number } {
  let runNs = 0, runs = 0, misses = 0;
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return { runNs, runs, misses };
  }
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== 'anon_inode:bpf-prog') continue;
      const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
      runNs += Number(/run_time_ns:\s*(\d+)/.exec(info)?.[1] ?? 0);
      runs += Number(/run_cnt:\s*(\d+)/.exec(info)?.[1] ?? 0);
      misses += Number(/recursion_misses:\s*(\d+)/.exec(info)?.[1] ?? 0);
    } catch { /* closed meanwhile */ }
  }
  return { runNs, runs, misses };
}

const BPF_STATS = '/proc/sys/kernel/bpf_stats_enabled';

/** Turns on BPF run-time statistics; returns a function that puts the old value back (a no-op when it could not be read). */
export function enableBpfStats(): () => void {
  let old: string;
  try {
    old = readFileSync(BPF_STATS, 'utf8').trim();
    writeFileSync(BPF_STATS, '1');
  } catch {
    return () => undefined;
  }
  return () => {
    try {
      writeFileSync(BPF_STATS, old);
    } catch { /* leave it */ }
  };
}

/** Children of a process (all its threads' children), from /proc/<pid>/task/<tid>/children. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
  } catch { /* gone */ }
  return out;
}

/**
 * Ticks of named groups of processes, the BPF run time of the group "tracer" and of every
 * other bpftrace on the host (others' probes fire on our sessions too), the machine and the
 * kernel threads at one moment.
 */
export interface CpuSnapshot {
  groups: Map<string, Array<{ pid: number; ticks: number | undefined }>>;
  bpfNs: number;
  bpfRuns: number;
  bpfMisses: number;
  foreignBpfNs: Map<number, number>;
  machine: MachineTicks;
  kthreads: Map<number, number>;
  ksoftirqd: number;
  atNs: bigint;
}

export function snapshot(groups: Record<string, number[]>): CpuSnapshot {
  const g = new Map<string, Array<{ pid: number; ticks: number | undefined }>>();
  for (const [name, pids] of Object.entries(groups)) g.set(name, pids.map((pid) => ({ pid, ticks: processTicks(pid) })));
  const ours = new Set(Object.values(groups).flat());
  let bpfNs = 0, bpfRuns = 0, bpfMisses = 0;
  for (const pid of groups.tracer ?? []) {
    const st = bpfProgStats(pid);
    bpfNs += st.runNs;
    bpfRuns += st.runs;
    bpfMisses += st.misses;
  }
  const scan = scanProcesses();
  const foreignBpfNs = new Map(scan.bpftrace.filter((p) => !ours.has(p)).map((p) => [p, bpfProgStats(p).runNs] as [number, number]));
  return { groups: g, bpfNs, bpfRuns, bpfMisses, foreignBpfNs, machine: machineTicks(), kthreads: scan.kthreads, ksoftirqd: scan.ksoftirqd, atNs: process.hrtime.bigint() };
}

export interface CpuDelta {
  /** Ticks per group over the window; NaN when a process of the group vanished. */
  groups: Record<string, number>;
  bpfNs: number;
  bpfRuns: number;
  bpfMisses: number;
  /** BPF run time of bpftrace processes not ours (present at both ends), and how many there were. */
  foreignBpfNs: number;
  foreignBpftraces: number;
  machineBusy: number;
  machineSoftirq: number;
  /** Every kernel thread alive at the end (one born in the window counts all it used). */
  kthreads: number;
  ksoftirqd: number;
  seconds: number;
}

export function delta(a: CpuSnapshot, b: CpuSnapshot): CpuDelta {
  const groups: Record<string, number> = {};
  for (const [name, before] of a.groups) {
    const after = b.groups.get(name) ?? [];
    let sum = 0;
    for (const { pid, ticks } of before) {
      const t1 = after.find((x) => x.pid === pid)?.ticks;
      sum += ticks === undefined || t1 === undefined ? NaN : t1 - ticks;
    }
    groups[name] = sum;
  }
  let kthreads = 0;
  for (const [pid, t1] of b.kthreads) kthreads += t1 - (a.kthreads.get(pid) ?? 0);
  let foreignBpfNs = 0;
  for (const [pid, ns] of b.foreignBpfNs) foreignBpfNs += ns - (a.foreignBpfNs.get(pid) ?? ns);
  return {
    groups, bpfNs: b.bpfNs - a.bpfNs, bpfRuns: b.bpfRuns - a.bpfRuns, bpfMisses: b.bpfMisses - a.bpfMisses, foreignBpfNs, foreignBpftraces: new Set([...a.foreignBpfNs.keys(), ...b.foreignBpfNs.keys()]).size, machineBusy: b.machine.busy - a.machine.busy, machineSoftirq: b.machine.softirq - a.machine.softirq,
    kthreads, ksoftirqd: b.ksoftirqd - a.ksoftirqd, seconds: Number(b.atNs - a.atNs) / 1e9,
  };
}
