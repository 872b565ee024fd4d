// Builds the agent's trace source: preflight checks of this host, the bpftrace program
// generated for this kernel, the supervised bpftrace process, and (with --kubernetes) the
// attribution of sockets to this node's pods.
import type { AgentConfig } from '../common/config';
import type { Logger } from '../common/log';
import type { KernelFeatures } from '../gen/tcpscope/v1/ingest';
import type { LocalAttributor, TraceSource } from './agent';

export interface AgentSource {
  source: TraceSource;
  kernel: KernelFeatures;
  attributor?: LocalAttributor;
  close(): Promise<void>;
}

export async function createTraceSource(_cfg: AgentConfig, _log: Logger): Promise<AgentSource> {
  throw new Error('the bpftrace trace source is not wired yet');
}
