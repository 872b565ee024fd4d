// A real collector (startCollector, memory store, as `tcpscope collector` runs it) in a
// process of its own whose memory can be read after a full GC: run with --expose-gc, it
// prints its addresses as one JSON line, then answers each "measure" line on stdin with
// {"heap":…, "rss":…} (bytes, after two GCs). Ends when stdin closes.
import * as readline from 'node:readline';
import { startCollector } from '../../../collector/collector';
import { collectorSettings, loadConfig } from '../../../common/config';
import { makeLogger } from '../../../common/log';

async function main(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('collector-child needs --expose-gc');
  const c = await startCollector(loadConfig(collectorSettings, { grpcListen: '127.0.0.1:0', httpListen: '127.0.0.1:0', queryListen: '127.0.0.1:0' }, {}), { log: makeLogger('collector', 'error') });
  process.stdout.write(JSON.stringify({ grpc: c.grpcAddress, http: c.httpAddress }) + '\n');
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line.trim() !== 'measure') return;
    gc();
    gc();
    const m = process.memoryUsage();
    process.stdout.write(JSON.stringify({ heap: m.heapUsed, rss: m.rss, agents: c.state.registry.list().filter((a) => a.connected).length }) + '\n');
  });
  rl.on('close', () => {
    c.close().then(() => process.exit(0), () => process.exit(1));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`collector-child: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
