// The tcpscope CLI: one commander program; each command lives in its own file and is
// registered here.
import { Command } from 'commander';
import { registerTrace } from './trace';

const program = new Command();
program
  .name('tcpscope')
  .description('TCP retransmit and session-lifespan observability for Kubernetes, built on bpftrace')
  .version(require('../../package.json').version)
  .showHelpAfterError();

registerTrace(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`tcpscope: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
