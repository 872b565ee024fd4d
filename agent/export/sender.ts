// BatchSender: streams batches to the collector over gRPC and keeps every batch until the
// collector acknowledges it (by sequence), resending the unacknowledged ones after a
// reconnect. The buffer is bounded in batches and bytes, batches in flight included; when
// full, the oldest batches not on the wire go and the caller is told exactly what was
// dropped, so it can be reported as loss. A batch written on an earlier stream may have been
// applied without its ack arriving: dropped, it leaves an event-less stub with its sequence
// that asks the collector (a duplicate ack means the original was applied, so nothing was lost).
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../common/log';
import { type AgentCounters, Batch, type LossRecord } from '../../gen/tcpscope/v1/events';
import { type AgentHello, type FollowRequest, type IngestAck, IngestServiceClient, type IngestRequest } from '../../gen/tcpscope/v1/ingest';

export interface SenderOptions {
  address: string;
  credentials?: grpc.ChannelCredentials;
  channelOptions?: grpc.ChannelOptions;
  hello: AgentHello;
  maxBatches: number;
  maxBytes: number;
  maxInFlight: number;
  maxMessageBytes?: number;
  log: Logger;
  /** Called for each batch whose events were lost: dropped unsent because the buffer was full, or rejected. */
  onDrop: (events: number, reason: 'buffer-full' | 'rejected') => void;
  /** Follow requests the collector sends on the stream (a pod someone follows). */
  onFollow?: (follows: FollowRequest[]) => void;
  /** Loss totals and counters of this run, stamped on each batch as it is written. */
  totals: () => { losses: LossRecord[]; counters: AgentCounters };
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Finds out why a connection failed when gRPC does not say (TLS). */
  diagnose?: () => Promise<string>;
}

interface Entry {
  batch: Batch;
  bytes: number;       // 0 for a stub
  events: number;      // of the original batch, for a stub too
  sent: boolean;       // written on the current stream, ack pending (counted in inFlight)
  written: boolean;    // written on some stream: the collector may have applied it
  stub: boolean;       // events dropped; asks whether the original was applied
}

export interface SenderStats {
  connected: boolean;
  buffered: number;
  bufferedBytes: number;
  inFlight: number;
  sent: number;
  acked: number;
  duplicates: number;
  rejected: number;
  droppedBatches: number;
  droppedEvents: number;
  reconnects: number;
  lastAckedSeq: number;
  lastError: string;
}

export function batchEvents(b: Batch): number {
  return b.sessions.length + b.retransmits.length;
}

export class BatchSender {
  private client: IngestServiceClient;
  private buffer: Entry[] = [];
  private bufferedBytes = 0;
  private inFlight = 0;
  private inFlightBytes = 0;
  private stubs = 0;           // entries that are stubs: no events, not counted against the bounds
  private call: grpc.ClientDuplexStream<IngestRequest, IngestAck> | undefined;
  private connected = false;
  /** The current stream reached the collector (its response began): what is written on it may get applied. */
  private opened = false;
  private stopped = false;
  private backoffMs: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private waiters: Array<() => void> = [];
  private lastWarnMs = 0;
  private diagnosing = false;
  private lastDiagnosisLogMs = 0;
  private readonly st: SenderStats = {
    connected: false, buffered: 0, bufferedBytes: 0, inFlight: 0, sent: 0, acked: 0, duplicates: 0,
    rejected: 0, droppedBatches: 0, droppedEvents: 0, reconnects: 0, lastAckedSeq: 0, lastError: '',
  };

  constructor(private readonly opts: SenderOptions) {
    this.backoffMs = opts.minBackoffMs ?? 200;
    this.client = this.newClient();
  }

  private newClient(): IngestServiceClient {
    const opts = this.opts;
    const maxMsg = opts.maxMessageBytes ?? 16 * 1024 * 1024;
    return new IngestServiceClient(opts.address, opts.credentials ?? grpc.credentials.createInsecure(), {
      'grpc.keepalive_time_ms': 20_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.max_send_message_length': maxMsg,
      'grpc.max_receive_message_length': maxMsg,
      'grpc.default_compression_algorithm': 2, // gzip
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 5_000,
      ...opts.channelOptions,
    });
  }

  start(): void {
    this.connect();
  }

  enqueue(batch: Batch): void {
    const bytes = Batch.encode(batch).finish().length;
    this.buffer.push({ batch, bytes, events: batchEvents(batch), sent: false, written: false, stub: false });
    this.bufferedBytes += bytes;
    // Batches in flight cannot be called back (the transport holds them and the collector
    // may apply them), and pump() keeps them within both bounds; so the oldest of the rest go.
    let i = 0;
    while (this.buffer.length - this.stubs > this.opts.maxBatches || (this.bufferedBytes > this.opts.maxBytes && this.buffer.length - this.stubs > 1)) {
      while (i < this.buffer.length && (this.buffer[i]!.sent || this.buffer[i]!.stub)) i++;
      if (i === this.buffer.length) break;
      const old = this.buffer[i]!;
      this.bufferedBytes -= old.bytes;
      if (old.written) {
        // maybe applied already: keep its sequence, ask once reconnected
        this.buffer[i] = { batch: Batch.fromPartial({ runId: old.batch.runId, nodeName: old.batch.nodeName, seq: old.batch.seq }), bytes: 0, events: old.events, sent: false, written: false, stub: true };
        this.stubs++;
        i++;
      } else {
        this.buffer.splice(i, 1);
        this.lost(old, 'buffer-full');
      }
    }
    this.pump();
  }

  private lost(e: Entry, reason: 'buffer-full' | 'rejected'): void {
    if (reason === 'buffer-full') {
      this.st.droppedBatches++;
      this.st.droppedEvents += e.events;
    }
    this.opts.onDrop(e.events, reason);
  }

  stats(): SenderStats {
    return { ...this.st, connected: this.connected, buffered: this.buffer.length, bufferedBytes: this.bufferedBytes, inFlight: this.inFlight };
  }

  /** Resolves when everything buffered is acknowledged, or after timeoutMs (false). */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.buffer.length === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.call?.end();
    this.call?.cancel();
    this.client.close();
  }

  private connect(): void {
    if (this.stopped) return;
    const call = this.client.stream();
    this.call = call;
    this.opened = false;
    const onOpen = () => {
      if (this.opened || this.call !== call) return;
      this.opened = true;
      this.connected = true;
      this.backoffMs = this.opts.minBackoffMs ?? 200;
      // written before the collector answered, but it may apply them from now on
      for (const e of this.buffer) if (e.sent) e.written = true;
      this.opts.log.info({ collector: this.opts.address }, 'connected to collector');
    };
    call.on('data', (ack: IngestAck) => {
      onOpen();
      this.onAck(call, ack);
    });
    call.on('metadata', onOpen);
    call.on('error', (err: grpc.ServiceError) => {
      // Refused for who we are (e.g. an expired client certificate): the connection keeps the
      // identity of its handshake, so only a new one carries renewed certificate files.
      if (err.code === grpc.status.UNAUTHENTICATED && this.call === call && !this.stopped) {
        this.client.close();
        this.client = this.newClient();
      }
      this.onBroken(call, err.details || err.message);
    });
    call.on('end', () => this.onBroken(call, 'stream ended by collector'));
    call.write({ hello: this.opts.hello, batch: undefined });
    for (const e of this.buffer) e.sent = false;
    this.inFlight = 0;
    this.inFlightBytes = 0;
    this.pump();
  }

  private onBroken(call: grpc.ClientDuplexStream<IngestRequest, IngestAck>, why: string): void {
    if (this.call !== call) return;
    this.call = undefined;
    const was = this.connected;
    this.connected = false;
    this.opened = false;
    for (const e of this.buffer) e.sent = false;
    this.inFlight = 0;
    this.inFlightBytes = 0;
    if (this.stopped) return;
    this.st.reconnects++;
    this.st.lastError = why;
    if (this.opts.diagnose && /Failed to connect|No connection established/.test(why) && !this.diagnosing) {
      this.diagnosing = true;
      this.opts.diagnose().then((reason) => {
        this.diagnosing = false;
        if (this.connected) return;
        this.st.lastError = `${why}: ${reason}`;
        if (Date.now() - this.lastDiagnosisLogMs > 30_000) {
          this.lastDiagnosisLogMs = Date.now();
          this.opts.log.error({ collector: this.opts.address, reason }, 'cannot connect to the collector over TLS');
        }
      }, () => { this.diagnosing = false; });
    }
    const delay = Math.round(this.backoffMs * (0.5 + Math.random()));
    this.backoffMs = Math.min(this.backoffMs * 2, this.opts.maxBackoffMs ?? 10_000);
    if (was) this.opts.log.warn({ why, retryInMs: delay, buffered: this.buffer.length }, 'lost collector stream; will resend unacknowledged batches');
    else if (Date.now() - this.lastWarnMs > 30_000) {
      this.lastWarnMs = Date.now();
      this.opts.log.warn({ collector: this.opts.address, why, retryInMs: delay, buffered: this.buffer.length }, 'cannot reach the collector');
    }
    this.retryTimer = setTimeout(() => this.connect(), delay);
    this.retryTimer.unref?.();
  }

  private onAck(call: grpc.ClientDuplexStream<IngestRequest, IngestAck>, ack: IngestAck): void {
    if (ack.follows?.length) this.opts.onFollow?.(ack.follows);
    if (ack.seq === 0) return; // hello acknowledgement, or follow requests only
    if (call !== this.call) return; // a stream already given up: its batches are resent
    const i = this.buffer.findIndex((e) => e.batch.seq === ack.seq);
    if (i === -1) return; // dropped meanwhile
    const [e] = this.buffer.splice(i, 1);
    this.bufferedBytes -= e!.bytes;
    if (e!.sent) {
      this.inFlight--;
      this.inFlightBytes -= e!.bytes;
    }
    if (e!.stub) {
      this.stubs--;
      // a duplicate: the original was applied before its ack got lost; else the events are gone
      if (ack.duplicate && !ack.error) {
        this.st.acked++;
        this.st.duplicates++;
      } else this.lost(e!, 'buffer-full');
    } else if (ack.error) {
      this.st.rejected++;
      this.opts.log.error({ seq: ack.seq, error: ack.error }, 'collector rejected a batch');
      this.lost(e!, 'rejected');
    } else {
      this.st.acked++;
      if (ack.duplicate) this.st.duplicates++;
      this.st.lastAckedSeq = Math.max(this.st.lastAckedSeq, ack.seq);
    }
    if (this.buffer.length === 0) {
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    }
    this.pump();
  }

  private pump(): void {
    const call = this.call;
    if (!call) return;
    // in flight stays within the buffer's bounds too: the transport holds what was written
    const maxInFlight = Math.min(this.opts.maxInFlight, this.opts.maxBatches);
    for (const e of this.buffer) {
      if (this.inFlight >= maxInFlight) break;
      if (e.sent) continue;
      if (this.inFlight > 0 && this.inFlightBytes + e.bytes > this.opts.maxBytes) break;
      e.sent = true;
      e.written ||= this.opened;
      this.inFlight++;
      this.inFlightBytes += e.bytes;
      this.st.sent++;
      const t = this.opts.totals();
      e.batch.losses = t.losses;
      e.batch.counters = t.counters;
      call.write({ hello: undefined, batch: e.batch });
    }
  }
}
