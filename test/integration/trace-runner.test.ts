// BpftraceRunner supervision: a clear error when bpftrace cannot start, restarts with
// backoff when it dies, clean stop (SIGINT runs END), and on the real kernel a killed
// bpftrace comes back and none is left running after stop().
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { fixtureFormats } from '../../agent/bpf/generate';
import { BpftraceRunner, readRecursionMisses } from '../../agent/bpftrace/runner';
import type { TraceRecord } from '../../agent/records';
import { kernelTest } from '../lib/kernel';

const SESSION = 'S 4263089058362 4 198.18.0.1 54938 198.18.0.2 7002 1000 2000 6814 0 7193 4026532177 1 1 0 133 1 node';

function fakeBpftrace(script: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tcpscope-fake-bt-'));
  const file = path.join(dir, 'bpftrace');
  writeFileSync(file, `#!/bin/bash\n${script}\n`, { mode: 0o755 });
  return file;
}

test('bpftrace that fails to attach: start() rejects with its own error, memlock warning filtered', async () => {
  const bin = fakeBpftrace(`echo "ERROR: Unknown error -1: couldn't set RLIMIT_MEMLOCK for bpftrace." >&2
echo "Attaching 3 probes..."
echo "ERROR: Error attaching probe: tracepoint:tcp:tcp_retransmit_skb" >&2
exit 1`);
  const r = new BpftraceRunner({ program: { kind: 'retrans' }, formats: fixtureFormats(), bpftrace: bin });
  await assert.rejects(r.start(), (err: Error) => {
    assert.match(err.message, /^bpftrace failed to start \(exit 1\):\nERROR: Error attaching probe: tracepoint:tcp:tcp_retransmit_skb$/);
    return true;
  });
  await r.stop();
});

test('a missing bpftrace binary: start() says so', async () => {
  const r = new BpftraceRunner({ program: { kind: 'life' }, formats: fixtureFormats(), bpftrace: '/nonexistent/bpftrace' });
  await assert.rejects(r.start(), /bpftrace is not installed/);
  await r.stop();
});

test('bpftrace dying is restarted with backoff and counted; records keep flowing; a bad line is rejected, not thrown', async () => {
  const bin = fakeBpftrace(`echo "B 1"; echo "${SESSION}"; echo "S 1 2 3"; sleep 0.1; exit 3`);
  const records: TraceRecord[] = [];
  const rejects: string[] = [];
  const r = new BpftraceRunner({ program: { kind: 'agent' }, formats: fixtureFormats(), bpftrace: bin, backoffInitialMs: 50, backoffMaxMs: 200 });
  r.onRecord((rec) => records.push(rec));
  r.onReject((_line, reason) => rejects.push(reason));
  let restarts = 0;
  r.onRestart(() => restarts++);
  await r.start();
  await new Promise((res) => setTimeout(res, 1500));
  await r.stop();
  assert.ok(restarts >= 3, `restarted ${restarts} times`);
  assert.equal(r.stats().restarts, restarts);
  assert.ok(records.filter((x) => x.kind === 'session').length >= restarts);
  assert.ok(rejects.length >= restarts && rejects.every((x) => x === 'too-few-fields'));
});

test('stop() sends SIGINT and waits for the END output; SIGTERM/SIGKILL when ignored', async () => {
  const bin = fakeBpftrace(`trap 'echo "@rcount[198.18.0.1, 1, 198.18.0.2, 2]: 5"; echo "C 9"; exit 0' INT
echo "B 1"; while true; do sleep 0.05; done`);
  const r = new BpftraceRunner({ program: { kind: 'retrans-count' }, formats: fixtureFormats(), bpftrace: bin });
  const got: TraceRecord[] = [];
  let tableEnds = 0;
  r.onRecord((x) => got.push(x));
  r.on('counts-end', () => tableEnds++);
  await r.start();
  await r.stop();
  assert.deepEqual(got, [{ kind: 'retransmit-count', family: 4, laddr: '198.18.0.1', lport: 1, raddr: '198.18.0.2', rport: 2, count: 5 }]);
  assert.equal(tableEnds, 1);

  const stubborn = fakeBpftrace(`trap '' INT TERM; echo "B 1"; while true; do sleep 0.05; done`);
  const r2 = new BpftraceRunner({ program: { kind: 'life' }, formats: fixtureFormats(), bpftrace: stubborn, stopTimeoutMs: 200 });
  await r2.start();
  const pid = r2.pid!;
  await r2.stop();
  assert.throws(() => process.kill(pid, 0), /ESRCH/);
});

kernelTest('real bpftrace killed with SIGKILL comes back; neither process is left after stop()', async () => {
  const r = new BpftraceRunner({ program: { kind: 'agent', intervalSec: 1 }, backoffInitialMs: 100 });
  let restarts = 0;
  r.onRestart(() => restarts++);
  await r.start();
  const first = r.pid!;
  const ready = new Promise<void>((res) => r.once('ready', () => res()));
  process.kill(first, 'SIGKILL');
  await ready;
  assert.equal(restarts, 1);
  assert.notEqual(r.pid, first);
  const second = r.pid!;
  await r.stop();
  for (const pid of [first, second]) assert.throws(() => process.kill(pid, 0), /ESRCH/);
}, 120_000);

test('probe runs the kernel skipped are read from the fdinfo of bpftrace\'s program fds', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'tcpscope-proc-'));
  const dir = path.join(root, '4242', 'fdinfo');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, '3'), 'pos:\t0\nflags:\t02000002\n');
  writeFileSync(path.join(dir, '12'), 'pos:\t0\nprog_type:\t5\nrun_cnt:\t90\nrecursion_misses:\t84\n');
  writeFileSync(path.join(dir, '13'), 'pos:\t0\nprog_type:\t5\nrecursion_misses:\t2\n');
  writeFileSync(path.join(dir, '14'), 'pos:\t0\nmap_type:\t1\n');
  assert.equal(readRecursionMisses(4242, root), 86);
  assert.equal(readRecursionMisses(4343, root), undefined, 'no such process');
});
