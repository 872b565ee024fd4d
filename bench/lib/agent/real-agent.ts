// The real agent process (`tcpscope agent`, as the DaemonSet runs it) fed by a stand-in
// bpftrace (fake-bpftrace.ts) at a fixed line rate, sending to a real collector process on
// loopback: its resident memory (VmRSS) sampled while it runs, its CPU, and what the
// collector says it received. The agent runs without --kubernetes (no API server here).
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

const CLI = path.resolve(__dirname, '..', '..', '..', 'cli', 'main.js');
const FAKE = path.resolve(__dirname, 'fake-bpftrace.js');

export interface AgentRun {
  linesPerS: number;        // asked of the stand-in
  printedPerS: number;      // what it printed
  deliveredPerS: number;    // sessions + retransmits the collector counted, a second
  rssMaxMiB: number;
  rssMeanMiB: number;
  rssEndMiB: number;
  cpu: number;              // the agent process's CPU in cores over the run
  samples: number;
  /** From the agent's /metrics at the end: events it handled, unacknowledged batches and bytes, V8 heap used. */
  agentEventsPerS: number;
  bufferedBatchesMax: number;
  bufferedMiBMax: number;
  heapUsedMiBMax: number;
}

interface Proc {
  child: ChildProcess;
  out: string[];
  waitFor(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => { for (const c of live) c.kill('SIGKILL'); });

function startNode(args: string[], env: NodeJS.ProcessEnv): Proc {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const out: string[] = [];
  const keep = (d: Buffer) => {
    out.push(...d.toString().split('\n').filter(Boolean));
    if (out.length > 200) out.splice(0, out.length - 200);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((r) => child.once('exit', () => { live.delete(child); r(); }));
  return {
    child, out,
    async waitFor(re, ms = 60_000) {
      const end = Date.now() + ms;
      for (;;) {
        const hit = out.map((l) => re.exec(l)).find(Boolean);
        if (hit) return hit;
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited before printing ${re}: ${out.slice(-5).join(' | ')}`);
        if (Date.now() > end) throw new Error(`timed out waiting for ${re}: ${out.slice(-5).join(' | ')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

function cpuTicks(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** The agent's own gauges (agent/metrics.ts): events handled, buffer, heap. */
async function agentMetrics(port: number): Promise<{ events: number; buffered: number; bufferedBytes: number; heapUsed: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const get = (re: RegExp) => [...text.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
  return {
    events: get(/^tcpscope_agent_events_total\{[^}]*\} (\S+)$/gm),
    buffered: get(/^tcpscope_agent_buffered_batches (\S+)$/gm),
    bufferedBytes: get(/^tcpscope_agent_buffered_bytes (\S+)$/gm),
    heapUsed: get(/^tcpscope_agent_process_nodejs_heap_size_used_bytes (\S+)$/gm),
  };
}

/** Runs collector + agent + stand-in for `seconds`, sampling the agent's RSS every `sampleMs`. */
export async function runRealAgent(opts: { linesPerS: number; seconds: number; sampleMs?: number; clkTck?: number; nodeOptions?: string }): Promise<AgentRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcpscope-bench-agent-'));
  const wrapper = path.join(dir, 'bpftrace');
  fs.writeFileSync(wrapper, `#!/bin/sh\nexec "${process.execPath}" "${FAKE}" "$@"\n`, { mode: 0o755 });
  const report = path.join(dir, 'fake-report.json');
  const env = { ...process.env, TCPSCOPE_LOG_LEVEL: 'warn' };
  const collector = startNode([CLI, 'collector', '--grpc-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--query-listen', '127.0.0.1:0'], env);
  let agent: Proc | undefined;
  try {
    const [, grpc, http] = await collector.waitFor(/collector: ingest (\S+), query \S+, HTTP http:\/\/([^/\s]+)\//);
    const metricsPort = await freePort();
    agent = startNode([CLI, 'agent', '--collector', grpc!, '--bpftrace', wrapper, '--sessions', 'events', '--node-name', 'bench-agent', '--metrics-port', String(metricsPort)],
      { ...env, TCPSCOPE_BENCH_LINES_PER_S: String(opts.linesPerS), TCPSCOPE_BENCH_FAKE_REPORT: report, ...(opts.nodeOptions ? { NODE_OPTIONS: opts.nodeOptions } : {}) });
    await agent.waitFor(/^agent: tracing/);
    const pid = agent.child.pid!;
    const tck = opts.clkTck ?? 100;
    const samples: number[] = [];
    const proc = agent;
    const gone = async (): Promise<Error | undefined> => {
      // a process out of heap takes a while to print its last words and abort
      for (let i = 0; i < 50 && proc.child.exitCode === null && proc.child.signalCode === null; i++) await new Promise((r) => setTimeout(r, 100));
      if (proc.child.exitCode === null && proc.child.signalCode === null) return undefined;
      const fatal = proc.out.find((l) => /FATAL ERROR|heap out of memory|Reached heap limit/.test(l));
      return new Error(`the agent exited during the run (${proc.child.exitCode ?? proc.child.signalCode}): ${fatal ?? proc.out.slice(-3).join(' | ')}`);
    };
    const metrics = () => agentMetrics(metricsPort).catch(async (err: Error) => {
      throw (await gone()) ?? new Error(`agent /metrics: ${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ''}`);
    });
    const m0 = await metrics();
    let bufferedBatchesMax = 0, bufferedBytesMax = 0, heapUsedMax = 0, k = 0;
    const c0 = cpuTicks(pid), t0 = Date.now();
    const end = t0 + opts.seconds * 1000;
    while (Date.now() < end) {
      await new Promise((r) => setTimeout(r, opts.sampleMs ?? 250));
      const exited = proc.child.exitCode !== null || proc.child.signalCode !== null || !fs.existsSync(`/proc/${pid}/status`);
      const died = exited ? await gone() : undefined;
      if (died) throw died;
      let rss: number;
      try {
        rss = rssKiB(pid);
      } catch (err) {
        throw (await gone()) ?? err;
      }
      samples.push(rss);
      if (++k % 4 === 0) {
        const m = await metrics();
        bufferedBatchesMax = Math.max(bufferedBatchesMax, m.buffered);
        bufferedBytesMax = Math.max(bufferedBytesMax, m.bufferedBytes);
        heapUsedMax = Math.max(heapUsedMax, m.heapUsed);
      }
    }
    const m1 = await metrics();
    const wallS = (Date.now() - t0) / 1000;
    const cpu = (cpuTicks(pid) - c0) / tck / wallS;
    await agent.stop();
    const status = await (await fetch(`http://${http}/api/v1/status`)).json() as { agents?: Array<{ sessions?: number | string; retransmits?: number | string }> };
    const a = status.agents?.[0];
    const delivered = Number(a?.sessions ?? 0) + Number(a?.retransmits ?? 0);
    // the stand-in ran from the agent's start to its stop, as did delivery
    const fake = fs.existsSync(report) ? JSON.parse(fs.readFileSync(report, 'utf8')) as { lines: number; seconds: number } : { lines: NaN, seconds: NaN };
    const printed = fake.lines;
    const ranS = fake.seconds;
    const rss = samples.filter(Number.isFinite);
    return {
      linesPerS: opts.linesPerS, printedPerS: printed / ranS, deliveredPerS: delivered / ranS,
      rssMaxMiB: Math.max(...rss) / 1024, rssMeanMiB: rss.reduce((x, y) => x + y, 0) / rss.length / 1024, rssEndMiB: rss[rss.length - 1]! / 1024,
      cpu, samples: rss.length, agentEventsPerS: (m1.events - m0.events) / wallS,
      bufferedBatchesMax, bufferedMiBMax: bufferedBytesMax / 1048576, heapUsedMiBMax: heapUsedMax / 1048576,
    };
  } finally {
    await agent?.stop();
    await collector.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
