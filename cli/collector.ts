// `tcpscope collector`: runs the collector (gRPC ingest and query, HTTP API) until
// SIGINT/SIGTERM. Settings come from common/config.ts (flags, env, Helm values).
import type { Command } from 'commander';
import { addSettingOptions, collectorSettings, loadConfig } from '../common/config';
import { makeLogger } from '../common/log';
import { startCollector } from '../collector/collector';

export function registerCollector(program: Command): void {
  const cmd = program.command('collector').description('run the collector: gRPC ingest from agents, aggregation, query API (gRPC + HTTP)');
  addSettingOptions(cmd, collectorSettings).action(async (flags) => {
    const cfg = loadConfig(collectorSettings, flags);
    const log = makeLogger('collector');
    const c = await startCollector(cfg, { log });
    process.stdout.write(`collector: ingest ${c.grpcAddress}, query ${c.queryAddress}, HTTP http://${c.httpAddress}/\n`);
    await untilSignal();
    log.info('stopping');
    await c.close();
  });
}

/** Resolves on the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (s: NodeJS.Signals) => {
      process.removeListener('SIGINT', on);
      process.removeListener('SIGTERM', on);
      resolve(s);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}
