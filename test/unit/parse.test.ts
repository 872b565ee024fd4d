// The bpftrace output parser: every kind of line bpftrace prints for our programs, and each
// kind of malformed line, rejected with its reason and counted, never thrown.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TraceParser, type ParseOutcome } from '../../agent/bpftrace/parse';

const S4 = 'S 4263089058362 4 198.18.0.1 54938 198.18.0.2 7002 1000 2000 6814 3 7193 4026532177 1234 1 0 133 1 node';
const S6 = 'S 4263089058362 6 2001:db8:1::1 54938 2001:db8:1::2 7002 12 0 99 0 0 4026532177 1 2 0 22 1 ';
const R4 = 'R 5000000000 4 198.18.0.1 40000 198.18.0.2 5201 1 4 4026532177 77 1 0 3';
const OFFSET = 1_700_000_000_000_000;

function parse(line: string): ParseOutcome {
  return new TraceParser(OFFSET).parse(line);
}
function rejectReason(line: string): string {
  const out = parse(line);
  assert.equal(out.type, 'reject', `expected a reject for ${JSON.stringify(line)}, got ${JSON.stringify(out)}`);
  return out.type === 'reject' ? out.reason : '';
}

test('a session line becomes a SessionRecord with µs since the epoch', () => {
  const out = parse(S4);
  assert.equal(out.type, 'record');
  assert.deepEqual(out.type === 'record' && out.record, {
    kind: 'session', timeUs: OFFSET + 4263089058, family: 4, laddr: '198.18.0.1', lport: 54938, raddr: '198.18.0.2', rport: 7002,
    txBytes: 1000, rxBytes: 2000, durationUs: 6814, retransSegs: 3, pid: 7193, comm: 'node', netnsInode: 4026532177, cgroupId: 1234,
    direction: 1, failedConnect: false, srttUs: 133, bornBeforeTrace: false,
  });
});

test('comm is the rest of the line: spaces kept, empty allowed', () => {
  const withSpaces = parse(`${S4.slice(0, -'node'.length)}Web Content  x`);
  assert.equal(withSpaces.type === 'record' && withSpaces.record.kind === 'session' && withSpaces.record.comm, 'Web Content  x');
  const empty = parse(S6);
  assert.equal(empty.type === 'record' && empty.record.kind === 'session' && empty.record.comm, '');
});

test('an IPv6 session, a failed connect and a session born before tracing', () => {
  const v6 = parse(S6);
  assert.ok(v6.type === 'record' && v6.record.kind === 'session');
  assert.equal(v6.record.family, 6);
  assert.equal(v6.record.raddr, '2001:db8:1::2');
  assert.equal(v6.record.direction, 2);
  const failed = parse('S 1 4 198.18.0.1 0 198.18.0.2 80 0 0 1000000 2 55 1 1 1 1 0 1 curl');
  assert.ok(failed.type === 'record' && failed.record.kind === 'session' && failed.record.failedConnect);
  const unborn = parse('S 1 4 198.18.0.1 1 198.18.0.2 80 5 6 0 0 0 1 1 0 0 10 0 ');
  assert.ok(unborn.type === 'record' && unborn.record.kind === 'session' && unborn.record.bornBeforeTrace && unborn.record.durationUs === 0);
});

test('a retransmit line becomes a RetransmitRecord', () => {
  const out = parse(R4);
  assert.deepEqual(out.type === 'record' && out.record, {
    kind: 'retransmit', timeUs: OFFSET + 5000000, family: 4, laddr: '198.18.0.1', lport: 40000, raddr: '198.18.0.2', rport: 5201,
    state: 1, caState: 4, netnsInode: 4026532177, cgroupId: 77, direction: 1, pid: 0, segs: 3,
  });
  const v6 = parse('R 5 6 ::ffff:198.18.0.1 1 fe80::1 2 2 5 1 1 0 9 1');
  assert.ok(v6.type === 'record' && v6.record.kind === 'retransmit' && v6.record.state === 2 && v6.record.caState === 5);
});

test("bpftrace's own lines: attach banner, ready marker, blank lines, warnings, exit dumps", () => {
  assert.deepEqual(parse('Attaching 5 probes...'), { type: 'note', text: 'Attaching 5 probes...' });
  assert.deepEqual(parse('B 4254402081557'), { type: 'ready', monoNs: 4254402081557 });
  assert.deepEqual(parse('C 4254402081557'), { type: 'counts-end', monoNs: 4254402081557 });
  assert.deepEqual(parse(''), { type: 'note', text: '' });
  assert.deepEqual(parse('   '), { type: 'note', text: '' });
  assert.equal(parse('WARNING: something').type, 'note');
  assert.equal(parse('@birth[18446616781435520000]: 4263089058362').type, 'note');
  assert.equal(parse('@skcomm[18446616781435520000]: node').type, 'note');
  assert.deepEqual(parse('Lost 101 events'), { type: 'record', record: { kind: 'lost', count: 101 } });
  assert.equal(parse(`${R4}\r`).type, 'record');
});

test('failed retransmits: the cumulative kernel count becomes deltas, reset per process', () => {
  const p = new TraceParser(0);
  const counts = ['@rfail[0]: 3', '@rfail[0]: 3', '@rfail[0]: 10'].map((l) => {
    const o = p.parse(l);
    return o.type === 'record' && o.record.kind === 'retransmit-failed' ? o.record.count : -1;
  });
  assert.deepEqual(counts, [3, 0, 7]);
  p.restart(0);
  const again = p.parse('@rfail[0]: 2');
  assert.equal(again.type === 'record' && again.record.kind === 'retransmit-failed' && again.record.count, 2);
});

test('count mode lines become RetransmitCountRecords', () => {
  assert.deepEqual(parse('@rcount[198.18.0.1, 40000, 198.18.0.2, 5201]: 12'),
    { type: 'record', record: { kind: 'retransmit-count', family: 4, laddr: '198.18.0.1', lport: 40000, raddr: '198.18.0.2', rport: 5201, count: 12 } });
  const v6 = parse('@rcount[2001:db8::1, 1, 2001:db8::2, 2]: 1');
  assert.ok(v6.type === 'record' && v6.record.kind === 'retransmit-count' && v6.record.family === 6);
});

test('malformed lines are rejected with their reason', () => {
  // too few fields / truncated
  assert.equal(rejectReason(S4.split(' ').slice(0, 10).join(' ')), 'too-few-fields');
  assert.equal(rejectReason(R4.slice(0, 30)), 'too-few-fields');
  assert.equal(rejectReason('@rcount[198.18.0.1, 40000, 198.18.0.2]: 12'), 'too-few-fields');
  assert.equal(rejectReason('@rfail[0'), 'too-few-fields');
  // too many
  assert.equal(rejectReason(`${R4} 7`), 'too-many-fields');
  // non-numeric
  assert.equal(rejectReason(S4.replace(' 1000 ', ' 1k00 ')), 'not-a-number');
  assert.equal(rejectReason(S4.replace(' 4263089058362 ', ' -5 ')), 'not-a-number');
  assert.equal(rejectReason(R4.replace(' 5201 ', ' 52.1 ')), 'not-a-number');
  assert.equal(rejectReason('B soon'), 'not-a-number');
  assert.equal(rejectReason('@rfail[0]: many'), 'not-a-number');
  // bad addresses
  assert.equal(rejectReason(S4.replace('198.18.0.1', '198.18.0.256')), 'bad-address');
  assert.equal(rejectReason(S4.replace('198.18.0.1', '198.18.0')), 'bad-address');
  assert.equal(rejectReason(S4.replace('198.18.0.1', '2001:db8::1')), 'bad-address');
  assert.equal(rejectReason(R4.replace('198.18.0.2', 'host')), 'bad-address');
  assert.equal(rejectReason('@rcount[1.2.3, 1, 1.2.3.4, 2]: 1'), 'bad-address');
  // out-of-range values
  assert.equal(rejectReason(S4.replace(' 4 198', ' 5 198')), 'bad-value');
  assert.equal(rejectReason(S4.replace(' 54938 ', ' 65536 ')), 'bad-value');
  assert.equal(rejectReason(R4.replace(' 5201 1 4 ', ' 5201 13 4 ')), 'bad-value');
  assert.equal(rejectReason(R4.replace(' 5201 1 4 ', ' 5201 1 6 ')), 'bad-value');
  assert.equal(rejectReason(R4.replace(/ 3$/, ' 0')), 'bad-value', 'a retransmission carries at least one segment');
  assert.equal(rejectReason('Lost many events'), 'bad-value');
  // unknown
  assert.equal(rejectReason('X 1 2 3'), 'unknown-tag');
  assert.equal(rejectReason('hello'), 'unknown-tag');
  assert.equal(rejectReason('@other[1]: 2'), 'unknown-map');
});

test('the parser counts what it accepted and rejected, by reason, and never throws', () => {
  const p = new TraceParser(0);
  const junk = ['', 'S', 'S ', 'R', 'R ', '@', '@[', '@rcount[', 'Lost', 'B', 'B ', '\u0000\u0001', 'S '.repeat(40), 'R 1 4 ' + 'x '.repeat(20), S4, R4];
  for (const l of junk) assert.doesNotThrow(() => p.parse(l));
  for (let i = 0; i < 2000; i++) {
    const base = i % 2 ? S4 : R4;
    const cut = base.slice(0, (i * 7) % base.length) + String.fromCharCode(32 + (i % 90)) + base.slice((i * 7) % base.length + 1);
    assert.doesNotThrow(() => p.parse(cut));
  }
  assert.ok(p.accepted >= 2);
  assert.ok(p.rejectedTotal > 0);
  assert.equal(p.rejected['unknown-tag'] > 0, true);
});
