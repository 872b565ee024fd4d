// Where a per-event bpftrace program starts to lose sessions: the tcplife-style program
// (one printf per session) writes to a file while the load runs at one rate; afterwards the
// sessions it printed (client side and server side, by our addresses and port) are counted
// against the sessions the client made, with bpftrace's own "Lost N events" lines and the
// probe runs the kernel skipped (fdinfo recursion_misses), which no line reports.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { bpfProgStats } from './cpu';
import { type Measurement, measure, SERVER_PORT } from './measure';
import type { Child } from './process-group';
import { startBpftrace, type TracerEnv } from './tracers';

export interface LossStep {
  target: number;          // sessions/s asked for; 0 = unpaced
  achieved: number;        // sessions/s over the measured window
  made: number;            // sessions the client finished (every one reached CLOSE)
  printedClient: number;   // S lines of the client's sockets
  printedServer: number;   // S lines of the server's sockets
  lostEvents: number;      // sum of bpftrace's "Lost N events"
  recursionMisses: number; // probe runs the kernel skipped (another BPF program was running on that CPU): silent
  tracerCpuShare: number;  // bpftrace's CPU over the window, cores
}

export async function lossStep(env: TracerEnv, server: Child, target: number, size: number, seconds: number): Promise<LossStep> {
  const out = path.join(env.tmpDir, `loss-${target}.txt`);
  const { child } = await startBpftrace(env, `loss-${target}`, { kind: 'life' }, out);
  let m: Measurement;
  let recursionMisses: number;
  try {
    const misses0 = bpfProgStats(child.pid).misses;
    m = await measure(env.groups, env.bed, server, { rate: target, size, warmupMs: 500, measureMs: seconds * 1000, concurrency: target ? 256 : 64 }, [child.pid]);
    await new Promise((r) => setTimeout(r, 500)); // the last closes reach bpftrace
    recursionMisses = bpfProgStats(child.pid).misses - misses0;
  } finally {
    await child.stop('SIGINT', 15_000);
  }
  let printedClient = 0, printedServer = 0, lostEvents = 0;
  const { clientAddr, serverAddr } = env.bed;
  for (const line of [...readFileSync(out, 'utf8').split('\n'), ...child.stderr]) {
    if (line.startsWith('S ')) {
      const f = line.split(' ');
      if (f[3] === clientAddr && f[6] === String(SERVER_PORT)) printedClient++;
      else if (f[3] === serverAddr && f[4] === String(SERVER_PORT)) printedServer++;
    } else {
      const lost = /^Lost (\d+) events/.exec(line);
      if (lost) lostEvents += Number(lost[1]);
    }
  }
  return {
    target, achieved: m.rate, made: m.exit.started - m.exit.unfinished, printedClient, printedServer, lostEvents, recursionMisses,
    tracerCpuShare: (m.tracerUs * m.sessions) / 1e6 / m.seconds,
  };
}
