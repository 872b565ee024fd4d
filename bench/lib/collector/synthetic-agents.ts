// Synthetic agents for the collector's gRPC benchmark: N concurrent ingest streams from one
// process, each on its own connection, speaking the real protocol (hello; batches with run
// id and sequence; acks) with the realistic batches of workloads.ts (made by the agent's
// Batcher), gzip-compressed as agents send them, at most --in-flight unacknowledged batches
// per stream. Prints `ready` once the batches are made, starts at a `go` line on stdin, sends
// for --warmup seconds (the collector's JIT warms up), prints `mark`, sends for --seconds
// more, waits for every ack and prints one JSON line (SyntheticReport: totals after the mark).
//   node dist/bench/lib/collector/synthetic-agents.js --collector 127.0.0.1:7400 --streams 100 --seconds 5 --mix sessions --per-batch 1000
import * as grpc from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import * as readline from 'node:readline';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { Batch } from '../../../gen/tcpscope/v1/events';
import { IngestAck, IngestRequest } from '../../../gen/tcpscope/v1/ingest';
import { type Mix, workload } from './workloads';

export interface SyntheticReport {
  streams: number;
  batches: number;          // acknowledged without error after the mark
  records: number;          // wire records in them
  represented: number;      // sessions + retransmits they stand for
  errors: number;           // acks carrying an error, and broken streams
  seconds: number;          // from the mark to the last ack
  firstError: string;
}

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : def;
}

// raw bytes out (the batches are encoded once), acks decoded
const definition = {
  stream: {
    path: '/tcpscope.v1.IngestService/Stream', requestStream: true, responseStream: true,
    requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b,
    responseSerialize: (a: IngestAck) => Buffer.from(IngestAck.encode(a).finish()), responseDeserialize: (b: Buffer) => IngestAck.decode(b),
  },
} satisfies grpc.ServiceDefinition;
const IngestClient = grpc.makeGenericClientConstructor(definition, 'IngestService');

interface Body { bytes: Uint8Array; records: number; represented: number }

/** A batch of a stream: run id, sequence and node name in front of the shared encoded body (fields may come in any order). */
function message(runId: string, node: string, seq: number, body: Uint8Array): Buffer {
  const head = new BinaryWriter().uint32(10).string(runId).uint32(16).uint64(seq).uint32(26).string(node).finish();
  const frame = new BinaryWriter().uint32(18).uint32(head.length + body.length).finish();
  return Buffer.concat([frame, head, body]);
}

function bodies(mix: Mix, records: number, perBatch: number): Body[] {
  return workload(mix, records, perBatch).batches.map((bytes) => {
    const b = Batch.decode(bytes);
    const represented = b.sessions.filter((x) => !x.detailOnly).length + b.retransmits.length + b.flows.reduce((n, f) => n + f.sessions + f.failedConnects + f.retransmits.reduce((m, t) => m + t.events, 0), 0);
    return { bytes: Batch.encode({ ...b, runId: '', seq: 0, nodeName: '' }).finish(), records: b.sessions.length + b.retransmits.length + b.flows.length, represented };
  });
}

async function main(): Promise<void> {
  const collector = arg('collector', '127.0.0.1:7400');
  const streams = Number(arg('streams', '1'));
  const seconds = Number(arg('seconds', '5'));
  const inFlight = Number(arg('in-flight', '4'));
  const warmup = Number(arg('warmup', '1'));
  const work = bodies(arg('mix', 'sessions') as Mix, Number(arg('records', '200000')), Number(arg('per-batch', '4096')));
  const report: SyntheticReport = { streams, batches: 0, records: 0, represented: 0, errors: 0, seconds: 0, firstError: '' };
  const fail = (why: string) => {
    report.errors++;
    report.firstError ||= why;
  };

  // every agent its own connection (no shared subchannel), gzip as the real sender
  const clients = Array.from({ length: streams }, () => new IngestClient(collector, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1, 'grpc.default_compression_algorithm': 2, 'grpc.max_send_message_length': 64 * 1024 * 1024,
  }));
  let marked = false;
  let t0 = 0;
  let deadline = Infinity;
  let lastAck = 0;

  // one agent: connects and says hello (resolves `connected` on the hello's answer); start()
  // sends batches until the deadline; `finished` resolves when every batch sent is acknowledged
  const agent = (client: grpc.Client, s: number) => {
    const node = `synthetic-${process.pid}-${s}`;
    const runId = randomUUID();
    const call = (client as unknown as { stream(): grpc.ClientDuplexStream<Buffer, IngestAck> }).stream();
    let seq = 0;
    let pending = 0;
    let next = s % work.length; // agents start at different batches
    const sent = new Map<number, Body>();
    let done = false;
    let onHello = () => {};
    let onDone = () => {};
    const connected = new Promise<void>((r) => (onHello = r));
    const finished = new Promise<void>((r) => (onDone = r));
    const finish = () => {
      if (done) return;
      done = true;
      call.end();
      onHello();
      onDone();
    };
    const pump = () => {
      while (pending < inFlight && Date.now() < deadline) {
        const body = work[next]!;
        next = (next + 1) % work.length;
        sent.set(++seq, body);
        pending++;
        call.write(message(runId, node, seq, body.bytes));
      }
      if (pending === 0) finish();
    };
    call.on('data', (ack: IngestAck) => {
      if (ack.seq === 0) {
        onHello(); // the hello's answer (or follow requests)
        return;
      }
      const body = sent.get(ack.seq);
      if (!body) return;
      sent.delete(ack.seq);
      pending--;
      lastAck = Date.now();
      if (ack.error) fail(ack.error);
      else if (marked) {
        report.batches++;
        report.records += body.records;
        report.represented += body.represented;
      }
      pump();
    });
    call.on('error', (err) => {
      if (!done) fail(`stream ${s}: ${err.message}`);
      finish();
    });
    call.on('end', () => {
      if (!done) fail(`stream ${s}: ended by the collector`);
      finish();
    });
    call.write(Buffer.from(IngestRequest.encode({
      hello: { nodeName: node, runId, agentVersion: 'synthetic', kernel: undefined, startedUnixMs: Date.now() }, batch: undefined,
    }).finish()));
    return { connected, finished, start: pump };
  };

  const agents = clients.map(agent);
  await Promise.all(agents.map((a) => a.connected));
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => {
    const rl = readline.createInterface({ input: process.stdin });
    rl.on('line', (l) => {
      if (l.trim() === 'go') {
        rl.close();
        resolve();
      }
    });
  });
  deadline = Date.now() + (warmup + seconds) * 1000;
  const mark = setTimeout(() => {
    marked = true;
    t0 = Date.now();
    process.stdout.write('mark\n');
  }, warmup * 1000);
  for (const a of agents) a.start();
  await Promise.all(agents.map((a) => a.finished));
  clearTimeout(mark);
  report.seconds = (lastAck - t0) / 1000;
  for (const c of clients) c.close();
  process.stdout.write(JSON.stringify(report) + '\n');
}

main().catch((err) => {
  process.stderr.write(`synthetic-agents: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
