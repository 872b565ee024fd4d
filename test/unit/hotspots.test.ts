// Hot-spot reports checked against numbers worked out by hand from a known event set.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlowAggregator } from '../../collector/aggregate/flows';
import type { FlowEvent } from '../../collector/events';
import { buildHotspots } from '../../collector/query/hotspots';
import { MemoryRollupStore } from '../../collector/store/memory-store';
import { Direction, TcpState } from '../../common/tcp';
import type { Endpoint } from '../../gen/tcpscope/v1/query';

const T = 1_764_000_000_000_000;

function pod(ns: string, name: string, node: string, addr: string, workload = ''): Endpoint {
  return { addr, port: 0, node, namespace: ns, pod: name, container: 'main', workload, kind: 'pod' };
}
function ext(addr: string): Endpoint {
  return { addr, port: 0, node: '', namespace: '', pod: '', container: '', workload: '', kind: 'external' };
}

function life(local: Endpoint, remote: Endpoint, n: number, retransSegs: number, tx: number, failed = false): Array<[FlowEvent, Endpoint, Endpoint]> {
  return Array.from({ length: n }, (_, i) => [{
    type: 'life', timeUs: T + i, node: local.node, family: 4, laddr: local.addr, lport: 40000 + i, raddr: remote.addr, rport: 80,
    direction: Direction.DIRECTION_OUTBOUND, netnsInode: 1, cgroupId: 1, localPod: undefined, txBytes: tx, rxBytes: 0,
    durationUs: 1000, retransSegs, pid: 1, comm: 'c', failedConnect: failed, srttUs: 0, bornBeforeTrace: false,
  } as FlowEvent, local, remote]);
}

function retrans(local: Endpoint, remote: Endpoint, n: number, state: TcpState): Array<[FlowEvent, Endpoint, Endpoint]> {
  return Array.from({ length: n }, (_, i) => [{
    type: 'retrans', timeUs: T + i, node: local.node, family: 4, laddr: local.addr, lport: 40000 + i, raddr: remote.addr, rport: 80,
    direction: Direction.DIRECTION_OUTBOUND, netnsInode: 1, cgroupId: 1, localPod: undefined, state, caState: 4, segs: 1,
  } as FlowEvent, local, remote]);
}

// web-1 (node-a) -> api (node-b): 10 sessions, 2 segs each, 1 MB each; 18 retransmits in ESTABLISHED
// web-2 (node-a) -> db (node-c): 4 sessions, 0 segs; 3 failed connects; 6 retransmits in SYN_SENT
// job-1 (node-b) -> 203.0.113.9: 5 sessions, 1 seg each, 0.5 MB; 4 retransmits ESTABLISHED, 1 in FIN_WAIT1
// Every retransmit event here carries 1 segment; a group's segments are the larger of its
// closed sessions' total_retrans and its events' segments: web-1 20, web-2 6, job-1 5.
function load(): FlowAggregator {
  const web1 = pod('shop', 'web-1', 'node-a', '10.0.0.1', 'Deployment/web');
  const web2 = pod('shop', 'web-2', 'node-a', '10.0.0.2', 'Deployment/web');
  const job1 = pod('batch', 'job-1', 'node-b', '10.0.1.1', 'Job/j');
  const api = pod('shop', 'api-1', 'node-b', '10.0.1.5', 'Deployment/api');
  const db = pod('shop', 'db-0', 'node-c', '10.0.2.7', 'StatefulSet/db');
  const out = ext('203.0.113.9');
  const agg = new FlowAggregator(10, new MemoryRollupStore(10e6));
  const all = [
    ...life(web1, api, 10, 2, 1_000_000), ...retrans(web1, api, 18, TcpState.TCP_STATE_ESTABLISHED),
    ...life(web2, db, 4, 0, 1000), ...life(web2, db, 3, 0, 0, true), ...retrans(web2, db, 6, TcpState.TCP_STATE_SYN_SENT),
    ...life(job1, out, 5, 1, 500_000), ...retrans(job1, out, 4, TcpState.TCP_STATE_ESTABLISHED), ...retrans(job1, out, 1, TcpState.TCP_STATE_FIN_WAIT1),
  ];
  for (const [ev, local, remote] of all) agg.add({ ev, local, remote });
  return agg;
}

test('hotspots by pod rank by retransmitted segments with per-session and per-MB rates and the right finding', () => {
  const rows = buildHotspots(load().query(T - 1e6, T + 1e6), 'pod', 10);
  assert.deepEqual(rows.map((r) => r.key), ['shop/web-1', 'shop/web-2', 'batch/job-1']);
  const [w1, w2, j1] = rows;
  assert.equal(w1!.retransSegs, 20);
  assert.equal(w1!.retransmitEvents, 18);
  assert.equal(w1!.sessions, 10);
  assert.equal(w1!.retransPerSession, 2);
  assert.equal(w1!.retransPerMb, 20 / 10); // 20 segs over 10 MB
  assert.match(w1!.finding, /network path/);
  assert.match(w1!.evidence, /18 of 18 retransmits in ESTABLISHED \(100%\)/);
  assert.equal(j1!.retransSegs, 5);
  assert.equal(j1!.retransPerMb, 5 / 2.5);
  assert.deepEqual(j1!.states.map((s) => [s.state, s.events]), [[TcpState.TCP_STATE_ESTABLISHED, 4], [TcpState.TCP_STATE_FIN_WAIT1, 1]]);
  assert.equal(w2!.retransEventSegs, 6);
  assert.equal(w2!.retransSegs, 0, 'no session of web-2 closed with retransmits');
  assert.equal(w2!.failedConnects, 3);
  assert.equal(w2!.sessions, 4);
  assert.match(w2!.finding, /server overloaded or unreachable/);
  assert.match(w2!.evidence, /6 of 6 retransmits in SYN_SENT/);
});

test('hotspots by node pair and by node name the concentration', () => {
  const agg = load();
  const pairs = buildHotspots(agg.query(T - 1e6, T + 1e6), 'node-pair', 10);
  assert.deepEqual(pairs.map((r) => [r.key, r.retransmitEvents]), [['node-a -> node-b', 18], ['node-a -> node-c', 6], ['node-b -> external', 5]]);
  // 18 of 29 events = 62%: below the 70% concentration line, so no concentration finding
  assert.doesNotMatch(pairs[0]!.finding, /concentrated/);
  const nodes = buildHotspots(agg.query(T - 1e6, T + 1e6), 'node', 10);
  assert.deepEqual(nodes.map((r) => [r.key, r.retransSegs, r.retransmitEvents]), [['node-a', 20, 24], ['node-b', 5, 5]]);
  assert.match(nodes[0]!.finding, /concentrated on this node/); // 24 of 29 = 83%
  assert.match(nodes[0]!.evidence, /83% of all retransmits/);
});

test('hotspots by remote group external addresses by range and by workload group pods', () => {
  const agg = load();
  const remote = buildHotspots(agg.query(T - 1e6, T + 1e6), 'remote', 10);
  assert.deepEqual(remote.map((r) => r.key), ['shop/api-1', 'shop/db-0', 'external:203.0.113.0/24']);
  const wl = buildHotspots(agg.query(T - 1e6, T + 1e6), 'workload', 10);
  assert.deepEqual(wl.map((r) => [r.key, r.retransSegs, r.failedConnects]), [['shop/Deployment/web', 20, 3], ['batch/Job/j', 5, 0]]);
});

test('a window that holds nothing gives no rows', () => {
  assert.deepEqual(buildHotspots(load().query(T + 3600e6, T + 7200e6), 'pod', 10), []);
});
