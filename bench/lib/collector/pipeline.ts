// The collector's ingest path in one process, without gRPC: decode -> validate (replayBatch:
// dedup, decodeBatch, registry) -> the sink exactly as collector/collector.ts wires it
// (resolve both ends, aggregate, ring, metrics) -> the next batch. Timed by CPU time of this
// process (GC threads included), so the figure is per core and holds on a busy machine.
import * as prom from 'prom-client';
import { FlowAggregator } from '../../../collector/aggregate/flows';
import type { FlowEvent, ResolvedEvent } from '../../../collector/events';
import { AgentRegistry } from '../../../collector/ingest/agents';
import { replayBatch } from '../../../collector/ingest/service';
import { CollectorMetrics } from '../../../collector/metrics';
import { Resolver } from '../../../collector/resolve/resolver';
import { MemoryRollupStore } from '../../../collector/store/memory-store';
import { EventRing } from '../../../collector/store/ring';
import { Batch } from '../../../gen/tcpscope/v1/events';

/** CPU seconds (user + system) this process used while fn ran. */
export function cpuSeconds(fn: () => void): number {
  const c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
}

/** A fresh collector core (aggregator, ring, registry, metrics), as startCollector builds it without a data dir. */
export function collectorCore() {
  const agg = new FlowAggregator(10, new MemoryRollupStore(10e6));
  const ring = new EventRing(200_000);
  const registry = new AgentRegistry();
  const resolver = new Resolver();
  const metrics = new prom.Registry();
  const flowMetrics = new CollectorMetrics(metrics, 2000, 15 * 60_000);
  let total = 0;
  // collector/collector.ts's sink, line for line (its prom counters aside)
  const sink = {
    apply(events: FlowEvent[]): void {
      const resolved: ResolvedEvent[] = [];
      for (let i = 0; i < events.length; i++) {
        const ev = events[i]!;
        const re = { ev, local: resolver.local(ev), remote: resolver.remote(ev) };
        ring.push(re);
        // a followed pod's session is in a flow record already: shown, not counted again
        if (ev.type === 'life' && ev.detailOnly) continue;
        resolved.push(re);
        agg.add(re);
      }
      flowMetrics.observeBatch(resolved);
      total += resolved.length;
    },
  };
  return { agg, ring, registry, sink, applied: () => total };
}

export interface PipelineRun {
  /** CPU seconds to decode the batches and do nothing else (the limit). */
  decodeCpuS: number;
  /** CPU seconds for the whole in-process ingest path. */
  fullCpuS: number;
  /** Wall seconds of the whole path (for reference; noisy on a shared machine). */
  fullWallS: number;
}

/** Best of `rounds` runs of each, the two interleaved so both see the same machine. */
export function runPipeline(batches: Uint8Array[], rounds: number): PipelineRun {
  let decodeCpuS = Infinity, fullCpuS = Infinity, fullWallS = Infinity;
  for (let r = 0; r < rounds; r++) {
    decodeCpuS = Math.min(decodeCpuS, cpuSeconds(() => { for (const b of batches) Batch.decode(b); }));
    const core = collectorCore();
    const t0 = process.hrtime.bigint();
    fullCpuS = Math.min(fullCpuS, cpuSeconds(() => {
      for (const bytes of batches) {
        if (!replayBatch(core.registry, core.sink, Batch.decode(bytes), 65_536)) throw new Error('a bench batch was taken for a duplicate');
      }
    }));
    fullWallS = Math.min(fullWallS, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return { decodeCpuS, fullCpuS, fullWallS };
}
