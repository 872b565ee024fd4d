// Fuzzing the ingest edge of a real collector process: random bytes, mutated and truncated
// batches, wrong wire types and oversized messages each get an error status (or a clean
// rejection ack), the collector never crashes, and an honest agent streaming beside them
// keeps every event it sent. TCPSCOPE_FUZZ_CASES sets how many cases (CI default 400;
// `npm run fuzz` runs many more).
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { Batcher } from '../../agent/batch/batcher';
import { Direction } from '../../common/tcp';
import { Batch } from '../../gen/tcpscope/v1/events';
import { IngestAck, IngestRequest } from '../../gen/tcpscope/v1/ingest';
import { freePort, type Proc, startProc } from '../lib/procs';

const CASES = Number(process.env.TCPSCOPE_FUZZ_CASES ?? 400);
const procs: Proc[] = [];
after(async () => { for (const p of procs) await p.kill('SIGKILL'); });

// a client that sends raw bytes as IngestRequest messages
const RawClient = grpc.makeGenericClientConstructor({
  stream: {
    path: '/tcpscope.v1.IngestService/Stream', requestStream: true, responseStream: true,
    requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b,
  },
}, 'IngestService');

function goodBatch(seq: number, runId: string, node: string, n: number): Batch {
  let out: Batch | undefined;
  const b = new Batcher({ runId, nodeName: node, maxEvents: 100_000, flushMs: 1000, onBatch: (x) => (out = x) });
  for (let i = 0; i < n; i++) b.addSession({
    kind: 'session', timeUs: Date.now() * 1000 - i, family: i % 3 ? 4 : 6, laddr: i % 3 ? '198.18.0.1' : '2001:db8::1', lport: 30000 + i, raddr: i % 3 ? '198.18.0.2' : '2001:db8::2', rport: 80,
    txBytes: i, rxBytes: 2 * i, durationUs: 10 + i, retransSegs: i % 2, pid: 1, comm: 'fz', netnsInode: 1, cgroupId: 1, direction: Direction.DIRECTION_OUTBOUND, failedConnect: false, srttUs: 1, bornBeforeTrace: false,
  });
  b.flush();
  out!.seq = seq;
  return out!;
}

function helloBytes(node: string, runId: string): Buffer {
  return Buffer.from(IngestRequest.encode({ hello: { nodeName: node, runId, agentVersion: 'fuzz', kernel: undefined, startedUnixMs: 0 }, batch: undefined }).finish());
}

function batchBytes(b: Batch): Buffer {
  return Buffer.from(IngestRequest.encode({ hello: undefined, batch: b }).finish());
}

function mutate(base: Buffer, rnd: () => number): Buffer {
  const kind = Math.floor(rnd() * 6);
  const buf = Buffer.from(base);
  switch (kind) {
    case 0: return randomBytes(1 + Math.floor(rnd() * 2000));                                  // random bytes
    case 1: return buf.subarray(0, Math.floor(rnd() * buf.length));                            // truncated
    case 2: for (let i = 0; i < 1 + rnd() * 8; i++) buf[Math.floor(rnd() * buf.length)] ^= 1 << Math.floor(rnd() * 8); return buf; // bit flips
    case 3: { const at = Math.floor(rnd() * buf.length); return Buffer.concat([buf.subarray(0, at), randomBytes(1 + Math.floor(rnd() * 16)), buf.subarray(at)]); } // insertion
    case 4: { // wrong wire type: rewrite a tag's wire type
      const out = Buffer.from(buf);
      for (let i = 0; i < 4; i++) { const at = Math.floor(rnd() * out.length); out[at] = (out[at]! & 0xf8) | Math.floor(rnd() * 8); }
      return out;
    }
    default: { // valid framing, absurd values: huge field numbers / varints
      return Buffer.concat([buf, Buffer.from([0xf8, 0xff, 0xff, 0xff, 0x0f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])]);
    }
  }
}

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

interface Outcome { acks: Array<{ error: string }>; status?: grpc.StatusObject }

function sendRaw(address: string, messages: Buffer[]): Promise<Outcome> {
  return new Promise((resolve) => {
    const client = new RawClient(address, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 64 * 1024 * 1024 });
    const call = (client as unknown as { stream(): grpc.ClientDuplexStream<Buffer, Buffer> }).stream();
    const out: Outcome = { acks: [] };
    call.on('data', (b: Buffer) => {
      try {
        const ack = IngestAck.decode(b);
        if (ack.seq !== 0) out.acks.push(ack); // seq 0 answers the hello
      } catch { /* not an ack */ }
      if (out.acks.length >= messages.length - 1) call.end();
    });
    call.on('status', (s) => { out.status = s; client.close(); resolve(out); });
    call.on('error', () => {});
    for (const m of messages) call.write(m);
    setTimeout(() => call.end(), 2000);
  });
}

test(`the ingest survives ${CASES} fuzzed messages and an honest agent beside them loses nothing`, { timeout: 600_000 }, async () => {
  const [g, q, h] = [await freePort(), await freePort(), await freePort()];
  const collector = startProc(['collector', '--grpc-listen', `127.0.0.1:${g}`, '--query-listen', `127.0.0.1:${q}`, '--http-listen', `127.0.0.1:${h}`, '--max-message-bytes', String(4 * 1024 * 1024), '--max-batch-events', '50000']);
  procs.push(collector);
  await collector.waitFor(/collector: ingest/);
  const address = `127.0.0.1:${g}`;
  const rnd = seeded(42);

  // the honest agent: one stream, one batch per round, interleaved with the fuzz
  let honestSent = 0;
  let honestSeq = 0;
  const statuses = new Map<string, number>();
  for (let i = 0; i < CASES; i++) {
    // a fresh run per case, so that no mutation is waved through as a duplicate
    const run = `fuzz-run-${i}`;
    const evil = mutate(batchBytes(goodBatch(1, run, 'fuzz-node', 20)), rnd);
    const [fz, honest] = await Promise.all([
      sendRaw(address, [helloBytes('fuzz-node', run), evil]),
      (i % 10 === 0) ? sendRaw(address, [helloBytes('honest-node', 'honest-run'), batchBytes(goodBatch(++honestSeq, 'honest-run', 'honest-node', 10))]) : Promise.resolve(undefined),
    ]);
    if (honest) {
      assert.equal(honest.acks.length, 1, `honest batch ${honestSeq} acknowledged`);
      assert.equal(honest.acks[0]!.error, '');
      honestSent += 10;
    }
    const key = fz.acks.length > 0 ? (fz.acks[fz.acks.length - 1]!.error ? 'rejected with an error ack' : 'accepted (still valid)') : `status ${grpc.status[fz.status?.code ?? 0]}`;
    statuses.set(key, (statuses.get(key) ?? 0) + 1);
    assert.equal(collector.child.exitCode, null, `collector died on case ${i}`);
  }

  // oversized: more than the 4 MiB limit -> RESOURCE_EXHAUSTED, collector fine
  // a valid batch with a 5 MiB unknown field (number 15, length-delimited) appended
  const pad = 5 * 1024 * 1024;
  const varint = (n: number) => { const o: number[] = []; while (n > 127) { o.push((n & 127) | 128); n >>>= 7; } o.push(n); return Buffer.from(o); };
  const hugeBytes = Buffer.concat([batchBytes(goodBatch(99_999, 'fuzz-run', 'fuzz-node', 10)), Buffer.from([(15 << 3) | 2]), varint(pad), Buffer.alloc(pad)]);
  assert.ok(hugeBytes.length > 4 * 1024 * 1024, `the oversized message is ${hugeBytes.length} bytes`);
  const huge = await sendRaw(address, [helloBytes('fuzz-node', 'fuzz-run'), hugeBytes]);
  assert.equal(huge.status?.code, grpc.status.RESOURCE_EXHAUSTED, `oversized message: ${huge.status?.details}`);
  // too many events (under the byte limit, over --max-batch-events) -> a rejection ack
  const many = await sendRaw(address, [helloBytes('many-node', 'many-run'), batchBytes(goodBatch(1, 'many-run', 'many-node', 60_000))]);
  assert.match(many.acks[many.acks.length - 1]?.error ?? '', /at most 50000 are accepted/);
  // a batch before the hello -> FAILED_PRECONDITION
  const noHello = await sendRaw(address, [batchBytes(goodBatch(1, 'x', 'x', 1))]);
  assert.equal(noHello.status?.code, grpc.status.FAILED_PRECONDITION);

  const st = (await (await fetch(`http://127.0.0.1:${h}/api/v1/status`)).json()) as { agents: Array<{ nodeName: string; sessions?: string }> };
  const honest = st.agents.find((a) => a.nodeName === 'honest-node');
  assert.equal(Number(honest?.sessions ?? 0), honestSent, 'the honest agent lost nothing');
  process.stdout.write(`# fuzz outcomes over ${CASES} cases: ${JSON.stringify(Object.fromEntries(statuses))}\n`);
  assert.ok(statuses.size >= 2, 'the mutations reached more than one outcome');
  assert.equal(collector.child.exitCode, null);
});
