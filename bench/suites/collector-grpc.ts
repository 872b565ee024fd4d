// Collector ingest over real gRPC: the collector process as users run it (`tcpscope
// collector` on loopback) fed by 1, 10, 100 and 500 concurrent synthetic agents (one stream
// and connection each, real protocol, gzip; bench/lib/collector/synthetic-agents.ts in a
// separate process). Figures: records per second acknowledged, records per CPU-second of the
// collector process (/proc/<pid>/stat: per core, whatever else runs on the machine) beside
// the in-process path for the same batches, and the collector's peak RSS; curves of both
// against streams. A fresh collector for every point, warmed up before it is measured; every
// agent is a node of 200 pods sending batches of 1000 records (one point also with 4096).
import { runPipeline } from '../lib/collector/pipeline';
import { cpuSecondsOf, watchRss } from '../lib/collector/procstat';
import { startBenchScript, startCollectorProcess } from '../lib/collector/processes';
import type { SyntheticReport } from '../lib/collector/synthetic-agents';
import { type Mix, MIX_WORDS, workload } from '../lib/collector/workloads';
import type { BenchContext, BenchRow, BenchSuite } from '../report';

const BAR = '>= 1M events/s per core';
/** Records per batch: a busy node's batch of one second; the same for every point, so only the streams change. */
const PER_BATCH = 1000;

interface Point {
  mix: Mix;
  streams: number;
  rate: number;        // records/s acknowledged
  perCore: number;     // records per collector CPU-second
  represented: number; // sessions + retransmits per collector CPU-second
  rssMb: number;
  agentsCpuS: number;
  errors: number;
}

async function measure(ctx: BenchContext, mix: Mix, streams: number, seconds: number, warmup: number, records: number): Promise<Point> {
  const collector = await startCollectorProcess();
  const inFlight = streams >= 100 ? 1 : streams >= 10 ? 2 : 8;
  const perBatch = PER_BATCH;
  const agents = startBenchScript('synthetic-agents', [
    '--collector', collector.ingest, '--streams', String(streams), '--seconds', String(seconds), '--warmup', String(warmup), '--mix', mix,
    '--records', String(records), '--in-flight', String(inFlight), '--per-batch', String(perBatch),
  ]);
  try {
    await agents.waitFor(/^ready$/, 180_000);
    const rss = watchRss(collector.pid);
    agents.child.stdin!.write('go\n');
    await agents.waitFor(/^mark$/, (warmup + 60) * 1000);
    const cpu0 = cpuSecondsOf(collector.pid);
    const agentsCpu0 = cpuSecondsOf(agents.pid);
    const m = await agents.waitFor(/^(\{.*\})$/, (seconds + 120) * 1000);
    const cpuS = cpuSecondsOf(collector.pid) - cpu0;
    const agentsCpuS = cpuSecondsOf(agents.pid) - agentsCpu0;
    const rssBytes = rss.stop();
    const r = JSON.parse(m[1]!) as SyntheticReport;
    if (r.errors) ctx.log(`collector-grpc: ${r.errors} errors with ${streams} streams, first: ${r.firstError}`);
    const p: Point = {
      mix, streams, rate: r.records / r.seconds, perCore: r.records / cpuS, represented: r.represented / cpuS,
      rssMb: rssBytes / 2 ** 20, agentsCpuS, errors: r.errors,
    };
    ctx.log(`collector-grpc, ${MIX_WORDS[mix]}, ${streams} streams (batches of ${perBatch}): ${r.records} records in ${r.batches} batches, ${r.seconds.toFixed(1)} s; ` +
      `collector ${cpuS.toFixed(2)} CPU-s, agents ${agentsCpuS.toFixed(2)} CPU-s, collector peak RSS ${p.rssMb.toFixed(0)} MiB`);
    return p;
  } finally {
    await agents.kill();
    await collector.kill();
  }
}

export async function benchCollectorGrpc(ctx: BenchContext): Promise<BenchRow[]> {
  const seconds = ctx.quick ? 2 : 8;
  const warmup = ctx.quick ? 1 : 3;
  const records = ctx.quick ? 40_000 : 200_000;
  const plan: Array<[Mix, number]> = [['sessions', 1], ['sessions', 10], ['sessions', 100], ['sessions', 500], ['flows', 100]];
  const points: Point[] = [];
  for (const [mix, streams] of plan) points.push(await measure(ctx, mix, streams, seconds, warmup, records));

  // the same batches through the in-process path, in this run: what gRPC adds per record
  const inProcess = new Map<Mix, number>();
  for (const mix of new Set(plan.map(([m]) => m))) {
    const w = workload(mix, ctx.quick ? 40_000 : 200_000, PER_BATCH);
    runPipeline(w.batches, 1); // warm-up, as the collectors had
    inProcess.set(mix, w.records / runPipeline(w.batches, ctx.quick ? 1 : 2).fullCpuS);
  }

  const rows: BenchRow[] = [];
  for (const p of points) {
    const what = `${MIX_WORDS[p.mix]}, ${p.streams} stream${p.streams > 1 ? 's' : ''}`;
    const peer = inProcess.get(p.mix)!;
    rows.push({ bench: 'collector-grpc', figure: `records per collector core, ${what}`, value: p.perCore, unit: 'records/s', peer: 'in-process path, same batches', peerValue: peer, ratio: p.perCore / peer, bar: BAR, met: p.perCore >= 1e6 });
    if (p.mix !== 'sessions') rows.push({ bench: 'collector-grpc', figure: `sessions+retransmits per collector core, ${what}`, value: p.represented, unit: 'events/s', peer: 'records per core', peerValue: p.perCore, ratio: p.represented / p.perCore, bar: BAR, met: p.represented >= 1e6 });
    rows.push({ bench: 'collector-grpc', figure: `records acknowledged per second, ${what} (collector + agents share 2 cores)`, value: p.rate, unit: 'records/s' });
    rows.push({ bench: 'collector-grpc', figure: `collector peak RSS, ${what}`, value: p.rssMb, unit: 'MiB' });
  }
  const sessions = points.filter((p) => p.mix === 'sessions');
  ctx.curve({
    title: 'collector over gRPC: records/s against streams', x: 'concurrent agent streams', y: 'records/s', logX: true,
    series: [
      { name: 'acknowledged per second', points: sessions.map((p) => [p.streams, p.rate]) },
      { name: 'per collector CPU-second', points: sessions.map((p) => [p.streams, p.perCore]) },
    ],
  });
  ctx.curve({
    title: 'collector over gRPC: peak RSS against streams', x: 'concurrent agent streams', y: 'MiB', logX: true,
    series: [{ name: 'collector RSS (per-session events)', points: sessions.map((p) => [p.streams, p.rssMb]) }],
  });
  return rows;
}

export const suite: BenchSuite = { name: 'collector-grpc', order: 41, run: benchCollectorGrpc };
