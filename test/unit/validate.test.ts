// The ingest edge rejects impossible batches with a clear message and accepts good ones.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Batcher } from '../../agent/batch/batcher';
import { BatchError, decodeBatch } from '../../collector/ingest/validate';
import { type Batch, Direction } from '../../gen/tcpscope/v1/events';

function goodBatch(): Batch {
  let out: Batch | undefined;
  const b = new Batcher({ runId: 'r', nodeName: 'n', maxEvents: 100, flushMs: 1000, onBatch: (x) => (out = x) });
  b.addSession({
    kind: 'session', timeUs: 1.7e15, family: 4, laddr: '198.18.0.1', lport: 1, raddr: '198.18.0.2', rport: 2, txBytes: 1,
    rxBytes: 1, durationUs: 1, retransSegs: 0, pid: 1, comm: 'x', netnsInode: 1, cgroupId: 1, direction: Direction.DIRECTION_OUTBOUND,
    failedConnect: false, srttUs: 1, bornBeforeTrace: false,
  });
  b.flush();
  return out!;
}

const cases: Array<[string, (b: Batch) => void, RegExp]> = [
  ['endpoint index out of range', (b) => (b.sessions[0]!.endpoints = 5), /endpoints: index 5 is beyond/],
  ['IPv4 address of 16 bytes', (b) => (b.endpoints[0]!.localAddr = Buffer.alloc(16)), /IPv4 addresses must be 4 bytes/],
  ['unknown family', (b) => (b.endpoints[0]!.family = 9 as never), /unknown address family 9/],
  ['port above 65535', (b) => (b.sessions[0]!.localPort = 70000), /port above 65535/],
  ['comm index out of range', (b) => (b.sessions[0]!.comm = 9), /comm: index 9/],
  ['missing run id', (b) => (b.runId = ''), /run_id/],
  ['sequence zero', (b) => (b.seq = 0), /seq: must be a positive integer/],
  ['impossible duration', (b) => (b.sessions[0]!.durationUs = 1e18), /duration_us: impossible/],
  ['bad base time', (b) => (b.baseTimeUnixNs = 'abc'), /base_time_unix_ns/],
  ['unknown direction', (b) => (b.sessions[0]!.direction = 7 as never), /direction: unknown value 7/],
  ['local pod index out of range', (b) => (b.endpoints[0]!.localPod = 3), /local_pod/],
];

for (const [name, mutate, msg] of cases) {
  test(`a batch with ${name} is rejected with a clear error`, () => {
    const b = goodBatch();
    mutate(b);
    assert.throws(() => decodeBatch(b, { maxEvents: 100 }), (err: unknown) => err instanceof BatchError && msg.test(err.message));
  });
}

test('a batch with more events than the limit is rejected', () => {
  assert.throws(() => decodeBatch(goodBatch(), { maxEvents: 0 }), /at most 0 are accepted/);
});

test('a good batch is accepted', () => {
  const d = decodeBatch(goodBatch(), { maxEvents: 100 });
  assert.equal(d.sessions, 1);
  assert.equal(d.events[0]!.laddr, '198.18.0.1');
});
