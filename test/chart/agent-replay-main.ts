// A process that is the agent minus the kernel: loads its configuration from the environment
// exactly as `tcpscope agent` does (common/config.ts), starts the real agent pipeline (batcher,
// gRPC sender, TLS or token credentials) with a replaying trace source, and emits one session
// record every 200 ms. The chart-and-code test runs it (with --run) with the rendered DaemonSet's env.
import { startAgent } from '../../agent/agent';
import { agentSettings, loadConfig } from '../../common/config';
import { makeLogger } from '../../common/log';
import { Direction } from '../../common/tcp';
import { ReplaySource } from '../lib/replay-source';

async function main(): Promise<void> {
  const cfg = loadConfig(agentSettings, {});
  const source = new ReplaySource();
  const agent = await startAgent(cfg, {
    log: makeLogger('agent', 'info'),
    source,
    kernel: { kernelRelease: 'replay', retransmitErrField: true, btf: true, tracepoints: [], bpftraceVersion: '' },
  });
  let port = 40000;
  const timer = setInterval(() => {
    source.emit({
      kind: 'session', timeUs: Date.now() * 1000, family: 4, laddr: '198.18.0.1', lport: port++, raddr: '198.18.0.2', rport: 80, txBytes: 100, rxBytes: 200,
      durationUs: 1000, retransSegs: 0, pid: 1, comm: 'replay', netnsInode: 1, cgroupId: 1, direction: Direction.DIRECTION_OUTBOUND, failedConnect: false, srttUs: 100, bornBeforeTrace: false,
    });
    process.stdout.write(`acked ${agent.sender.stats().acked}\n`);
  }, 200);
  const stop = async () => {
    clearInterval(timer);
    await agent.stop(500);
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

// `node --test dist/test/` loads every file under test/: run only when asked
if (process.argv[2] === '--run') {
  main().catch((err: unknown) => {
    process.stderr.write(`agent-replay: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
