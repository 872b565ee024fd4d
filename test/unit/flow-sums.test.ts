// The always-on path's in-kernel flow sums, from bpftrace's printed maps to the collector's
// flows: the parser joins a flow's map lines into one record per interval, the batcher and
// the ingest edge carry it, and the aggregator gives the same answers as it does for the
// same sessions sent one by one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Batcher } from '../../agent/batch/batcher';
import { TraceParser } from '../../agent/bpftrace/parse';
import type { FlowSumRecord, SessionRecord, TraceRecord } from '../../agent/records';
import { FlowAggregator } from '../../collector/aggregate/flows';
import { decodeBatch } from '../../collector/ingest/validate';
import { Resolver } from '../../collector/resolve/resolver';
import { MemoryRollupStore } from '../../collector/store/memory-store';
import { durationBucket, durationBucketMid, durationBucketRange } from '../../common/duration-bucket';
import { Direction, TcpState } from '../../common/tcp';
import { Batch } from '../../gen/tcpscope/v1/events';

const KEY = '4242, 4026532177, 198.18.0.1, 198.18.0.2, 0, 8080, 1';
const KEY_IN = '1, 4026531833, 2001:db8::2, 2001:db8::1, 443, 0, 2';

function records(p: TraceParser, lines: string[]): TraceRecord[] {
  const out: TraceRecord[] = [];
  for (const l of lines) {
    const o = p.parse(l);
    if (o.type === 'record') out.push(o.record);
    else if (o.type === 'records') out.push(...o.records);
    else if (o.type === 'reject') throw new Error(`rejected: ${o.message}`);
  }
  return out;
}

test('one interval: every map line of a flow joins one record; the end record counts the closes', () => {
  const p = new TraceParser(1_000_000);
  const out = records(p, [
    'F 2000000000 3000000000',
    `@ls0[${KEY}]: 5`, `@lf0[${KEY}]: 2`, `@lt0[${KEY}]: 500`, `@lr0[${KEY}]: 64000`, `@lx0[${KEY}]: 3`, `@lq0[${KEY}]: 250`,
    `@lh0[${KEY}, 41]: 4`, `@lh0[${KEY}, 45]: 1`, `@rn0[${KEY}, 1]: 2`, `@rc0[${KEY}, 1]: 9`,
    `@ls0[${KEY_IN}]: 1`, '', '@lc0: 8',
    'G 3500000000',
  ]);
  assert.equal(out.length, 3);
  const [a, b, end] = out as [FlowSumRecord, FlowSumRecord, TraceRecord];
  assert.deepEqual(a, {
    kind: 'flow-sum', timeUs: 1_000_000 + 3_000_000, startUs: 1_000_000 + 2_000_000, family: 4, laddr: '198.18.0.1', lport: 0, raddr: '198.18.0.2', rport: 8080,
    netnsInode: 4026532177, cgroupId: 4242, direction: Direction.DIRECTION_OUTBOUND, sessions: 5, failedConnects: 2, txBytes: 500, rxBytes: 64000,
    retransSegs: 3, srttSumUs: 250, durations: new Map([[41, 4], [45, 1]]), retransmits: [{ state: TcpState.TCP_STATE_ESTABLISHED, events: 2, segs: 9 }],
  });
  assert.equal(b.family, 6);
  assert.equal(b.lport, 443);
  assert.equal(b.direction, Direction.DIRECTION_INBOUND);
  // 8 closes counted in all, 5 + 2 + 1 in the flows: nothing unaccounted
  assert.deepEqual(end, { kind: 'flow-interval-end', startUs: 3_000_000, endUs: 4_000_000, flows: 2, closes: 8, unaccounted: 0 });
  assert.equal(p.accepted, 3);
});

test('closes missing from every flow (a full map) are reported as unaccounted', () => {
  const p = new TraceParser(0);
  const out = records(p, ['F 1000 2000', `@ls1[${KEY}]: 3`, '@lc1: 10', 'G 3000']);
  assert.deepEqual(out.at(-1), { kind: 'flow-interval-end', startUs: 1, endUs: 2, flows: 1, closes: 10, unaccounted: 7 });
});

test('map lines outside an interval (an exit dump) are notes; a broken key or a lost "G" is rejected and counted', () => {
  const p = new TraceParser(0);
  assert.equal(p.parse(`@ls0[${KEY}]: 5`).type, 'note');
  assert.equal(p.parse('@lc1: 0').type, 'note');
  assert.equal(p.parse('G 5').type, 'reject');
  p.parse('F 1 2');
  const bad = p.parse('@ls0[4242, 1, 198.18.0.1, 198.18.0.2, 0, 8080]: 5');
  assert.equal(bad.type === 'reject' && bad.reason, 'too-few-fields');
  const addr = p.parse('@ls0[4242, 1, 198.18.0.999, 198.18.0.2, 0, 8080, 1]: 5');
  assert.equal(addr.type === 'reject' && addr.reason, 'bad-address');
  const dir = p.parse('@ls0[4242, 1, 198.18.0.1, 198.18.0.2, 0, 8080, 3]: 5');
  assert.equal(dir.type === 'reject' && dir.reason, 'bad-value');
  assert.equal(p.parse(`@ls0[${KEY}]: 5`).type, 'note');
  // a new F before the G: the open interval's flows are lost, and that is said
  const lost = p.parse('F 3 4');
  assert.equal(lost.type === 'reject' && lost.reason, 'too-few-fields');
  assert.equal(p.rejectedTotal, 5);
});

test('duration buckets: four per power of two, computed as the kernel does, ranges hold their values', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 12345].map(durationBucket), [0, 1, 5, 7, 9, 10, 11, 12, 13, 55]);
  for (let i = 0; i < 5000; i++) {
    const us = Math.floor(Math.exp(Math.random() * 30));
    const [lo, hi] = durationBucketRange(durationBucket(us));
    assert.ok(us >= lo && us < hi, `${us} in [${lo}, ${hi})`);
    assert.ok(hi - lo <= Math.max(1, lo / 4), `bucket of ${us} at most 25% wide`);
    assert.ok(Math.abs(durationBucketMid(durationBucket(us)) - us) <= Math.max(0.5, us * 0.125));
  }
});

/** Sums sessions per flow key as the kernel program does. */
function sumAsKernel(sessions: SessionRecord[], startUs: number, endUs: number): FlowSumRecord[] {
  const flows = new Map<string, FlowSumRecord>();
  for (const s of sessions) {
    const local = s.direction === Direction.DIRECTION_INBOUND || (s.direction === Direction.DIRECTION_UNSPECIFIED && s.lport <= s.rport);
    const lport = local ? s.lport : 0, rport = local ? 0 : s.rport;
    const key = `${s.cgroupId}|${s.netnsInode}|${s.laddr}|${s.raddr}|${lport}|${rport}|${s.direction}`;
    let f = flows.get(key);
    if (!f) {
      f = {
        kind: 'flow-sum', timeUs: endUs, startUs, family: s.family, laddr: s.laddr, lport, raddr: s.raddr, rport, netnsInode: s.netnsInode,
        cgroupId: s.cgroupId, direction: s.direction, sessions: 0, failedConnects: 0, txBytes: 0, rxBytes: 0, retransSegs: 0, srttSumUs: 0, durations: new Map(), retransmits: [],
      };
      flows.set(key, f);
    }
    f.txBytes += s.txBytes;
    f.rxBytes += s.rxBytes;
    f.retransSegs += s.retransSegs;
    if (s.failedConnect) {
      f.failedConnects++;
      continue;
    }
    f.sessions++;
    f.srttSumUs += s.srttUs;
    if (!s.bornBeforeTrace) f.durations.set(durationBucket(s.durationUs), (f.durations.get(durationBucket(s.durationUs)) ?? 0) + 1);
  }
  return [...flows.values()];
}

test('flow sums through batcher, wire and ingest give the same flows as the sessions one by one', () => {
  const t0 = 1_700_000_000_000_000;
  const sessions: SessionRecord[] = [];
  for (let i = 0; i < 3000; i++) {
    const pod = i % 7;
    const failed = i % 97 === 0;  // a failed connect carries no bytes
    const dir = i % 3 === 0 ? Direction.DIRECTION_INBOUND : i % 11 === 0 ? Direction.DIRECTION_UNSPECIFIED : Direction.DIRECTION_OUTBOUND;
    sessions.push({
      kind: 'session', timeUs: t0 + i * 300, family: 4, laddr: `198.18.1.${pod}`, lport: dir === Direction.DIRECTION_INBOUND ? 8080 : 30000 + i, raddr: `198.18.2.${i % 5}`,
      rport: dir === Direction.DIRECTION_INBOUND ? 40000 + i : 5432 + (i % 2), txBytes: failed ? 0 : 100 + i, rxBytes: failed ? 0 : 64000 + 3 * i, durationUs: 200 + ((i * 7919) % 500000),
      retransSegs: i % 17 === 0 ? 2 : 0, pid: 0, comm: '', netnsInode: 4026532000 + pod, cgroupId: 9000 + pod, direction: dir,
      failedConnect: failed, srttUs: failed ? 0 : 50 + (i % 13), bornBeforeTrace: i % 101 === 0,
    });
  }
  // one by one
  const perEvent = new FlowAggregator(10, new MemoryRollupStore(10e6));
  const resolver = new Resolver();
  const apply = (agg: FlowAggregator, bytes: Uint8Array[]) => {
    for (const b of bytes) for (const ev of decodeBatch(Batch.decode(b), { maxEvents: 100_000 }).events) agg.add({ ev, local: resolver.local(ev), remote: resolver.remote(ev) });
  };
  const wire1: Uint8Array[] = [];
  const b1 = new Batcher({ runId: 'r', nodeName: 'n', maxEvents: 1000, flushMs: 1000, onBatch: (x) => wire1.push(Batch.encode(x).finish()) });
  for (const s of sessions) b1.addSession(s);
  b1.stop();
  apply(perEvent, wire1);
  // summed per 1 s interval as the kernel does (the sessions span 0.9 s: one 10 s bucket)
  const sums = new FlowAggregator(10, new MemoryRollupStore(10e6));
  const wire2: Uint8Array[] = [];
  const b2 = new Batcher({ runId: 'r', nodeName: 'n', maxEvents: 1000, flushMs: 1000, onBatch: (x) => wire2.push(Batch.encode(x).finish()) });
  const flows = sumAsKernel(sessions, t0, t0 + 1e6 - 1);
  for (const f of flows) b2.addFlow(f);
  b2.stop();
  apply(sums, wire2);

  const byKey = (agg: FlowAggregator) => new Map(agg.query(t0 - 60e6, t0 + 60e6).map((a) => [a.key, a]));
  const a = byKey(perEvent), b = byKey(sums);
  assert.equal(b.size, a.size);
  assert.ok(a.size >= 7 * 3, `${a.size} flows`);
  for (const [key, x] of a) {
    const y = b.get(key);
    assert.ok(y, `flow ${key} present in both`);
    assert.deepEqual([y.sessions, y.failedConnects, y.txBytes, y.rxBytes, y.retransSegs, y.local.port, y.remote.port, y.servicePort],
      [x.sessions, x.failedConnects, x.txBytes, x.rxBytes, x.retransSegs, x.local.port, x.remote.port, x.servicePort], key);
    assert.equal(y.durationsUs.total, x.durationsUs.total);
    for (const q of [0.5, 0.99]) {
      const px = x.durationsUs.quantile(q), py = y.durationsUs.quantile(q);
      assert.ok(Math.abs(px - py) <= 0.25 * px, `p${q * 100} ${py} vs ${px}`);
    }
    assert.ok(Math.abs(y.srttSumUs / y.srttCount - x.srttSumUs / x.srttCount) < 1e-9);
  }
  // and far fewer bytes on the wire
  const size = (w: Uint8Array[]) => w.reduce((n, x) => n + x.length, 0);
  assert.ok(size(wire2) * 10 < size(wire1), `${size(wire2)} vs ${size(wire1)} bytes`);
});

test('the ingest edge rejects impossible flow records', () => {
  const base = (f: Partial<Batch['flows'][number]>): Batch => Batch.fromPartial({
    runId: 'r', seq: 1, nodeName: 'n', baseTimeUnixNs: '1700000000000000000',
    endpoints: [{ family: 4, localAddr: Buffer.from([198, 18, 0, 1]), remoteAddr: Buffer.from([198, 18, 0, 2]) }],
    flows: [{ endpoints: 0, remotePort: 80, direction: 1, sessions: 2, intervalMs: 1000, ...f }],
  });
  assert.equal(decodeBatch(base({}), { maxEvents: 10 }).sessions, 2);
  assert.throws(() => decodeBatch(base({ localPort: 5, remotePort: 80 }), { maxEvents: 10 }), /one of the ports must be 0/);
  assert.throws(() => decodeBatch(base({ durationBuckets: [3] }), { maxEvents: 10 }), /pairs/);
  assert.throws(() => decodeBatch(base({ durationBuckets: [3, 5] }), { maxEvents: 10 }), /5 sessions in duration buckets but 2/);
  assert.throws(() => decodeBatch(base({ endpoints: 4 }), { maxEvents: 10 }), /beyond the 1 endpoints/);
  assert.throws(() => decodeBatch(base({ retransmits: [{ state: 0, events: 1, segs: 1 }] }), { maxEvents: 10 }), /unknown TCP state/);
});
