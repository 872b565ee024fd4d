// A synthetic agent for fault tests: like loadgen.ts (the real agent pipeline fed with
// generated sessions at a fixed rate) but with every transport flag (TLS files, buffer
// bounds, in-flight bound) and a watch on itself: the largest buffer, in-flight count and
// RSS seen while running, and a stats line every --stats-ms so a test can follow it live.
//   node dist/test/lib/fault-agent.js --collector 198.18.7.2:7400 --rate 20000 --seconds 8 \
//     --tls-ca ca.crt --tls-cert agent.crt --tls-key agent.key --buffer-batches 20
// Prints `stats {...}` lines while running and one final JSON line when done.
import { startAgent } from '../../agent/agent';
import { agentSettings, loadConfig } from '../../common/config';
import { makeLogger } from '../../common/log';
import { Direction } from '../../common/tcp';
import { ReplaySource } from './replay-source';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : def;
}

export interface FaultAgentReport {
  generated: number;
  txBytes: number;
  retransSegs: number;
  buffered: number;
  bufferedBytes: number;
  droppedBatches: number;
  droppedEvents: number;
  reconnects: number;
  duplicates: number;
  acked: number;
  lastError: string;
  connected: boolean;
  peakBuffered: number;
  peakBufferedBytes: number;
  peakInFlight: number;
  rssStartBytes: number;
  rssPeakBytes: number;
}

async function main(): Promise<void> {
  const rate = Number(arg('rate', '10000'));
  const seconds = Number(arg('seconds', '5'));
  const drainSeconds = Number(arg('drain-seconds', '60'));
  const statsMs = Number(arg('stats-ms', '0'));
  const source = new ReplaySource();
  const flags: Record<string, string> = {
    nodeName: arg('node', 'fault-agent'), collector: arg('collector', '127.0.0.1:7400'), batchMaxEvents: arg('batch', '1000'), batchFlushMs: '100',
    bufferMaxBatches: arg('buffer-batches', '100000'), bufferMaxBytes: arg('buffer-bytes', String(1024 * 1024 * 1024)), maxInFlight: arg('max-in-flight', '32'),
    tlsCa: arg('tls-ca', ''), tlsCert: arg('tls-cert', ''), tlsKey: arg('tls-key', ''), tlsServerName: arg('tls-server-name', ''),
  };
  const log = makeLogger('fault-agent', process.env.TCPSCOPE_LOG_LEVEL ?? 'warn');
  const rssStartBytes = process.memoryUsage.rss();
  const agent = await startAgent(loadConfig(agentSettings, flags, {}), {
    log, source, kernel: { kernelRelease: 'synthetic', retransmitErrField: true, btf: true, tracepoints: [], bpftraceVersion: '' },
  });
  let peakBuffered = 0, peakBufferedBytes = 0, peakInFlight = 0, rssPeakBytes = rssStartBytes;
  const sample = () => {
    const s = agent.sender.stats();
    peakBuffered = Math.max(peakBuffered, s.buffered);
    peakBufferedBytes = Math.max(peakBufferedBytes, s.bufferedBytes);
    peakInFlight = Math.max(peakInFlight, s.inFlight);
    rssPeakBytes = Math.max(rssPeakBytes, process.memoryUsage.rss());
    return s;
  };
  const sampler = setInterval(sample, 50);
  let generated = 0;
  let txBytes = 0;
  const statsTimer = statsMs > 0
    ? setInterval(() => process.stdout.write(`stats ${JSON.stringify({ generated, ...sample(), rss: process.memoryUsage.rss() })}\n`), statsMs)
    : undefined;
  const start = Date.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(Math.floor((rate * (Date.now() - start)) / 1000), rate * seconds);
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
      sample();
      if (generated >= rate * seconds) {
        clearInterval(timer);
        resolve();
      }
    }, 20);
  });
  await agent.stop(drainSeconds * 1000);
  clearInterval(sampler);
  if (statsTimer) clearInterval(statsTimer);
  const st = sample();
  const report: FaultAgentReport = {
    generated, txBytes, retransSegs: Math.floor(generated / 2), buffered: st.buffered, bufferedBytes: st.bufferedBytes,
    droppedBatches: st.droppedBatches, droppedEvents: st.droppedEvents, reconnects: st.reconnects, duplicates: st.duplicates, acked: st.acked,
    lastError: st.lastError, connected: st.connected, peakBuffered, peakBufferedBytes, peakInFlight, rssStartBytes, rssPeakBytes,
  };
  process.stdout.write(JSON.stringify(report) + '\n');
}

main().catch((err) => {
  process.stderr.write(`fault-agent: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
