// The agent, wired: bpftrace process -> parse lines -> attribute to pod -> batch -> export
// (gRPC). The one place where the agent's stages are put together; each stage lives in
// its own folder (bpftrace/, k8s/, batch/, export/).
import { randomUUID } from 'node:crypto';
import type { AgentConfig } from '../common/config';
import type { Logger } from '../common/log';
import { RateLimitedLog } from '../common/log';
import { LossReason, type PodRef } from '../gen/tcpscope/v1/events';
import type { KernelFeatures } from '../gen/tcpscope/v1/ingest';
import { Batcher } from './batch/batcher';
import { agentChannel } from './export/credentials';
import { diagnoseTls } from './export/diagnose';
import { BatchSender, type SenderStats } from './export/sender';
import type { FlowSumRecord, RetransmitRecord, SessionRecord, TraceRecord } from './records';

export const AGENT_VERSION: string = require('../../package.json').version;

/** Where records come from: the supervised bpftrace process (or a replay in tests). */
export interface TraceSource {
  onRecord(fn: (r: TraceRecord) => void): void;
  onReject(fn: (line: string, reason: string) => void): void;
  onRestart(fn: () => void): void;
  /** Probe runs the kernel skipped since the source started (BPF recursion protection), when known. */
  probeMisses?(): number;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Names the local pod and container of a socket at the event's time (agent/k8s). */
export interface LocalAttributor {
  attribute(r: SessionRecord | RetransmitRecord | FlowSumRecord): PodRef | undefined;
}

/** Per-session detail for the pods someone follows (agent/follow). */
export interface Follower {
  request(namespace: string, name: string, leaseMs: number): void;
  onSession(fn: (r: SessionRecord) => void): void;
}

export interface AgentDeps {
  log: Logger;
  source: TraceSource;
  kernel: KernelFeatures;
  attributor?: LocalAttributor;
  follower?: Follower;
}

export interface AgentCounters {
  sessions: number;        // sessions reported, one by one or inside flow sums
  retransmits: number;     // retransmit events reported, one by one or counted in the kernel
  flowRecords: number;     // flow-interval records (in-kernel sums) sent
  flowIntervals: number;   // flow intervals read from bpftrace
  rejectedLines: number;
  bpftraceLost: number;
  retransmitFailed: number;
  restarts: number;
  outOfScope: number;      // not reported: --scope pods and not a pod of this node
  followedSessions: number; // sessions of followed pods sent as detail (also in the flow sums)
  probeMisses: number;     // probe runs the kernel skipped (recursion protection)
}

export interface RunningAgent {
  runId: string;
  counters: AgentCounters;
  sender: { stats(): SenderStats };
  /** Flushes, waits up to drainMs for acknowledgements, stops everything. */
  stop(drainMs?: number): Promise<void>;
}

export async function startAgent(cfg: AgentConfig, deps: AgentDeps): Promise<RunningAgent> {
  const { log, source, attributor } = deps;
  const runId = randomUUID();
  const nodeName = cfg.nodeName || require('node:os').hostname();
  const counters: AgentCounters = { sessions: 0, retransmits: 0, flowRecords: 0, flowIntervals: 0, rejectedLines: 0, bpftraceLost: 0, retransmitFailed: 0, restarts: 0, outOfScope: 0, followedSessions: 0, probeMisses: 0 };
  const rejectLog = new RateLimitedLog(log, 'rejected bpftrace output lines');
  const dropLog = new RateLimitedLog(log, 'dropped unacknowledged batches: buffer full (collector unreachable or slow)');
  const missLog = new RateLimitedLog(log, 'probe runs the kernel skipped (BPF recursion protection: a tracepoint fired inside another run on the same CPU); those state changes were not seen');
  const mapFullLog = new RateLimitedLog(log, 'sessions missing from the in-kernel flow sums: a flow map was full (raise --map-keys-max or shorten --flow-interval-ms)');

  // Loss totals since this run began; the sender stamps them on every batch it writes.
  const losses = new Map<LossReason, number>();
  const lose = (reason: LossReason, n: number) => losses.set(reason, (losses.get(reason) ?? 0) + n);
  const totals = () => ({
    losses: [...losses].map(([reason, count]) => ({ reason, count, detail: '' })),
    counters: { retransmitFailed: counters.retransmitFailed, bpftraceRestarts: counters.restarts },
  });
  let stampedKey = '';
  const totalsKey = () => `${[...losses].join(';')}|${counters.retransmitFailed}|${counters.restarts}`;

  const channel = agentChannel(cfg);
  const sender = new BatchSender({
    address: cfg.collector,
    credentials: channel.credentials,
    channelOptions: channel.options,
    diagnose: cfg.tlsCa ? () => diagnoseTls(cfg) : undefined,
    hello: { nodeName, runId, agentVersion: AGENT_VERSION, kernel: deps.kernel, startedUnixMs: Date.now() },
    maxBatches: cfg.bufferMaxBatches,
    maxBytes: cfg.bufferMaxBytes,
    maxInFlight: cfg.maxInFlight,
    log,
    totals: () => {
      stampedKey = totalsKey();
      return totals();
    },
    onFollow: (follows) => {
      if (cfg.sessions === 'flows') for (const f of follows) deps.follower?.request(f.namespace, f.name, f.leaseMs);
    },
    onDrop: (n, reason) => {
      lose(reason === 'buffer-full' ? LossReason.LOSS_REASON_BUFFER_OVERFLOW : LossReason.LOSS_REASON_REJECTED, n);
      dropLog.add(n, { reason });
    },
  });
  const batcher = new Batcher({ runId, nodeName, maxEvents: cfg.batchMaxEvents, flushMs: cfg.batchFlushMs, onBatch: (b) => sender.enqueue(b) });
  // Totals that changed while nothing else was going out travel in an event-less batch,
  // made only when the buffer is empty so that it never pushes events out.
  let missesCounted = 0;
  const countMisses = () => {
    const m = source.probeMisses?.() ?? 0;
    if (m > missesCounted) {
      lose(LossReason.LOSS_REASON_PROBE_MISSED, m - missesCounted);
      missLog.add(m - missesCounted, {});
      counters.probeMisses = m;
      missesCounted = m;
    }
  };
  const totalsTimer = setInterval(() => {
    countMisses();
    if (totalsKey() !== stampedKey && sender.stats().buffered === 0) batcher.flushEmpty();
  }, cfg.batchFlushMs);
  totalsTimer.unref();

  if (cfg.scope === 'pods' && !attributor) throw new Error('--scope pods needs pod attribution (--kubernetes)');
  const podsOnly = cfg.scope === 'pods';
  source.onRecord((r) => {
    switch (r.kind) {
      case 'session': {
        const pod = attributor?.attribute(r);
        if (podsOnly && !pod) {
          counters.outOfScope++;
          break;
        }
        counters.sessions++;
        batcher.addSession(r, pod);
        break;
      }
      case 'retransmit': {
        const pod = attributor?.attribute(r);
        if (podsOnly && !pod) {
          counters.outOfScope++;
          break;
        }
        counters.retransmits++;
        batcher.addRetransmit(r, pod);
        break;
      }
      case 'flow-sum': {
        const pod = attributor?.attribute(r);
        if (podsOnly && !pod) {
          counters.outOfScope += r.sessions + r.failedConnects;
          break;
        }
        counters.flowRecords++;
        counters.sessions += r.sessions + r.failedConnects;
        for (const t of r.retransmits) counters.retransmits += t.events;
        batcher.addFlow(r, pod);
        break;
      }
      case 'flow-interval-end':
        counters.flowIntervals++;
        batcher.flush(); // the interval is complete: send it now, not after the flush timer
        if (r.unaccounted > 0) {
          lose(LossReason.LOSS_REASON_MAP_FULL, r.unaccounted);
          mapFullLog.add(r.unaccounted, { closes: r.closes, flows: r.flows });
        }
        break;
      case 'lost':
        counters.bpftraceLost += r.count;
        lose(LossReason.LOSS_REASON_BPFTRACE_LOST, r.count);
        break;
      case 'retransmit-failed':
        counters.retransmitFailed += r.count;
        break;
      case 'retransmit-count':
        break; // count mode is for `trace retrans -c`, not the agent
    }
  });
  // a followed pod's sessions: detail only, the flow sums count them already (per-session mode sends them anyway)
  deps.follower?.onSession((r) => {
    if (cfg.sessions !== 'flows') return;
    counters.followedSessions++;
    batcher.addSession(r, attributor?.attribute(r), true);
  });
  source.onReject((line, reason) => {
    counters.rejectedLines++;
    lose(LossReason.LOSS_REASON_PARSE_REJECT, 1);
    rejectLog.add(1, { reason, line: line.slice(0, 200) });
  });
  source.onRestart(() => {
    counters.restarts++;
  });

  sender.start();
  await source.start();
  log.info({ node: nodeName, runId, collector: cfg.collector }, 'agent tracing');

  return {
    runId,
    counters,
    sender,
    async stop(drainMs = 3000) {
      countMisses();
      await source.stop();
      clearInterval(totalsTimer);
      batcher.stop();
      if (totalsKey() !== stampedKey && sender.stats().buffered === 0) batcher.flushEmpty();
      const until = Date.now() + drainMs;
      let drained = await sender.drain(drainMs);
      // losses found while draining (a dropped batch's stub answered, a batch rejected) go in one more event-less batch
      if (drained && totalsKey() !== stampedKey) {
        batcher.flushEmpty();
        drained = await sender.drain(Math.max(0, until - Date.now()));
      }
      if (!drained) log.warn({ buffered: sender.stats().buffered }, 'stopping with unacknowledged batches');
      sender.stop();
    },
  };
}
