// The tcpscope CLI: one commander program; each command lives in its own file and is
// registered here.
import { Command } from 'commander';
import { registerAgent } from './agent';
import { registerCollector } from './collector';
import { registerFlows } from './flows';
import { registerHotspots } from './hotspots';
import { registerObserve } from './observe';
import { registerPod } from './pod';
import { registerStatus } from './status';
import { registerTrace } from './trace';
import { registerUp } from './up';

const program = new Command();
program
  .name('tcpscope')
  .description('TCP retransmit and session-lifespan observability for Kubernetes, built on bpftrace')
  .version(require('../../package.json').version)
  .showHelpAfterError();

registerUp(program);
registerTrace(program);
registerAgent(program);
registerCollector(program);
registerFlows(program);
registerObserve(program);
registerPod(program);
registerHotspots(program);
registerStatus(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`tcpscope: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
