// Collector ingest in one process: records per CPU-second decoded, validated, resolved,
// aggregated and put in the ring (bench/lib/collector/pipeline.ts mirrors the collector's
// sink), beside the limit of decoding the same batches and doing nothing, for three mixes
// of realistic traffic (bench/lib/collector/workloads.ts); and bytes per event on the wire
// for the same batches, raw and gzip-compressed (as gRPC sends them).
import { gzipSync } from 'node:zlib';
import { runPipeline } from '../lib/collector/pipeline';
import { wireOptions } from '../lib/collector/wire-options';
import { MIX_WORDS, MIXES, type Workload, workload } from '../lib/collector/workloads';
import type { BenchContext, BenchRow, BenchSuite } from '../report';

const BAR_RATE = '>= 1M events/s per core';
const BAR_WIRE = '<= 16 B/event';

function wireRows(w: Workload): BenchRow[] {
  const raw = w.batches.reduce((n, b) => n + b.length, 0);
  const gz = w.batches.reduce((n, b) => n + gzipSync(b).length, 0);
  const what = MIX_WORDS[w.mix];
  const rows: BenchRow[] = w.mix === 'sessions'
    ? [
      { bench: 'wire', figure: `bytes per event, ${what} (raw protobuf)`, value: raw / w.records, unit: 'B', bar: BAR_WIRE, met: raw / w.records <= 16 },
      { bench: 'wire', figure: `bytes per event, ${what} (gzip, as sent)`, value: gz / w.records, unit: 'B', peer: 'raw protobuf', peerValue: raw / w.records, ratio: gz / raw, bar: BAR_WIRE, met: gz / w.records <= 16 },
    ]
    : [
      { bench: 'wire', figure: `bytes per record, ${what} (gzip, as sent)`, value: gz / w.records, unit: 'B', peer: 'raw protobuf', peerValue: raw / w.records, ratio: gz / raw },
      { bench: 'wire', figure: `bytes per session represented, ${what} (gzip)`, value: gz / w.sessions, unit: 'B', peer: 'raw protobuf', peerValue: raw / w.sessions, ratio: gz / raw, bar: BAR_WIRE, met: gz / w.sessions <= 16 },
    ];
  // what other encodings of the same batches would weigh (not in use: see wire-options.ts)
  if (w.mix !== 'mixed') {
    for (const o of wireOptions(w.batches)) {
      if (w.mix === 'flows' && o.name.startsWith('session columns')) continue;
      rows.push({ bench: 'wire', figure: `  option, not in use: ${o.name}, ${what} (gzip per ${w.mix === 'sessions' ? 'event' : 'record'})`, value: o.gzip / w.records, unit: 'B', peer: 'format in use', peerValue: gz / w.records, ratio: o.gzip / gz });
    }
  }
  return rows;
}

export async function benchCollectorIngest(ctx: BenchContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const records = ctx.quick ? 60_000 : 400_000;
  const rounds = ctx.quick ? 2 : 3; // best of: the first also warms the JIT up
  for (const mix of MIXES) {
    const w = workload(mix, records);
    const r = runPipeline(w.batches, rounds);
    const what = MIX_WORDS[mix];
    const full = w.records / r.fullCpuS;
    const decode = w.records / r.decodeCpuS;
    ctx.log(`collector ingest, ${what}: ${w.records} records (${w.sessions} sessions, ${w.retransmitEvents} retransmit events, ${w.flowRecords} flow records) in ${w.batches.length} batches; ` +
      `full path ${r.fullCpuS.toFixed(2)} CPU-s (${r.fullWallS.toFixed(2)} s wall), decode ${r.decodeCpuS.toFixed(2)} CPU-s`);
    rows.push({ bench: 'collector', figure: `ingest+aggregate in-process, ${what}, records per core`, value: full, unit: 'records/s', peer: 'protobuf decode only', peerValue: decode, ratio: full / decode, bar: BAR_RATE, met: full >= 1e6 });
    if (mix !== 'sessions') {
      const rep = w.represented / r.fullCpuS;
      rows.push({ bench: 'collector', figure: `ingest+aggregate in-process, ${what}, sessions+retransmits represented per core`, value: rep, unit: 'events/s', peer: 'records per core', peerValue: full, ratio: rep / full, bar: BAR_RATE, met: rep >= 1e6 });
    }
    rows.push(...wireRows(w));
  }
  return rows;
}

export const suite: BenchSuite = { name: 'collector-ingest', order: 40, run: benchCollectorIngest };
