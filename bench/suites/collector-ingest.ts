// Collector ingest: events per second decoded, validated, resolved and aggregated on one
// core, beside the limit of decoding the same batches and doing nothing; and bytes per
// event on the wire for realistic batches, raw and gzip-compressed (as gRPC sends them).
import { gzipSync } from 'node:zlib';
import { Batcher } from '../../agent/batch/batcher';
import type { SessionRecord } from '../../agent/records';
import { FlowAggregator } from '../../collector/aggregate/flows';
import { decodeBatch } from '../../collector/ingest/validate';
import { Resolver } from '../../collector/resolve/resolver';
import { MemoryRollupStore } from '../../collector/store/memory-store';
import { EventRing } from '../../collector/store/ring';
import { Direction, TcpState } from '../../common/tcp';
import { Batch } from '../../gen/tcpscope/v1/events';
import type { BenchContext, BenchRow, BenchSuite } from '../report';

/** Realistic batches: 200 local pods talking to 50 services, ephemeral ports, ~1 retransmit per 50 sessions. */
export function realisticBatches(count: number, perBatch: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let t = Date.now() * 1000 - 3600e6;
  let port = 32768;
  let i = 0;
  const b = new Batcher({ runId: 'bench', nodeName: 'node-1', maxEvents: perBatch, flushMs: 1000, onBatch: (x) => out.push(Batch.encode(x).finish()) });
  while (out.length < count) {
    i++;
    t += Math.floor(Math.random() * 400);
    port = port >= 60999 ? 32768 : port + 1;
    const pod = i % 200;
    const svc = (i * 7) % 50;
    if (i % 50 === 0) {
      b.addRetransmit({
        kind: 'retransmit', timeUs: t, family: 4, laddr: `10.0.${pod >> 8}.${pod & 255}`, lport: port, raddr: `10.96.0.${svc}`, rport: 8080,
        state: TcpState.TCP_STATE_ESTABLISHED, caState: 4, netnsInode: 4026532000 + pod, cgroupId: 9000 + pod, direction: Direction.DIRECTION_OUTBOUND, pid: 0, segs: 1,
      });
    }
    const s: SessionRecord = {
      kind: 'session', timeUs: t, family: 4, laddr: `10.0.${pod >> 8}.${pod & 255}`, lport: port, raddr: `10.96.0.${svc}`, rport: 8080,
      txBytes: 200 + Math.floor(Math.random() * 2000), rxBytes: 1000 + Math.floor(Math.random() * 60000), durationUs: 500 + Math.floor(Math.random() * 20000),
      retransSegs: i % 50 === 0 ? 1 : 0, pid: 1000 + pod, comm: 'app', netnsInode: 4026532000 + pod, cgroupId: 9000 + pod,
      direction: Direction.DIRECTION_OUTBOUND, failedConnect: i % 500 === 0, srttUs: 50 + (i % 100), bornBeforeTrace: false,
    };
    b.addSession(s);
  }
  return out.slice(0, count);
}

export async function benchCollectorIngest(ctx: BenchContext): Promise<BenchRow[]> {
  const batches = realisticBatches(ctx.quick ? 30 : 300, 4096);
  const events = batches.reduce((n, bytes) => { const b = Batch.decode(bytes); return n + b.sessions.length + b.retransmits.length; }, 0);
  const rawBytes = batches.reduce((n, b) => n + b.length, 0);
  const gzBytes = batches.reduce((n, b) => n + gzipSync(b).length, 0);

  const time = (fn: () => void): number => {
    const t0 = process.hrtime.bigint();
    fn();
    return Number(process.hrtime.bigint() - t0) / 1e9;
  };
  const rounds = ctx.quick ? 1 : 3;
  let decodeS = Infinity;
  let fullS = Infinity;
  for (let r = 0; r < rounds; r++) {
    decodeS = Math.min(decodeS, time(() => { for (const b of batches) Batch.decode(b); }));
    const agg = new FlowAggregator(10, new MemoryRollupStore(10e6));
    const ring = new EventRing(200_000);
    const resolver = new Resolver();
    fullS = Math.min(fullS, time(() => {
      for (const bytes of batches) {
        const d = decodeBatch(Batch.decode(bytes), { maxEvents: 100_000 });
        for (const ev of d.events) {
          const re = { ev, local: resolver.local(ev), remote: resolver.remote(ev) };
          agg.add(re);
          ring.push(re);
        }
      }
    }));
  }
  const decodeRate = events / decodeS;
  const fullRate = events / fullS;
  ctx.log(`collector ingest: ${events} events in ${batches.length} batches`);
  return [
    { bench: 'collector', figure: 'ingest+aggregate, one core', value: fullRate, unit: 'events/s', peer: 'protobuf decode only', peerValue: decodeRate, ratio: fullRate / decodeRate, bar: '>= 1M events/s', met: fullRate >= 1e6 },
    { bench: 'wire', figure: 'bytes per event (raw protobuf)', value: rawBytes / events, unit: 'B', bar: '<= 16 B/event', met: rawBytes / events <= 16 },
    { bench: 'wire', figure: 'bytes per event (gzip, as sent)', value: gzBytes / events, unit: 'B', peer: 'raw protobuf', peerValue: rawBytes / events, ratio: gzBytes / rawBytes, bar: '<= 16 B/event', met: gzBytes / events <= 16 },
  ];
}

export const suite: BenchSuite = { name: 'collector-ingest', order: 40, run: benchCollectorIngest };
