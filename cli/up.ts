// `tcpscope up`: the main job in one command on one host: a collector (memory or
// --data-dir) and an agent tracing this host, both on loopback; prints where the APIs
// listen and what to try; stops cleanly on Ctrl-C.
import type { Command } from 'commander';
import { startAgent } from '../agent/agent';
import { createTraceSource } from '../agent/trace-source';
import { startCollector } from '../collector/collector';
import { agentSettings, collectorSettings, loadConfig } from '../common/config';
import { makeLogger } from '../common/log';
import { untilSignal } from './collector';

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('run a collector and an agent tracing this host (needs root and bpftrace); Ctrl-C stops both')
    .option('--data-dir <dir>', 'keep history in this directory (default: memory only)')
    .option('--grpc-listen <host:port>', 'ingest address', '127.0.0.1:7400')
    .option('--query-listen <host:port>', 'query address (the CLI)', '127.0.0.1:7402')
    .option('--http-listen <host:port>', 'HTTP address (JSON API, web UI, /metrics)', '127.0.0.1:7401')
    .option('--kubernetes', 'also watch pods through kubeconfig (default: this host only)')
    .action(async (o) => {
      const log = makeLogger('tcpscope');
      const ccfg = loadConfig(collectorSettings, { dataDir: o.dataDir, grpcListen: o.grpcListen, queryListen: o.queryListen, httpListen: o.httpListen, kubernetes: o.kubernetes ? 'true' : undefined });
      const collector = await startCollector(ccfg, { log: log.child({ part: 'collector' }) });
      let stopAgent: (() => Promise<void>) | undefined;
      try {
        const acfg = loadConfig(agentSettings, { collector: collector.grpcAddress, kubernetes: o.kubernetes ? 'true' : undefined });
        const alog = log.child({ part: 'agent' });
        const { source, kernel, attributor, follower, close } = await createTraceSource(acfg, alog);
        const agent = await startAgent(acfg, { log: alog, source, kernel, attributor, follower });
        stopAgent = async () => {
          await agent.stop();
          await close();
        };
        process.stdout.write([
          'tcpscope is up: a collector and an agent tracing this host.',
          `  ingest (agents)  ${collector.grpcAddress}`,
          `  query (CLI)      ${collector.queryAddress}`,
          `  web UI and API   http://${collector.httpAddress}/   (/api/v1/flows, /api/v1/hotspots, /metrics)`,
          `  kernel           ${kernel.kernelRelease}; tracing ${kernel.tracepoints.join(', ')}${kernel.retransmitErrField ? ' (failed retransmit attempts counted apart)' : ''}`,
          '',
          'Try, in another terminal:',
          '  npx tcpscope status',
          '  npx tcpscope flows --since 5m',
          '  npx tcpscope observe --follow',
          '  npx tcpscope hotspots --by pod --since 15m',
          '',
          'Ctrl-C stops both.',
          '',
        ].join('\n'));
      } catch (err) {
        await collector.close();
        throw err;
      }
      await untilSignal();
      process.stdout.write('stopping...\n');
      await stopAgent?.();
      await collector.close();
    });
}
