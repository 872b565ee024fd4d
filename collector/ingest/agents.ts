// AgentRegistry: what the collector knows of each agent (by node): connection, last batch,
// counts, losses it reported, kernel features; and the applied-sequence watermark per
// agent run that makes resent batches count once.
import type { LossRecord } from '../../gen/tcpscope/v1/events';
import type { AgentHello } from '../../gen/tcpscope/v1/ingest';
import type { AgentStatus } from '../../gen/tcpscope/v1/query';

interface AgentState {
  status: AgentStatus;
  losses: Map<number, LossRecord>;
  streams: number;
}

export class AgentRegistry {
  private readonly agents = new Map<string, AgentState>();
  /** run id -> highest applied sequence. */
  private readonly applied = new Map<string, number>();

  connect(hello: AgentHello): void {
    let a = this.agents.get(hello.nodeName);
    if (!a) {
      a = {
        status: {
          nodeName: hello.nodeName, runId: hello.runId, agentVersion: hello.agentVersion, connected: true,
          connectedSinceUnixMs: Date.now(), lastBatchUnixMs: 0, batches: 0, sessions: 0, retransmits: 0,
          duplicates: 0, rejected: 0, losses: [], retransmitFailed: 0, bpftraceRestarts: 0, kernel: hello.kernel, lastSeq: 0,
        },
        losses: new Map(),
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

  addLoss(node: string, l: LossRecord): void {
    const a = this.agents.get(node);
    if (!a || l.count === 0) return;
    const cur = a.losses.get(l.reason);
    if (cur) cur.count += l.count;
    else a.losses.set(l.reason, { ...l });
  }

  addCounters(node: string, retransmitFailed: number, restarts: number): void {
    const a = this.agents.get(node);
    if (!a) return;
    a.status.retransmitFailed += retransmitFailed;
    a.status.bpftraceRestarts += restarts;
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
      .map((a) => ({ ...a.status, losses: [...a.losses.values()] }))
      .sort((x, y) => x.nodeName.localeCompare(y.nodeName));
  }
}
