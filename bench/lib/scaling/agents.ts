// The collector's cost per connected agent. In process: the AgentRegistry alone (status,
// per-run totals, watermarks) for N agents. Over real gRPC: a collector process of its own
// (collector-child.ts) with N agents' streams open, each agent the real BatchSender on its
// own connection (as N nodes would be), each having sent two small batches; the collector's
// heap after GC and its RSS, against the same collector with no agent.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import * as readline from 'node:readline';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import * as grpc from '@grpc/grpc-js';
import { Batcher } from '../../../agent/batch/batcher';
import { BatchSender } from '../../../agent/export/sender';
import { AgentRegistry } from '../../../collector/ingest/agents';
import { makeLogger } from '../../../common/log';
import { Direction } from '../../../common/tcp';
import { type Batch, LossReason } from '../../../gen/tcpscope/v1/events';
import type { AgentHello } from '../../../gen/tcpscope/v1/ingest';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

function hello(i: number): AgentHello {
  return {
    nodeName: `node-${i}`, runId: randomUUID(), agentVersion: '0.1.0', startedUnixMs: Date.now(),
    kernel: { kernelRelease: '6.18.44-fc-v782', retransmitErrField: true, btf: true, tracepoints: ['sock:inet_sock_set_state', 'tcp:tcp_retransmit_skb'], bpftraceVersion: '0.17.0' },
  };
}

/** Heap bytes per agent the AgentRegistry keeps for `n` agents (each connected, a batch applied, loss totals reported). */
export function registryBytesPerAgent(n: number): number {
  const hellos = Array.from({ length: n }, (_, i) => hello(i));
  const before = heapUsed();
  const reg = new AgentRegistry();
  for (const h of hellos) {
    reg.connect(h);
    reg.markApplied(h.nodeName, h.runId, 1, 4000, 80);
    reg.updateTotals(h.nodeName, h.runId, [{ reason: LossReason.LOSS_REASON_BPFTRACE_LOST, count: 3, detail: '' }, { reason: LossReason.LOSS_REASON_PARSE_REJECT, count: 1, detail: '' }], 2, 0);
  }
  const after = heapUsed();
  if (reg.list().length !== n) throw new Error('registry lost agents');
  return (after - before) / n;
}

function smallBatch(h: AgentHello, seq: number): Batch {
  let out: Batch | undefined;
  const b = new Batcher({ runId: h.runId, nodeName: h.nodeName, maxEvents: 100, flushMs: 1000, onBatch: (x) => { out = x; } });
  const t = Date.now() * 1000;
  for (let i = 0; i < 100; i++) {
    b.addSession({
      kind: 'session', timeUs: t + i, family: 4, laddr: '10.244.0.2', lport: 40000 + i, raddr: '10.96.0.10', rport: 80, txBytes: 100, rxBytes: 2000, durationUs: 1500,
      retransSegs: 0, pid: 1, comm: 'app', netnsInode: 4026532001, cgroupId: 9001, direction: Direction.DIRECTION_OUTBOUND, failedConnect: false, srttUs: 50, bornBeforeTrace: false,
    });
  }
  b.stop();
  out!.seq = seq;
  return out!;
}

export interface StreamPoint {
  agents: number;
  heapMiB: number;
  rssMiB: number;
}

/** Collector heap and RSS with each count of agents streaming to it (counts ascending; one collector, agents added). */
export async function streamScaling(counts: number[], log: (m: string) => void): Promise<StreamPoint[]> {
  const child = spawn(process.execPath, ['--expose-gc', path.join(__dirname, 'collector-child.js')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout! });
  const next = (): Promise<string> => new Promise((resolve, reject) => {
    const onLine = (l: string) => { cleanup(); resolve(l); };
    const onExit = () => { cleanup(); reject(new Error('collector-child exited')); };
    const cleanup = () => { lines.off('line', onLine); child.off('exit', onExit); };
    lines.on('line', onLine);
    child.on('exit', onExit);
  });
  const senders: BatchSender[] = [];
  const quiet = makeLogger('bench-agent', 'silent');
  try {
    const addr = JSON.parse(await next()) as { grpc: string };
    const measure = async () => {
      child.stdin!.write('measure\n');
      const m = JSON.parse(await next()) as { heap: number; rss: number; agents: number };
      return m;
    };
    const out: StreamPoint[] = [];
    const base = await measure();
    out.push({ agents: 0, heapMiB: base.heap / 1048576, rssMiB: base.rss / 1048576 });
    for (const n of counts) {
      const started: Array<{ s: BatchSender; h: AgentHello }> = [];
      for (let i = senders.length; i < n; i++) {
        const h = hello(i);
        const s = new BatchSender({
          address: addr.grpc, credentials: grpc.credentials.createInsecure(), channelOptions: { 'grpc.use_local_subchannel_pool': 1 },
          hello: h, maxBatches: 100, maxBytes: 1 << 24, maxInFlight: 8, log: quiet, onDrop: () => undefined,
          totals: () => ({ losses: [], counters: { retransmitFailed: 0, bpftraceRestarts: 0 } }),
        });
        s.start();
        s.enqueue(smallBatch(h, 1));
        s.enqueue(smallBatch(h, 2));
        senders.push(s);
        started.push({ s, h });
      }
      const end = Date.now() + 60_000;
      while (senders.some((s) => s.stats().acked < 2)) {
        if (Date.now() > end) throw new Error(`agents: ${senders.filter((s) => s.stats().acked < 2).length} of ${senders.length} senders not acknowledged within 60 s`);
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 500));
      const m = await measure();
      if (m.agents !== n) throw new Error(`collector sees ${m.agents} connected agents, expected ${n}`);
      out.push({ agents: n, heapMiB: m.heap / 1048576, rssMiB: m.rss / 1048576 });
      log(`scaling: ${n} agents streaming: collector heap ${(m.heap / 1048576).toFixed(1)} MiB, RSS ${(m.rss / 1048576).toFixed(0)} MiB`);
    }
    return out;
  } finally {
    for (const s of senders) s.stop();
    child.stdin!.end();
    await new Promise<void>((r) => {
      const t = setTimeout(() => { child.kill('SIGKILL'); r(); }, 10_000);
      child.once('exit', () => { clearTimeout(t); r(); });
      if (child.exitCode !== null) { clearTimeout(t); r(); }
    });
  }
}
