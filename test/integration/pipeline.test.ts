// The agent's pipeline (batcher + gRPC sender) into a real collector over gRPC on loopback:
// every event is counted once in flows, losses and rejects reach status, and a collector
// that comes up late still gets everything that was buffered.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { startAgent } from '../../agent/agent';
import { agentMetricsRegistry, serveAgentMetrics } from '../../agent/metrics';
import type { SessionRecord } from '../../agent/records';
import { agentSettings, collectorSettings, loadConfig } from '../../common/config';
import { makeLogger } from '../../common/log';
import { Direction, TcpState } from '../../common/tcp';
import { startCollector } from '../../collector/collector';
import { queryFlows, queryStatus } from '../../collector/query/queries';
import { LossReason } from '../../gen/tcpscope/v1/events';
import { freePort } from '../lib/procs';
import { ReplaySource } from '../lib/replay-source';

const log = makeLogger('test', 'silent');
const now = Date.now() * 1000;

function session(i: number, rport: number, over: Partial<SessionRecord> = {}): SessionRecord {
  return {
    kind: 'session', timeUs: now - 1000 + i, family: 4, laddr: '198.18.0.1', lport: 40000 + (i % 20000), raddr: '198.18.0.2', rport,
    txBytes: 100, rxBytes: 1000, durationUs: 2000 + i, retransSegs: i % 2, pid: 7, comm: 'client', netnsInode: 1, cgroupId: 1,
    direction: Direction.DIRECTION_OUTBOUND, failedConnect: false, srttUs: 30, bornBeforeTrace: false, ...over,
  };
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const cleanups: Array<() => Promise<void>> = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

test('events from the agent pipeline are counted exactly once per flow by the collector', async () => {
  const collector = await startCollector(loadConfig(collectorSettings, { grpcListen: '127.0.0.1:0', httpListen: '127.0.0.1:0', queryListen: '127.0.0.1:0' }, {}), { log });
  cleanups.push(() => collector.close());
  const source = new ReplaySource();
  const agent = await startAgent(loadConfig(agentSettings, { nodeName: 'node-a', collector: collector.grpcAddress, batchMaxEvents: 100, batchFlushMs: 50 }, {}), {
    log, source, kernel: { kernelRelease: 'test', retransmitErrField: true, btf: true, tracepoints: [], bpftraceVersion: '' },
  });
  cleanups.push(() => agent.stop(100));
  for (let i = 0; i < 1000; i++) source.emit(session(i, i % 2 ? 8080 : 9090));
  for (let i = 0; i < 30; i++) source.emit({ kind: 'retransmit', timeUs: now - 500, family: 4, laddr: '198.18.0.1', lport: 40001, raddr: '198.18.0.2', rport: 8080, state: TcpState.TCP_STATE_ESTABLISHED, caState: 4, netnsInode: 1, cgroupId: 1, direction: Direction.DIRECTION_OUTBOUND, pid: 0, segs: 1 });
  source.emit({ kind: 'lost', count: 12 });
  source.emit({ kind: 'retransmit-failed', count: 3 });
  source.reject('garbage', 'unknown tag');
  await until(() => collector.state.eventsTotal() === 1030 && agent.sender.stats().buffered === 0);

  const flows = queryFlows(collector.state, { window: undefined, pod: '', namespace: '', limit: 0 }).flows;
  assert.equal(flows.length, 2);
  const f8080 = flows.find((f) => f.servicePort === 8080)!;
  const f9090 = flows.find((f) => f.servicePort === 9090)!;
  assert.equal(f8080.sessions, 500);
  assert.equal(f9090.sessions, 500);
  assert.equal(f8080.txBytes, 500 * 100);
  assert.equal(f8080.rxBytes, 500 * 1000);
  assert.equal(f8080.retransSegs, 500, 'odd i have retransSegs 1');
  assert.equal(f9090.retransSegs, 0);
  assert.equal(f8080.retransmitEvents, 30);
  assert.deepEqual(f8080.retransByState, [{ state: TcpState.TCP_STATE_ESTABLISHED, events: 30 }]);
  assert.equal(f8080.local!.port, 0, 'the ephemeral port is aggregated away');
  assert.equal(f8080.remote!.port, 8080);

  // the agent's own /metrics say the same
  const served = await serveAgentMetrics(agentMetricsRegistry(agent), 0);
  cleanups.push(() => served.close());
  const text = await (await fetch(`http://127.0.0.1:${served.port}/metrics`)).text();
  assert.match(text, /tcpscope_agent_events_total\{type="session"\} 1000/);
  assert.match(text, /tcpscope_agent_events_total\{type="retransmit"\} 30/);
  assert.match(text, /tcpscope_agent_lost_total\{reason="bpftrace_lost"\} 12/);
  assert.match(text, /tcpscope_agent_lost_total\{reason="parse_reject"\} 1/);
  assert.match(text, /tcpscope_agent_collector_connected 1/);
  // and the collector's, by workload pair (no pods here: the host) and agent
  const cm = await (await fetch(`http://${collector.httpAddress}/metrics`)).text();
  assert.match(cm, /tcpscope_sessions_total\{src_workload="node",dst_workload="unresolved"\} 1000/);
  assert.match(cm, /tcpscope_agent_lost_events\{node="node-a",reason="bpftrace_lost"\} 12/);

  const st = queryStatus(collector.state);
  assert.equal(st.agents.length, 1);
  const a = st.agents[0]!;
  assert.equal(a.nodeName, 'node-a');
  assert.equal(a.connected, true);
  assert.equal(a.sessions, 1000);
  assert.equal(a.retransmits, 30);
  assert.equal(a.retransmitFailed, 3);
  assert.equal(a.losses.find((l) => l.reason === LossReason.LOSS_REASON_BPFTRACE_LOST)?.count, 12);
  assert.equal(a.losses.find((l) => l.reason === LossReason.LOSS_REASON_PARSE_REJECT)?.count, 1);
});

test('batches buffered while the collector is down are delivered once it comes up', async () => {
  const port = await freePort();
  const source = new ReplaySource();
  const agent = await startAgent(loadConfig(agentSettings, { nodeName: 'node-b', collector: `127.0.0.1:${port}`, batchMaxEvents: 50, batchFlushMs: 20 }, {}), {
    log, source, kernel: { kernelRelease: 'test', retransmitErrField: false, btf: true, tracepoints: [], bpftraceVersion: '' },
  });
  cleanups.push(() => agent.stop(100));
  for (let i = 0; i < 400; i++) source.emit(session(i, 7000));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(agent.sender.stats().connected, false);
  assert.equal(agent.sender.stats().buffered, 8, '400 sessions in batches of 50, all kept');
  const collector = await startCollector(loadConfig(collectorSettings, { grpcListen: `127.0.0.1:${port}`, httpListen: '127.0.0.1:0', queryListen: '127.0.0.1:0' }, {}), { log });
  cleanups.push(() => collector.close());
  await until(() => agent.sender.stats().buffered === 0, 15_000);
  assert.equal(collector.state.eventsTotal(), 400);
  assert.equal(queryFlows(collector.state, { window: undefined, pod: '', namespace: '', limit: 0 }).flows[0]!.sessions, 400);
});

test('when the buffer is full the oldest batches go and the exact count dropped is reported', async () => {
  const port = await freePort();
  const source = new ReplaySource();
  const agent = await startAgent(loadConfig(agentSettings, { nodeName: 'node-c', collector: `127.0.0.1:${port}`, batchMaxEvents: 10, batchFlushMs: 20, bufferMaxBatches: 5 }, {}), {
    log, source, kernel: { kernelRelease: 'test', retransmitErrField: false, btf: true, tracepoints: [], bpftraceVersion: '' },
  });
  cleanups.push(() => agent.stop(100));
  for (let i = 0; i < 100; i++) source.emit(session(i, 7001)); // 10 batches, 5 kept
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(agent.sender.stats().droppedEvents, 50);
  const collector = await startCollector(loadConfig(collectorSettings, { grpcListen: `127.0.0.1:${port}`, httpListen: '127.0.0.1:0', queryListen: '127.0.0.1:0' }, {}), { log });
  cleanups.push(() => collector.close());
  await until(() => agent.sender.stats().buffered === 0 && (queryStatus(collector.state).agents[0]?.losses.length ?? 0) > 0, 15_000);
  assert.equal(collector.state.eventsTotal(), 50);
  const lost = queryStatus(collector.state).agents[0]!.losses.find((l) => l.reason === LossReason.LOSS_REASON_BUFFER_OVERFLOW);
  assert.equal(lost?.count, 50, 'the 50 dropped events are reported as buffer overflow');
});
