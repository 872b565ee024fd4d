// The agent's always-on program on the real kernel: sessions summed per flow in bpftrace
// maps (exact sessions and bytes per flow, both ends), and retransmits above the
// per-interval limit counted in the kernel, so that the retransmits printed one by one plus
// those counted add up to the kernel's own TcpRetransSegs.
import assert from 'node:assert/strict';
import { BpftraceRunner } from '../../agent/bpftrace/runner';
import type { FlowIntervalEndRecord, FlowSumRecord, RetransmitRecord, TraceRecord } from '../../agent/records';
import { Direction, TcpState } from '../../common/tcp';
import { kernelTest } from '../lib/kernel';
import { createTestNet, runWorkloadClient, startWorkloadServer, type WorkloadConn } from '../lib/netns';

kernelTest('flow sums in the kernel: exact sessions and bytes per flow; retransmits past the limit counted per flow add up to TcpRetransSegs', async (t) => {
  // one segment per skb: every retransmitted segment is one event, so the limit is passed
  const net = await createTestNet(t, { gsoMaxSegs: 1 });
  const cleanPort = 5301, lossPort = 5302;
  const srv = await startWorkloadServer(net.server, net.server.addr4, [cleanPort, lossPort]);
  await net.dropOnInput(net.server, lossPort, 5);
  // one long interval: everything lands in the first epoch and comes out at END
  const LIMIT = 3;
  const runner = new BpftraceRunner({ program: { kind: 'agent', flowIntervalMs: 60_000, retransmitLimit: LIMIT } });
  const records: TraceRecord[] = [];
  runner.onRecord((r) => records.push(r));
  const rejects: string[] = [];
  runner.onReject((line, reason) => rejects.push(`${reason}: ${line}`));
  await runner.start();
  t.after(() => runner.stop());

  const before = (await net.retransSegs(net.client)) + (await net.retransSegs(net.server));
  const clean = await runWorkloadClient(net.client, { raddr: net.server.addr4, rport: cleanPort, conns: 5, upBytes: 3000, downBytes: 70_000, closer: 'alternate' });
  const lossy = await runWorkloadClient(net.client, { raddr: net.server.addr4, rport: lossPort, conns: 4, upBytes: 200_000, downBytes: 1000, closer: 'client', concurrency: 2 });
  await srv.stop();
  await new Promise((r) => setTimeout(r, 300));
  const segments = (await net.retransSegs(net.client)) + (await net.retransSegs(net.server)) - before;
  await runner.stop();

  assert.deepEqual(rejects, []);
  const hosts = [net.client.addr4, net.server.addr4];
  const ours = (r: { laddr: string; raddr: string }) => hosts.includes(r.laddr) && hosts.includes(r.raddr);
  const flows = records.filter((r): r is FlowSumRecord => r.kind === 'flow-sum' && ours(r));
  const perEvent = records.filter((r): r is RetransmitRecord => r.kind === 'retransmit' && ours(r));
  const ends = records.filter((r): r is FlowIntervalEndRecord => r.kind === 'flow-interval-end');
  assert.ok(ends.length >= 1 && ends.every((e) => e.unaccounted === 0), `every close is in a flow's sums: ${JSON.stringify(ends)}`);
  assert.equal(records.filter((r) => r.kind === 'session').length, 0, 'nothing per session');

  // one record per flow and interval; the ephemeral port is 0
  const flow = (laddr: string, port: number, dir: Direction) => {
    const got = flows.filter((f) => f.laddr === laddr && (f.lport || f.rport) === port && f.direction === dir);
    assert.equal(got.length, 1, `one flow ${laddr} ${port} ${dir}: ${JSON.stringify(got)}`);
    return got[0]!;
  };
  const sum = (conns: WorkloadConn[], k: 'txBytes' | 'rxBytes') => conns.reduce((s, c) => s + c[k], 0);
  for (const [conns, port] of [[clean, cleanPort], [lossy, lossPort]] as const) {
    const out = flow(net.client.addr4, port, Direction.DIRECTION_OUTBOUND);
    const inb = flow(net.server.addr4, port, Direction.DIRECTION_INBOUND);
    assert.deepEqual([out.lport, out.rport, inb.lport, inb.rport], [0, port, port, 0]);
    assert.deepEqual([out.sessions, out.failedConnects, inb.sessions], [conns.length, 0, conns.length]);
    assert.equal(out.txBytes, sum(conns, 'txBytes'), `client bytes sent to ${port}, exact`);
    assert.equal(out.rxBytes, sum(conns, 'rxBytes'), `client bytes received from ${port}, exact`);
    assert.equal(inb.rxBytes, sum(conns, 'txBytes'), `server bytes received on ${port}, exact`);
    assert.equal(inb.txBytes, sum(conns, 'rxBytes'), `server bytes sent on ${port}, exact`);
    for (const f of [out, inb]) {
      assert.equal([...f.durations.values()].reduce((a, b) => a + b, 0), conns.length, 'every session has a duration bucket');
      assert.ok(f.srttSumUs > 0);
    }
  }
  assert.equal(flows.length, 4, 'two services, both ends');

  // retransmits: at most LIMIT printed (the limit is per interval, for the whole host),
  // the rest counted per flow and state; together they carry every retransmitted segment
  const tallies = flows.flatMap((f) => f.retransmits);
  const countedEvents = tallies.reduce((s, x) => s + x.events, 0);
  const countedSegs = tallies.reduce((s, x) => s + x.segs, 0);
  const printedSegs = perEvent.reduce((s, r) => s + r.segs, 0);
  t.diagnostic(`retransmitted segments ${segments}: ${perEvent.length} events printed (${printedSegs} segs), ${countedEvents} counted in the kernel (${countedSegs} segs)`);
  assert.ok(segments > LIMIT, `the loss caused more retransmits (${segments}) than the limit`);
  assert.ok(perEvent.length <= LIMIT);
  assert.ok(countedEvents > 0, 'retransmits past the limit are counted in the kernel');
  assert.equal(printedSegs + countedSegs, segments, 'printed + counted segments = the kernel\'s TcpRetransSegs');
  assert.equal(flows.reduce((s, f) => s + f.retransSegs, 0), segments, 'summed total_retrans = TcpRetransSegs');
  const established = tallies.filter((x) => x.state === TcpState.TCP_STATE_ESTABLISHED).reduce((s, x) => s + x.events, 0);
  assert.ok(established >= countedEvents - 2, `counted retransmits are in ESTABLISHED: ${JSON.stringify(tallies)}`);
}, 120_000);
