// AgentRegistry: what the collector knows of each agent (by node): connection, last batch,
// counts, losses it reported, kernel features; and the applied-sequence watermark per
// agent run that makes resent batches count once.
import type { LossRecord } from '../../gen/tcpscope/v1/events';
import type { AgentHello } from '../../gen/tcpscope/v1/ingest';
import type { AgentStatus } from '../../gen/tcpscope/v1/query';

interface RunTotals {
  losses: Map<number, number>;
  retransmitFailed: number;
  restarts: number;
}

interface AgentState {
  status: AgentStatus;
  /** run id -> the largest totals that run reported (they only grow within a run). */
  runs: Map<string, RunTotals>;
  streams: number;
}

export class AgentRegistry {
  private readonly agents = new Map<string, AgentState>();
  /** run id -> highest applied sequence. */
  private readonly applied = new Map<string, number>();

  /** An agent known only from replayed batches: not connected until it says hello. */
  ensureAgent(node: string, runId: string): void {
    if (this.agents.has(node)) return;
    this.connect({ nodeName: node, runId, agentVersion: '', kernel: undefined, startedUnixMs: 0 });
    this.disconnect(node);
  }

  connect(hello: AgentHello): void {
    let a = this.agents.get(hello.nodeName);
    if (!a) {
      a = {
        status: {
          nodeName: hello.nodeName, runId: hello.runId, agentVersion: hello.agentVersion, connected: true,
          connectedSinceUnixMs: Date.now(), lastBatchUnixMs: 0, batches: 0, sessions: 0, retransmits: 0,
          duplicates: 0, rejected: 0, losses: [], retransmitFailed: 0, bpftraceRestarts: 0, kernel: hello.kernel, lastSeq: 0,
        },
        runs: new Map(),
        streams: 0,
      };
      this.agents.set(hello.nodeName, a);
    }
    a.streams++;
    a.status.connected = true;
    a.status.connectedSinceUnixMs = Date.now();
    a.status.runId = hello.runId;
    a.status.agentVersion = hello.agentVersion;
    a.status.kernel = hello.kernel;
  }

  disconnect(node: string): void {
    const a = this.agents.get(node);
    if (!a) return;
    a.streams = Math.max(0, a.streams - 1);
    if (a.streams === 0) a.status.connected = false;
  }

  /** Watermarks as last committed to the store (at start-up). */
  loadWatermarks(marks: Map<string, number>): void {
    for (const [run, seq] of marks) this.applied.set(run, Math.max(seq, this.applied.get(run) ?? 0));
  }

  watermarks(): Map<string, number> {
    return new Map(this.applied);
  }

  isDuplicate(runId: string, seq: number): boolean {
    return seq <= (this.applied.get(runId) ?? 0);
  }

  markApplied(node: string, runId: string, seq: number, sessions: number, retransmits: number): void {
    this.applied.set(runId, Math.max(seq, this.applied.get(runId) ?? 0));
    const a = this.agents.get(node);
    if (!a) return;
    a.status.batches++;
    a.status.sessions += sessions;
    a.status.retransmits += retransmits;
    a.status.lastBatchUnixMs = Date.now();
    a.status.lastSeq = seq;
  }

  /** Totals since the run began: keep the largest seen per (run, reason). */
  updateTotals(node: string, runId: string, losses: LossRecord[], retransmitFailed: number, restarts: number): void {
    const a = this.agents.get(node);
    if (!a) return;
    let t = a.runs.get(runId);
    if (!t) {
      t = { losses: new Map(), retransmitFailed: 0, restarts: 0 };
      a.runs.set(runId, t);
    }
    for (const l of losses) if (Number.isSafeInteger(l.count) && l.count >= 0) t.losses.set(l.reason, Math.max(l.count, t.losses.get(l.reason) ?? 0));
    t.retransmitFailed = Math.max(t.retransmitFailed, retransmitFailed);
    t.restarts = Math.max(t.restarts, restarts);
  }

  countDuplicate(node: string): void {
    const a = this.agents.get(node);
    if (a) a.status.duplicates++;
  }

  countRejected(node: string): void {
    const a = this.agents.get(node);
    if (a) a.status.rejected++;
  }

  list(): AgentStatus[] {
    return [...this.agents.values()]
      .map((a) => {
        const losses = new Map<number, number>();
        let retransmitFailed = 0;
        let bpftraceRestarts = 0;
        for (const t of a.runs.values()) {
          for (const [r, c] of t.losses) losses.set(r, (losses.get(r) ?? 0) + c);
          retransmitFailed += t.retransmitFailed;
          bpftraceRestarts += t.restarts;
        }
        return {
          ...a.status, retransmitFailed, bpftraceRestarts,
          losses: [...losses].filter(([, c]) => c > 0).map(([reason, count]) => ({ reason, count, detail: '' })),
        };
      })
      .sort((x, y) => x.nodeName.localeCompare(y.nodeName));
  }
}
