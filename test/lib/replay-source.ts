// A TraceSource that replays records handed to it: drives the real agent pipeline (batcher,
// gRPC sender) in tests that do not need the kernel.
import type { TraceSource } from '../../agent/agent';
import type { TraceRecord } from '../../agent/records';

export class ReplaySource implements TraceSource {
  private rec: (r: TraceRecord) => void = () => {};
  private rej: (line: string, reason: string) => void = () => {};
  private restart: () => void = () => {};
  onRecord(fn: (r: TraceRecord) => void): void { this.rec = fn; }
  onReject(fn: (line: string, reason: string) => void): void { this.rej = fn; }
  onRestart(fn: () => void): void { this.restart = fn; }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  emit(r: TraceRecord): void { this.rec(r); }
  reject(line: string, reason: string): void { this.rej(line, reason); }
  restarted(): void { this.restart(); }
}
