// A synthetic agent for delivery tests: the real agent pipeline (batcher, gRPC sender with
// its buffer) fed with generated sessions at a fixed rate. Prints what it generated and
// what the sender saw as one JSON line when done, after waiting for every ack.
//   node dist/test/lib/loadgen.js --collector 127.0.0.1:7400 --rate 20000 --seconds 8 --node n1
import { startAgent } from '../../agent/agent';
import { agentSettings, loadConfig } from '../../common/config';
import { makeLogger } from '../../common/log';
import { Direction } from '../../common/tcp';
import { ReplaySource } from './replay-source';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : def;
}

async function main(): Promise<void> {
  const rate = Number(arg('rate', '10000'));
  const seconds = Number(arg('seconds', '5'));
  const node = arg('node', 'loadgen');
  const drainSeconds = Number(arg('drain-seconds', '60'));
  const source = new ReplaySource();
  const agent = await startAgent(loadConfig(agentSettings, {
    nodeName: node, collector: arg('collector', '127.0.0.1:7400'), batchMaxEvents: arg('batch', '1000'), batchFlushMs: '100',
    bufferMaxBatches: arg('buffer-batches', '100000'),
  }, {}), { log: makeLogger('loadgen', process.env.TCPSCOPE_LOG_LEVEL ?? 'warn'), source, kernel: { kernelRelease: 'synthetic', retransmitErrField: true, btf: true, tracepoints: [], bpftraceVersion: '' } });
  let generated = 0;
  let txBytes = 0;
  const start = Date.now();
  const tick = 20;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = Date.now() - start;
      const due = Math.min(Math.floor((rate * elapsed) / 1000), rate * seconds);
      const nowUs = Date.now() * 1000;
      while (generated < due) {
        const i = generated++;
        const tx = 100 + (i % 1000);
        txBytes += tx;
        source.emit({
          kind: 'session', timeUs: nowUs, family: 4, laddr: `198.18.${(i >> 8) & 3}.${i & 255}`, lport: 10000 + (i % 50000),
          raddr: '198.19.0.1', rport: 8000 + (i % 4), txBytes: tx, rxBytes: 1, durationUs: 100, retransSegs: i % 2, pid: 1, comm: 'gen',
          netnsInode: 1, cgroupId: 1, direction: Direction.DIRECTION_OUTBOUND, failedConnect: false, srttUs: 10, bornBeforeTrace: false,
        });
      }
      if (generated >= rate * seconds) {
        clearInterval(timer);
        resolve();
      }
    }, tick);
  });
  await agent.stop(drainSeconds * 1000);
  const st = agent.sender.stats();
  process.stdout.write(JSON.stringify({ generated, txBytes, retransSegs: Math.floor(generated / 2), ...st }) + '\n');
}

main().catch((err) => {
  process.stderr.write(`loadgen: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
