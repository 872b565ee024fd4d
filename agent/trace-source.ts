// Builds the agent's trace source: preflight checks of this host (bpftrace, privileges,
// tracefs, BTF, tracepoints; clear errors otherwise), the bpftrace program generated for
// this kernel's tracepoint formats, and the supervised bpftrace process that emits records.
import type { AgentConfig } from '../common/config';
import type { Logger } from '../common/log';
import type { KernelFeatures } from '../gen/tcpscope/v1/ingest';
import type { LocalAttributor, TraceSource } from './agent';
import { preflight } from './bpftrace/preflight';
import { BpftraceRunner } from './bpftrace/runner';
import { CgroupMap, cgroup2Mount } from './attribute/cgroup-map';
import { NetnsMap } from './attribute/netns-map';
import { SocketAttributor } from './attribute/socket-attributor';
import { PodFollower } from './follow/pod-follower';
import { NodePodWatch, nodeNameFromEnv } from './k8s/node-pod-watch';
import * as fs from 'node:fs';

export interface AgentSource {
  source: TraceSource;
  kernel: KernelFeatures;
  attributor?: LocalAttributor;
  /** Per-session detail for followed pods (with Kubernetes attribution). */
  follower?: PodFollower;
  close(): Promise<void>;
}

/** Seconds between the in-kernel counter prints (failed retransmit attempts) of the per-session program. */
const COUNTER_INTERVAL_SEC = 5;

export async function createTraceSource(cfg: AgentConfig, log: Logger): Promise<AgentSource> {
  const pf = preflight({ bpftrace: cfg.bpftrace });
  if (pf.mountedTracefs) log.info({ at: pf.tracefsRoot }, 'mounted tracefs');
  const runner = new BpftraceRunner({
    program: cfg.sessions === 'flows'
      ? { kind: 'agent', flowIntervalMs: cfg.flowIntervalMs, retransmitLimit: cfg.retransmitLimit }
      : { kind: 'agent-events', intervalSec: COUNTER_INTERVAL_SEC },
    formats: pf.formats,
    tracefsRoot: pf.tracefsRoot,
    bpftrace: cfg.bpftrace,
    mapKeysMax: cfg.mapKeysMax,
    log,
  });
  const kernel: KernelFeatures = { ...pf.features, tracepoints: runner.program.tracepoints, retransmitErrField: runner.program.retransmitErr };
  if (!cfg.kubernetes) return { source: runner, kernel, close: async () => undefined };

  // Kubernetes: this node's pods only (field selector), sockets mapped by cgroup id / netns / IP
  const watch = new NodePodWatch({ nodeName: cfg.nodeName || nodeNameFromEnv(), onError: (m) => log.warn({ error: m }, 'pod watch') });
  watch.start();
  const root = cfg.cgroupRoot || cgroup2Mount(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  if (!root) log.warn('no cgroup2 mount found: sockets are attributed by network namespace and IP only');
  const cgroups = root ? new CgroupMap(root) : undefined;
  const netns = new NetnsMap(cfg.procRoot);
  cgroups?.scan();
  netns.scan();
  const rescan = setInterval(() => {
    netns.scan();
    netns.prune(Date.now() * 1000 - 15 * 60e6);
  }, 10_000);
  rescan.unref();
  const attributor = new SocketAttributor(watch.index, cgroups, netns);
  const follower = new PodFollower({
    index: watch.index, cgroups, netns, log,
    makeRunner: (program) => new BpftraceRunner({ program, formats: pf.formats, tracefsRoot: pf.tracefsRoot, bpftrace: cfg.bpftrace, mapKeysMax: cfg.mapKeysMax, log }),
  });
  return {
    source: runner, kernel, attributor, follower,
    close: async () => {
      clearInterval(rescan);
      await follower.stop();
      await watch.stop();
    },
  };
}
