// Program generation from tracepoint format files: with and without tcp_retransmit_skb's
// `err` field, filters, and the rendered agent/bpf/*.bt copies in sync with the generator.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { fixtureFormats, renderAll } from '../../agent/bpf/generate';
import { PreflightError, preflight } from '../../agent/bpftrace/preflight';
import { generateProgram, parseFormatFile } from '../../agent/bpftrace/program';

const ROOT = path.resolve(__dirname, '..', '..', '..');

test('format files: fields with type, array length and offset', () => {
  const f = fixtureFormats();
  assert.equal(f.retransmit.name, 'tcp_retransmit_skb');
  assert.deepEqual(f.retransmit.fields.get('saddr_v6'), { type: '__u8', name: 'saddr_v6', arrayLen: 16, offset: 42, size: 16, signed: false });
  assert.deepEqual(f.retransmit.fields.get('skaddr'), { type: 'const void *', name: 'skaddr', arrayLen: 0, offset: 16, size: 8, signed: false });
  assert.equal(f.retransmit.fields.get('err')?.type, 'int');
  assert.equal(f.setState.fields.get('newstate')?.offset, 20);
  assert.throws(() => parseFormatFile('nothing here'), /no "name:" line/);
  assert.throws(() => parseFormatFile('name: x\nID: 1\n'), /lists no fields/);
});

test('with `err`: failed attempts are counted in @rfail, never printed as retransmits', () => {
  const p = generateProgram({ kind: 'agent-events', intervalSec: 1 }, fixtureFormats());
  assert.equal(p.retransmitErr, true);
  assert.match(p.text, /if \(args->err != 0\) \{\n\s+\/\/ a failed attempt: nothing was sent\n\s+@rfail\[0\] = count\(\);\n\s+\} else \{/);
  assert.match(p.text, /interval:s:1\n\{\n  print\(@rfail\);\n\}/);
  assert.deepEqual(p.tracepoints, ['sock:inet_sock_set_state', 'tcp:tcp_retransmit_skb']);
  // one process, both probes, the retransmit probe reads the lifespan map's direction
  assert.match(p.text, /@dir\[\(uint64\)args->skaddr\]/);
});

test('without `err` (older kernels): no err test, no @rfail', () => {
  const formats = fixtureFormats('tcp_retransmit_skb.no-err.format');
  assert.equal(formats.retransmit.fields.has('err'), false);
  for (const kind of ['agent', 'retrans', 'retrans-count'] as const) {
    const p = generateProgram({ kind, intervalSec: 1 }, formats);
    assert.equal(p.retransmitErr, false);
    assert.doesNotMatch(p.text, /args->err/);
    assert.doesNotMatch(p.text, /@rfail/);
    assert.match(p.text, /has no `err` field/);
  }
});

test('END clears every map the program fills, so the exit dump stays empty', () => {
  for (const kind of ['agent', 'agent-events', 'life', 'retrans', 'retrans-count'] as const) {
    const p = generateProgram({ kind }, fixtureFormats());
    const filled = new Set([...p.text.matchAll(/(@[a-z0-9]+)(\[[^\]]*\])? = /g)].map((m) => m[1]!));
    const end = p.text.slice(p.text.lastIndexOf('END\n{'));
    for (const m of filled) assert.match(end, new RegExp(`clear\\(${m}\\);`), `${kind}: ${m} cleared in END`);
  }
});

test('filters are done in the kernel: family, local and remote ports, pid', () => {
  const life = generateProgram({ kind: 'life', family: 6, localPorts: [80, 443], remotePorts: [5432], pid: 42 }, fixtureFormats()).text;
  assert.match(life, /\/args->protocol == 6 && args->family == 10\//);
  assert.match(life, /if \(\(args->sport == 80 \|\| args->sport == 443\) && \(args->dport == 5432\) && @skpid\[\$k\] == 42\) \{/);
  const retrans = generateProgram({ kind: 'retrans', family: 4, remotePorts: [22] }, fixtureFormats()).text;
  assert.match(retrans, /tracepoint:tcp:tcp_retransmit_skb\n\/args->family == 2 && \(args->dport == 22\)\//);
  assert.throws(() => generateProgram({ kind: 'life', localPorts: [70000] }, fixtureFormats()), /not a port/);
  assert.throws(() => generateProgram({ kind: 'life', pid: -1 }, fixtureFormats()), /not a pid/);
});

test('life: tcplife reports only sessions it saw born; the agent also those born before tracing', () => {
  assert.match(generateProgram({ kind: 'life' }, fixtureFormats()).text, /if \(\$b != 0\) \{/);
  assert.match(generateProgram({ kind: 'agent' }, fixtureFormats()).text, /if \(\$b != 0 \|\| \(args->oldstate != 10 && args->oldstate != 7\)\) \{/);
});

test('a kernel whose format lacks a needed field is refused with the field named', () => {
  const text = readFileSync(path.join(ROOT, 'test/fixtures/tracepoints/inet_sock_set_state.6.18.format'), 'utf8').replace(/.*field:__u16 protocol;.*\n/, '');
  const formats = { ...fixtureFormats(), setState: parseFormatFile(text) };
  assert.throws(() => generateProgram({ kind: 'life' }, formats), /inet_sock_set_state lacks field\(s\) protocol/);
  // the retransmit program does not need it
  assert.doesNotThrow(() => generateProgram({ kind: 'retrans' }, formats));
});

test('agent/bpf/*.bt are the generator\'s output (node dist/agent/bpf/generate.js)', () => {
  for (const [file, text] of renderAll()) assert.equal(readFileSync(path.join(ROOT, 'agent', 'bpf', file), 'utf8'), text, `${file} is stale`);
});

test('preflight: a specific error for a missing bpftrace, tracefs, BTF or tracepoint', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tcpscope-preflight-'));
  const fakeBpftrace = path.join(dir, 'bpftrace');
  writeFileSync(fakeBpftrace, '#!/bin/sh\necho "bpftrace v0.17.0"\n', { mode: 0o755 });
  const tracefs = path.join(dir, 'tracing');
  for (const [cat, name, fixture] of [['sock', 'inet_sock_set_state', 'inet_sock_set_state.6.18.format'], ['tcp', 'tcp_retransmit_skb', 'tcp_retransmit_skb.no-err.format']]) {
    mkdirSync(path.join(tracefs, 'events', cat!, name!), { recursive: true });
    writeFileSync(path.join(tracefs, 'events', cat!, name!, 'format'), readFileSync(path.join(ROOT, 'test/fixtures/tracepoints', fixture!)));
  }
  const btf = path.join(dir, 'vmlinux');
  writeFileSync(btf, '');
  const base = { bpftrace: fakeBpftrace, tracefsRoots: [tracefs], btfPath: btf, uid: 0, mountTracefs: false };

  const ok = preflight(base);
  assert.deepEqual(ok.features, { kernelRelease: os.release(), retransmitErrField: false, btf: true, tracepoints: ['sock:inet_sock_set_state', 'tcp:tcp_retransmit_skb'], bpftraceVersion: '0.17.0' });

  const problem = (opts: object) => {
    try {
      preflight({ ...base, ...opts });
    } catch (err) {
      assert.ok(err instanceof PreflightError);
      return `${err.problem}: ${err.message}`;
    }
    return 'no error';
  };
  assert.match(problem({ bpftrace: path.join(dir, 'nope') }), /^no-bpftrace: bpftrace is not installed .*apt-get install bpftrace/);
  assert.match(problem({ uid: 1000, procStatus: path.join(dir, 'vmlinux') }), /^not-privileged: bpftrace needs root or CAP_SYS_ADMIN/);
  writeFileSync(path.join(dir, 'status'), 'CapEff:\t0000000000200000\n');
  assert.equal(problem({ uid: 1000, procStatus: path.join(dir, 'status') }), 'no error'); // CAP_SYS_ADMIN alone is enough
  assert.match(problem({ tracefsRoots: [path.join(dir, 'none')] }), /^no-tracefs: tracefs is not mounted .*mount -t tracefs tracefs/);
  assert.match(problem({ btfPath: path.join(dir, 'none') }), /^no-btf: the kernel has no BTF/);
  assert.match(problem({ tracepoints: ['tcp:tcp_nothing'] }), /^no-tracepoint: tracepoint tcp:tcp_nothing is missing/);
});

test('the agent sums lifespans per flow in the kernel, double-buffered, and prints every interval', () => {
  const p = generateProgram({ kind: 'agent', flowIntervalMs: 2000, retransmitLimit: 50 }, fixtureFormats());
  // nothing per session leaves the kernel: no S printf, sums into the epoch's maps instead
  assert.doesNotMatch(p.text, /printf\("S /);
  assert.match(p.text, /if \(@epoch == 0\) \{\n\s+if \(args->oldstate == 2\) \{\n\s+@lf0\[\$cg, \$ns, \$la, \$ra, \$lp, \$rp, \$d\] = count\(\);/);
  assert.match(p.text, /@ls1\[\$cg, \$ns, \$la, \$ra, \$lp, \$rp, \$d\] = count\(\);/);
  assert.match(p.text, /@lh0\[\$cg, \$ns, \$la, \$ra, \$lp, \$rp, \$d, \$hb\] = count\(\);/);
  // a 100 ms clock: flip every 20 ticks (2 s), print the idle epoch 2 ticks (200 ms) later
  assert.match(p.text, /interval:ms:100\n\{\n  @tick = @tick \+ 1;\n  if \(@tick % 20 == 0\) \{\n    \/\/ flip/);
  assert.match(p.text, /if \(@tick % 20 == 2 && @tick > 20\) \{[^\n]*\n[^\n]*\n    \$old = 1 - @epoch;\n    printf\("F %llu %llu\\n", @ft\[\$old\], @ft\[@epoch\]\);\n    if \(\$old == 0\) \{\n      print\(@ls0\);/);
  assert.match(p.text, /print\(@rfail\);\n    printf\("G %llu\\n", nsecs\);/);
  // retransmits: per event up to the limit, then counted per flow and state
  assert.match(p.text, /if \(@rlim < 50\) \{\n\s+@rlim = @rlim \+ 1;/);
  assert.match(p.text, /@rc1\[\$cg, \$ns, \$la, \$ra, \$lp, \$rp, \$d, args->state\] = sum\(\$segs\);/);
  // END prints what is left of both epochs before clearing
  const end = p.text.slice(p.text.lastIndexOf('END\n{'));
  assert.equal([...end.matchAll(/printf\("F /g)].length, 2);
  assert.ok(end.indexOf('print(@ls0)') < end.indexOf('clear(@ls0)'));
  const unlimited = generateProgram({ kind: 'agent', retransmitLimit: 0 }, fixtureFormats()).text;
  assert.doesNotMatch(unlimited, /@rlim </);
  assert.throws(() => generateProgram({ kind: 'agent', flowIntervalMs: 950 }, fixtureFormats()), /multiple of 100 ms/);
  assert.throws(() => generateProgram({ kind: 'agent', cgroupIds: [5] }, fixtureFormats()), /cgroup filter is for per-session programs/);
});

test('a followed pod: per-session programs filter by the socket\'s cgroup ids or netns in the probe predicates', () => {
  const p = generateProgram({ kind: 'life', cgroupIds: [4242, 4343], netnsInodes: [4026532000] }, fixtureFormats()).text;
  assert.match(p, /tracepoint:sock:inet_sock_set_state\n\/args->protocol == 6 && \(\(\(struct sock \*\)args->skaddr\)->sk_cgrp_data\.cgroup->kn->id == 4242 \|\| \(\(struct sock \*\)args->skaddr\)->sk_cgrp_data\.cgroup->kn->id == 4343 \|\| \(\(struct sock \*\)args->skaddr\)->__sk_common\.skc_net\.net->ns\.inum == 4026532000\)\//);
  const e = generateProgram({ kind: 'agent-events', cgroupIds: [7] }, fixtureFormats()).text;
  assert.match(e, /tracepoint:tcp:tcp_retransmit_skb\n\/\(\(\(struct sock \*\)args->skaddr\)->sk_cgrp_data\.cgroup->kn->id == 7\)\//);
  assert.throws(() => generateProgram({ kind: 'life', cgroupIds: [0] }, fixtureFormats()), /not a cgroup id/);
});
