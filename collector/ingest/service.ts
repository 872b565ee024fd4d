// The gRPC ingest service: one bidirectional stream per agent. The agent says hello
// first; each batch is checked (validate.ts), applied once (duplicates by run id and
// sequence are acknowledged but not applied again) and acknowledged by sequence. A bad
// batch gets an ack carrying the error; the stream and other agents carry on.
import type * as grpc from '@grpc/grpc-js';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { Logger } from '../../common/log';
import { RateLimitedLog } from '../../common/log';
import type { Batch } from '../../gen/tcpscope/v1/events';
import type { AgentHello, FollowRequest, IngestAck, IngestRequest, IngestServiceServer } from '../../gen/tcpscope/v1/ingest';
import type { FlowEvent } from '../events';
import type { AgentRegistry } from './agents';
import { BatchError, decodeBatch } from './validate';

export interface IngestSink {
  apply(events: FlowEvent[]): void;
}

/** Applies a batch that came back from the write-ahead log after a restart (no ack, no agent stream). */
export function replayBatch(registry: AgentRegistry, sink: IngestSink, b: Batch, maxEvents: number): boolean {
  if (registry.isDuplicate(b.runId, b.seq)) return false;
  const d = decodeBatch(b, { maxEvents });
  sink.apply(d.events);
  registry.ensureAgent(b.nodeName, b.runId);
  registry.updateTotals(b.nodeName, b.runId, b.losses, b.counters?.retransmitFailed ?? 0, b.counters?.bpftraceRestarts ?? 0);
  registry.markApplied(b.nodeName, b.runId, b.seq, d.sessions, d.retransmits);
  return true;
}

export interface IngestOptions {
  maxBatchEvents: number;
  log: Logger;
  /** Makes an applied batch durable; the ack waits for `done` (write-ahead log). */
  persist?: (batch: Batch, done: () => void) => void;
  /** Runs `done` once everything applied so far is durable (acks of duplicates wait on it). */
  whenDurable?: (done: () => void) => void;
  /** An agent's stream said hello: `send` writes follow requests to it; the result detaches it. */
  onAgentStream?: (send: (follows: FollowRequest[]) => void) => () => void;
  /** Says why this caller may not send (null = may): client certificate or token checks. */
  authorize?: (call: grpc.ServerDuplexStream<IngestRequest, IngestAck>) => Promise<string | null> | string | null;
}

export function makeIngestService(registry: AgentRegistry, sink: IngestSink, opts: IngestOptions): IngestServiceServer {
  const rejectLog = new RateLimitedLog(opts.log, 'rejected batches from agents');
  const authLog = new RateLimitedLog(opts.log, 'refused an agent');
  return {
    stream(call: grpc.ServerDuplexStream<IngestRequest, IngestAck>): void {
      let hello: AgentHello | undefined;
      let detach = () => undefined as unknown;
      const fail = (code: GrpcStatus, details: string) => {
        call.emit('error', { code, details });
      };
      // messages wait until the caller is authorized; a refused caller gets UNAUTHENTICATED
      let authorized: Promise<boolean> = Promise.resolve(true);
      if (opts.authorize) {
        authorized = Promise.resolve(opts.authorize(call)).then((why) => {
          if (!why) return true;
          authLog.add(1, { peer: call.getPeer(), why }, why);
          fail(GrpcStatus.UNAUTHENTICATED, why);
          return false;
        });
      }
      let queue = authorized;
      call.on('data', (req: IngestRequest) => {
        queue = queue.then((ok) => {
          if (ok) onMessage(req);
          return ok;
        });
      });
      const onMessage = (req: IngestRequest) => {
        if (req.hello) {
          const h = req.hello;
          if (!h.nodeName || h.nodeName.length > 253 || !h.runId || h.runId.length > 128) {
            fail(GrpcStatus.INVALID_ARGUMENT, 'hello: node_name (1-253 chars) and run_id (1-128 chars) are required');
            return;
          }
          if (hello) registry.disconnect(hello.nodeName);
          hello = h;
          registry.connect(h);
          call.write({ runId: h.runId, seq: 0, duplicate: false, error: '', follows: [] });
          detach();
          if (opts.onAgentStream) detach = opts.onAgentStream((follows) => call.write({ runId: h.runId, seq: 0, duplicate: false, error: '', follows }));
          return;
        }
        if (!req.batch) return;
        if (!hello) {
          fail(GrpcStatus.FAILED_PRECONDITION, 'send an AgentHello before the first batch');
          return;
        }
        const batch = req.batch;
        const ack = applyBatch(batch, hello);
        if (ack.error) call.write(ack);
        else if (!ack.duplicate && opts.persist) opts.persist(batch, () => call.write(ack));
        else if (opts.whenDurable) opts.whenDurable(() => call.write(ack));
        else call.write(ack);
      };
      call.on('close', () => detach());
      call.on('end', () => {
        detach();
        if (hello) registry.disconnect(hello.nodeName);
        hello = undefined;
        call.end();
      });
      call.on('error', () => {
        detach();
        if (hello) registry.disconnect(hello.nodeName);
        hello = undefined;
      });
      call.on('cancelled', () => {
        detach();
        if (hello) registry.disconnect(hello.nodeName);
        hello = undefined;
      });
    },
  };

  function applyBatch(b: Batch, hello: AgentHello): IngestAck {
    const ack: IngestAck = { runId: b.runId, seq: b.seq, duplicate: false, error: '', follows: [] };
    if (b.runId !== hello.runId || b.nodeName !== hello.nodeName) {
      ack.error = `batch from run ${b.runId} / node ${b.nodeName} on a stream opened by run ${hello.runId} / node ${hello.nodeName}`;
      registry.countRejected(hello.nodeName);
      return ack;
    }
    if (registry.isDuplicate(b.runId, b.seq)) {
      ack.duplicate = true;
      registry.updateTotals(hello.nodeName, b.runId, b.losses, b.counters?.retransmitFailed ?? 0, b.counters?.bpftraceRestarts ?? 0);
      registry.countDuplicate(hello.nodeName);
      return ack;
    }
    let decoded;
    try {
      decoded = decodeBatch(b, { maxEvents: opts.maxBatchEvents });
    } catch (err) {
      if (!(err instanceof BatchError)) throw err;
      ack.error = `invalid batch seq ${b.seq}: ${err.message}`;
      registry.countRejected(hello.nodeName);
      rejectLog.add(1, { node: hello.nodeName, error: err.message });
      return ack;
    }
    sink.apply(decoded.events);
    registry.updateTotals(hello.nodeName, b.runId, b.losses, b.counters?.retransmitFailed ?? 0, b.counters?.bpftraceRestarts ?? 0);
    registry.markApplied(hello.nodeName, b.runId, b.seq, decoded.sessions, decoded.retransmits);
    return ack;
  }
}
