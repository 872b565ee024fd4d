// Builds the agent's trace source: preflight checks of this host (bpftrace, privileges,
// tracefs, BTF, tracepoints; clear errors otherwise), the bpftrace program generated for
// this kernel's tracepoint formats, and the supervised bpftrace process that emits records.
import type { AgentConfig } from '../common/config';
import type { Logger } from '../common/log';
import type { KernelFeatures } from '../gen/tcpscope/v1/ingest';
import type { LocalAttributor, TraceSource } from './agent';
import { preflight } from './bpftrace/preflight';
import { BpftraceRunner } from './bpftrace/runner';

export interface AgentSource {
  source: TraceSource;
  kernel: KernelFeatures;
  attributor?: LocalAttributor;
  close(): Promise<void>;
}

/** Seconds between the in-kernel counter prints (failed retransmit attempts). */
const COUNTER_INTERVAL_SEC = 5;

export async function createTraceSource(cfg: AgentConfig, log: Logger): Promise<AgentSource> {
  const pf = preflight({ bpftrace: cfg.bpftrace });
  if (pf.mountedTracefs) log.info({ at: pf.tracefsRoot }, 'mounted tracefs');
  const runner = new BpftraceRunner({
    program: { kind: 'agent', intervalSec: COUNTER_INTERVAL_SEC },
    formats: pf.formats,
    tracefsRoot: pf.tracefsRoot,
    bpftrace: cfg.bpftrace,
    mapKeysMax: cfg.mapKeysMax,
    log,
  });
  const kernel: KernelFeatures = { ...pf.features, tracepoints: runner.program.tracepoints, retransmitErrField: runner.program.retransmitErr };
  return { source: runner, kernel, close: async () => undefined };
}
