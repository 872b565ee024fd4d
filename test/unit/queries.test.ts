// Event filters (pod on either end, from/to pod by who connected, type, port) and bad
// queries (malformed pod, unknown grouping, inverted or huge window) with clear errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ResolvedEvent } from '../../collector/events';
import { eventMatcher, windowUs } from '../../collector/query/queries';
import { Direction, TcpState } from '../../common/tcp';
import { EventType, type EventsRequest } from '../../gen/tcpscope/v1/query';

const T = Date.now() * 1000 - 1e6;
const pod = (ns: string, name: string, addr: string) => ({ addr, port: 0, node: 'n', namespace: ns, pod: name, container: '', workload: '', kind: 'pod' });
const web = pod('shop', 'web', '10.0.0.1');
const db = pod('shop', 'db', '10.0.0.2');

function ev(direction: Direction, type: 'life' | 'retrans', local = web, remote = db, rport = 5432): ResolvedEvent {
  const base = { timeUs: T, node: 'n', family: 4 as const, laddr: local.addr, lport: 40000, raddr: remote.addr, rport, direction, netnsInode: 1, cgroupId: 1, localPod: undefined };
  return type === 'life'
    ? { ev: { ...base, type, txBytes: 1, rxBytes: 1, durationUs: 1, retransSegs: 0, pid: 1, comm: 'x', failedConnect: false, srttUs: 1, bornBeforeTrace: false }, local, remote }
    : { ev: { ...base, type, state: TcpState.TCP_STATE_ESTABLISHED, caState: 4, segs: 1 }, local, remote };
}

function req(over: Partial<EventsRequest>): EventsRequest {
  return { window: undefined, pod: '', namespace: '', type: EventType.EVENT_TYPE_UNSPECIFIED, port: 0, last: 0, follow: false, node: '', fromPod: '', toPod: '', ...over };
}

test('--from-pod and --to-pod follow who connected, from either end\'s record', () => {
  const clientSide = ev(Direction.DIRECTION_OUTBOUND, 'life');                 // recorded at web, web connected
  const serverSide = ev(Direction.DIRECTION_INBOUND, 'life', db, web, 40000);  // recorded at db, web connected
  const fromWeb = eventMatcher(req({ fromPod: 'shop/web' }));
  const toWeb = eventMatcher(req({ toPod: 'shop/web' }));
  const toDb = eventMatcher(req({ toPod: 'shop/db' }));
  assert.deepEqual([fromWeb(clientSide), fromWeb(serverSide)], [true, true]);
  assert.deepEqual([toDb(clientSide), toDb(serverSide)], [true, true]);
  assert.deepEqual([toWeb(clientSide), toWeb(serverSide)], [false, false]);
  assert.equal(eventMatcher(req({ fromPod: 'shop/web', toPod: 'shop/db' }))(clientSide), true);
  assert.equal(eventMatcher(req({ fromPod: 'shop/db' }))(clientSide), false);
});

test('type, port and pod-on-either-end filters', () => {
  const life = ev(Direction.DIRECTION_OUTBOUND, 'life');
  const retrans = ev(Direction.DIRECTION_OUTBOUND, 'retrans');
  assert.equal(eventMatcher(req({ type: EventType.EVENT_TYPE_RETRANS }))(life), false);
  assert.equal(eventMatcher(req({ type: EventType.EVENT_TYPE_RETRANS }))(retrans), true);
  assert.equal(eventMatcher(req({ port: 5432 }))(life), true);
  assert.equal(eventMatcher(req({ port: 80 }))(life), false);
  assert.equal(eventMatcher(req({ pod: 'shop/db' }))(life), true);
  assert.equal(eventMatcher(req({ pod: 'other/db' }))(life), false);
});

test('bad queries get clear errors', () => {
  assert.throws(() => eventMatcher(req({ pod: 'no-slash' })), /invalid pod "no-slash": use NAMESPACE\/NAME/);
  assert.throws(() => eventMatcher(req({ fromPod: 'Bad/Name' })), /invalid pod/);
  assert.throws(() => windowUs({ sinceUnixMs: 2000, untilUnixMs: 1000 }), /empty window/);
  assert.throws(() => windowUs({ sinceUnixMs: 1, untilUnixMs: 100 * 86_400_000 }), /window too large/);
});
