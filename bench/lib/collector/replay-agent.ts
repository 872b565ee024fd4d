// The agent's real pipeline (Batcher, BatchSender over gRPC) fed by a replay source at a
// steady rate, for the freshness benchmark: sessions stamped with the time they are handed
// to the agent; every --mark-every-th goes to --mark-port so a follower of the query API can
// pick the marked ones out. Prints one JSON line ({generated, marked}) when done.
//   node dist/bench/lib/collector/replay-agent.js --collector 127.0.0.1:7400 --rate 20000 --seconds 5 --flush-ms 1000
import { startAgent } from '../../../agent/agent';
import { agentSettings, loadConfig } from '../../../common/config';
import { makeLogger } from '../../../common/log';
import { Direction } from '../../../common/tcp';
import { ReplaySource } from '../../../test/lib/replay-source';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : def;
}

async function main(): Promise<void> {
  const rate = Number(arg('rate', '20000'));
  const seconds = Number(arg('seconds', '5'));
  const markEvery = Number(arg('mark-every', '100'));
  const markPort = Number(arg('mark-port', '9'));
  const source = new ReplaySource();
  const agent = await startAgent(loadConfig(agentSettings, {
    nodeName: arg('node', 'freshness'), collector: arg('collector', '127.0.0.1:7400'), batchFlushMs: arg('flush-ms', '1000'),
  }, {}), {
    log: makeLogger('replay-agent', process.env.TCPSCOPE_LOG_LEVEL ?? 'warn'), source,
    kernel: { kernelRelease: 'synthetic', retransmitErrField: true, btf: true, tracepoints: [], bpftraceVersion: '' },
  });
  let generated = 0;
  let marked = 0;
  const start = Date.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(Math.floor((rate * (Date.now() - start)) / 1000), rate * seconds);
      const nowUs = Date.now() * 1000;
      while (generated < due) {
        const i = generated++;
        const mark = i % markEvery === 0;
        if (mark) marked++;
        source.emit({
          kind: 'session', timeUs: nowUs, family: 4, laddr: `198.18.${(i >> 8) & 3}.${i & 255}`, lport: 10000 + (i % 50000),
          raddr: '198.19.0.1', rport: mark ? markPort : 8000 + (i % 4), txBytes: 100, rxBytes: 1000, durationUs: 100, retransSegs: 0, pid: 1,
          comm: 'gen', netnsInode: 1, cgroupId: 1, direction: Direction.DIRECTION_OUTBOUND, failedConnect: false, srttUs: 10, bornBeforeTrace: false,
        });
      }
      if (generated >= rate * seconds) {
        clearInterval(timer);
        resolve();
      }
    }, 10);
  });
  await agent.stop(30_000);
  process.stdout.write(JSON.stringify({ generated, marked }) + '\n');
}

main().catch((err) => {
  process.stderr.write(`replay-agent: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
