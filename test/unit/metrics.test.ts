// Metrics keep bounded cardinality: label sets beyond the cap go to "_other", idle series
// are removed, and no ephemeral port or address ever becomes a label.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as prom from 'prom-client';
import { BoundedCounter, CollectorMetrics } from '../../collector/metrics';
import type { ResolvedEvent } from '../../collector/events';
import { Direction, TcpState } from '../../common/tcp';

test('a bounded counter caps its label sets and counts the rest under _other', async () => {
  const reg = new prom.Registry();
  const c = new BoundedCounter(reg, 't_total', 'h', ['w'], 3);
  for (let i = 0; i < 10; i++) c.inc({ w: `w${i}` }, 2);
  c.inc({ w: 'w1' }, 5);
  assert.equal(c.series, 3);
  assert.equal(c.overflowed, 14);
  const text = await reg.metrics();
  assert.match(text, /t_total\{w="w1"\} 7/);
  assert.match(text, /t_total\{w="_other"\} 14/);
  assert.doesNotMatch(text, /w="w5"/);
});

test('idle series are removed', async () => {
  const reg = new prom.Registry();
  const c = new BoundedCounter(reg, 'u_total', 'h', ['w'], 10);
  c.inc({ w: 'old' }, 1, 1000);
  c.inc({ w: 'new' }, 1, 5000);
  assert.equal(c.expire(2000, 6000), 1);
  const text = await reg.metrics();
  assert.doesNotMatch(text, /w="old"/);
  assert.match(text, /w="new"/);
});

test('flow metrics are labelled by workload pair and state, never by port or address', async () => {
  const reg = new prom.Registry();
  const m = new CollectorMetrics(reg, 100, 60_000);
  const local = { addr: '10.0.0.1', port: 43211, node: 'n', namespace: 'shop', pod: 'web-abc', container: 'c', workload: 'Deployment/web', kind: 'pod' };
  const remote = { addr: '10.0.0.9', port: 5432, node: 'n', namespace: 'shop', pod: 'db-0', container: 'c', workload: 'StatefulSet/db', kind: 'pod' };
  const base = { timeUs: 1, node: 'n', family: 4 as const, laddr: '10.0.0.1', lport: 43211, raddr: '10.0.0.9', rport: 5432, direction: Direction.DIRECTION_OUTBOUND, netnsInode: 1, cgroupId: 1, localPod: undefined };
  const evs: ResolvedEvent[] = [
    { ev: { ...base, type: 'retrans', state: TcpState.TCP_STATE_ESTABLISHED, caState: 4, segs: 1 }, local, remote },
    { ev: { ...base, type: 'retrans', state: TcpState.TCP_STATE_ESTABLISHED, caState: 4, segs: 1 }, local, remote },
    { ev: { ...base, type: 'life', txBytes: 1, rxBytes: 1, durationUs: 1, retransSegs: 2, pid: 1, comm: 'x', failedConnect: false, srttUs: 1, bornBeforeTrace: false }, local, remote },
  ];
  m.observeBatch(evs);
  const text = await reg.metrics();
  assert.match(text, /tcpscope_retransmits_total\{src_workload="shop\/Deployment\/web",dst_workload="shop\/StatefulSet\/db",state="ESTABLISHED"\} 2/);
  assert.match(text, /tcpscope_sessions_total\{src_workload="shop\/Deployment\/web",dst_workload="shop\/StatefulSet\/db"\} 1/);
  assert.doesNotMatch(text, /43211|10\.0\.0\./);
});
