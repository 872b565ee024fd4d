// `tcpscope agent`: runs the per-node agent (bpftrace -> parse -> attribute -> batch ->
// gRPC) until SIGINT/SIGTERM. Settings come from common/config.ts (flags, env, Helm values).
import type { Command } from 'commander';
import { startAgent } from '../agent/agent';
import { createTraceSource } from '../agent/trace-source';
import { agentMetricsRegistry, serveAgentMetrics } from '../agent/metrics';
import { addSettingOptions, agentSettings, loadConfig } from '../common/config';
import { makeLogger } from '../common/log';
import { untilSignal } from './collector';

export function registerAgent(program: Command): void {
  const cmd = program.command('agent').description('run the node agent: trace TCP sessions and retransmits with bpftrace and stream them to the collector');
  addSettingOptions(cmd, agentSettings).action(async (flags) => {
    const cfg = loadConfig(agentSettings, flags);
    const log = makeLogger('agent');
    const { source, kernel, attributor, follower, close } = await createTraceSource(cfg, log);
    const agent = await startAgent(cfg, { log, source, kernel, attributor, follower });
    const metrics = cfg.metricsPort ? await serveAgentMetrics(agentMetricsRegistry(agent), cfg.metricsPort) : undefined;
    if (metrics) log.info({ port: metrics.port }, 'serving /metrics');
    process.stdout.write(`agent: tracing ${kernel.tracepoints.join(', ')} on ${cfg.nodeName || require('node:os').hostname()}, sending to ${cfg.collector}\n`);
    await untilSignal();
    log.info('stopping');
    await agent.stop();
    await metrics?.close();
    await close();
  });
}
