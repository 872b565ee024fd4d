// The batcher's batches decode back (through the collector's validation) to exactly the
// records that went in: times, ports, bytes, dictionaries; flushes by size and by time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Batcher } from '../../agent/batch/batcher';
import type { RetransmitRecord, SessionRecord } from '../../agent/records';
import { decodeBatch } from '../../collector/ingest/validate';
import { Batch, Direction, TcpState } from '../../gen/tcpscope/v1/events';

function session(i: number, over: Partial<SessionRecord> = {}): SessionRecord {
  return {
    kind: 'session', timeUs: 1_764_000_000_000_000 + i * 1234, family: 4, laddr: '198.18.0.1', lport: 40000 + i,
    raddr: '198.18.0.2', rport: 8080, txBytes: 100 * i, rxBytes: 7 * i, durationUs: 1000 + i, retransSegs: i % 3,
    pid: 100 + i, comm: i % 2 ? 'curl' : 'node worker', netnsInode: 4026531993, cgroupId: 12345, direction: Direction.DIRECTION_OUTBOUND,
    failedConnect: false, srttUs: 50, bornBeforeTrace: false, ...over,
  };
}

function retrans(i: number): RetransmitRecord {
  return {
    kind: 'retransmit', timeUs: 1_764_000_000_000_000 + i * 999, family: 6, laddr: '2001:db8::1', lport: 50000 + i,
    raddr: '2001:db8::2', rport: 443, state: TcpState.TCP_STATE_ESTABLISHED, caState: 4, netnsInode: 1, cgroupId: 2,
    direction: Direction.DIRECTION_INBOUND, pid: 0, segs: i + 1,
  };
}

test('a batch decodes to exactly the sessions and retransmits that went in', () => {
  const out: Batch[] = [];
  const b = new Batcher({ runId: 'run-1', nodeName: 'node-a', maxEvents: 1000, flushMs: 1000, onBatch: (x) => out.push(x) });
  const sessions = Array.from({ length: 20 }, (_, i) => session(i));
  const rs = Array.from({ length: 5 }, (_, i) => retrans(i));
  sessions.forEach((s) => b.addSession(s));
  rs.forEach((r) => b.addRetransmit(r));
  b.flush();
  assert.equal(out.length, 1);
  // through the wire encoding and back
  const wire = Batch.decode(Batch.encode(out[0]!).finish());
  assert.equal(wire.seq, 1);
  assert.equal(wire.endpoints.length, 2, 'one dictionary entry per distinct endpoint pair');
  assert.deepEqual([...wire.strings].sort(), ['curl', 'node worker']);
  const d = decodeBatch(wire, { maxEvents: 10_000 });
  assert.equal(d.sessions, 20);
  assert.equal(d.retransmits, 5);
  const got = d.events.filter((e) => e.type === 'life');
  for (let i = 0; i < 20; i++) {
    const g = got[i]!;
    const s = sessions[i]!;
    assert.equal(g.type, 'life');
    if (g.type !== 'life') continue;
    assert.equal(g.timeUs, s.timeUs);
    assert.deepEqual([g.laddr, g.lport, g.raddr, g.rport], [s.laddr, s.lport, s.raddr, s.rport]);
    assert.deepEqual([g.txBytes, g.rxBytes, g.durationUs, g.retransSegs, g.pid, g.comm], [s.txBytes, s.rxBytes, s.durationUs, s.retransSegs, s.pid, s.comm]);
    assert.equal(g.node, 'node-a');
  }
  const r = d.events.filter((e) => e.type === 'retrans');
  assert.equal(r.length, 5);
  assert.equal(r[3]!.timeUs, rs[3]!.timeUs);
  assert.equal(r[3]!.laddr, '2001:db8::1');
  assert.equal(r[3]!.type === 'retrans' && r[3]!.state, TcpState.TCP_STATE_ESTABLISHED);
});

test('a batch is flushed when it reaches maxEvents, with consecutive sequence numbers', () => {
  const out: Batch[] = [];
  const b = new Batcher({ runId: 'r', nodeName: 'n', maxEvents: 10, flushMs: 1000, onBatch: (x) => out.push(x) });
  for (let i = 0; i < 25; i++) b.addSession(session(i));
  assert.equal(out.length, 2);
  b.flush();
  assert.deepEqual(out.map((x) => x.seq), [1, 2, 3]);
  assert.deepEqual(out.map((x) => x.sessions.length), [10, 10, 5]);
  b.stop();
});

test('a partial batch is flushed by time', async () => {
  const out: Batch[] = [];
  const b = new Batcher({ runId: 'r', nodeName: 'n', maxEvents: 100, flushMs: 50, onBatch: (x) => out.push(x) });
  b.addSession(session(1));
  assert.equal(out.length, 0);
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(out.length, 1);
  assert.equal(out[0]!.sessions.length, 1);
  b.stop();
});

test('an empty flush makes no batch; flushEmpty makes an event-less one with the next sequence', () => {
  const out: Batch[] = [];
  const b = new Batcher({ runId: 'r', nodeName: 'n', maxEvents: 100, flushMs: 1000, onBatch: (x) => out.push(x) });
  b.flush();
  assert.equal(out.length, 0);
  b.flushEmpty();
  assert.equal(out.length, 1);
  assert.equal(out[0]!.sessions.length, 0);
  assert.equal(out[0]!.seq, 1);
  b.addSession(session(2));
  b.flushEmpty(); // with events pending it is an ordinary flush
  assert.deepEqual(out.map((x) => [x.seq, x.sessions.length]), [[1, 0], [2, 1]]);
  b.stop();
});
