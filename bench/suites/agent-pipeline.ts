// Agent user space (PRODUCT.md: >= 300k events/s on one core from bpftrace output to encoded
// batch): bpftrace's stdout bytes -> lines -> TraceParser -> SocketAttributor (100 pods of a
// fake node: cgroup tree, /proc, pod index) -> Batcher -> Batch.encode, on one thread, for
// per-session S lines, R lines and the always-on flow-interval blocks (flow records/s and the
// sessions/s they stand for), with the time each stage adds. Beside it the limit: bpftrace
// 0.17 itself printing S lines to /dev/null (root only). Then the real agent process at 50k
// lines/s (a stand-in bpftrace, a real collector on loopback): its RSS against the 150 MiB
// bar, an idle agent's, and (full run) the same agent with its old space capped at 128 MiB.
//
// The output format of our programs, chosen by this benchmark: the same sessions as printf
// lines (today's S line), as map dumps (today's flow block; a flow per session, and summed
// per flow) and in bpftrace's JSON mode (-f json: printf text wrapped in JSON, a map as one
// JSON object), parsed side by side; as root also what bpftrace itself spends printing each.
// Conclusion (full runs on the shared 2-core machine, 2026-11-26): keep the text formats, and
// keep summing in the kernel.
//  - JSON costs more on both sides and buys nothing the line checks do not already give: the
//    agent reads JSON-wrapped S lines at 0.57x the text rate and JSON map dumps at 0.81x
//    (JSON.parse first, then the same field checks on the same strings); bpftrace prints JSON
//    printf lines at 0.82x its text rate (64k vs 79k a CPU-second) and JSON map entries at
//    0.82-0.93x. Per session, bpftrace + agent: 14.4 µs as an S line, 18.5 µs as JSON (1.29x).
//  - bpftrace, not the parser, is the ceiling for per-session lines: it prints ~80k S lines a
//    CPU-second; the agent reads ~600k and runs its whole pipeline at ~130k (the Batcher is
//    the largest stage: see the "S lines up to" rows).
//  - Map dumps cost bpftrace ~8 µs an entry: one flow per session (5 entries) is 49 µs a
//    session, 3.4x an S line; summed per flow (13 sessions a flow, ~1 entry a session) a
//    session costs 9.0 µs, 0.62x. In user space alone the sums win from ~4 sessions a flow
//    an interval; the kernel's side (PRODUCT.md: printing a session 35-115 µs, summing 3-10)
//    favours them further.
// `npm run bench -- --only=agent-pipeline [--quick]`
import { bpftraceUnavailable, jsonSample, mapPrintLimit, printfLimit, type PrintLimit } from '../lib/agent/bpftrace-limit';
import { heldBatchMemory } from '../lib/agent/batch-memory';
import { createFakeNode, type FakeNode } from '../lib/agent/fake-node';
import { JsonTraceParser } from '../lib/agent/json-format';
import { eachLine, runPipeline, STAGES, timeBest } from '../lib/agent/pipeline';
import { type AgentRun, runRealAgent } from '../lib/agent/real-agent';
import {
  chunks, intervalJson, intervalText, jsonMap, jsonPrintf, retransmitLine, sessionLine, sumIntervals, toBytes, TrafficModel, type Session,
} from '../lib/agent/traffic';
import { TraceParser } from '../../agent/bpftrace/parse';
import type { TraceRecord } from '../../agent/records';
import type { BenchContext, BenchRow, BenchSuite } from '../report';

const B = 'agent';
const BAR = '>= 300k lines/s';
const SESSIONS_PER_S = 20_000; // of the fake node: with 1 s flow intervals, ~13 sessions a flow

/** bpftrace's output for one format, as bytes (off the V8 heap, so that GC in the timed rounds
 *  does not mark the benchmark's own data), with the sessions it stands for. */
interface Output {
  chunks: Buffer[];
  bytes: number;
  lines: number;
}

function output(lines: string[]): Output {
  const buf = toBytes(lines);
  return { chunks: chunks(buf), bytes: buf.length, lines: lines.length };
}

/** Text formats: bytes -> lines -> TraceParser (the pipeline's first two stages); the sessions represented. */
function parseText(o: Output): number {
  const c = runPipeline(o.chunks, undefined, 'parse');
  if (c.rejected) throw new Error(`format comparison: ${c.rejected} lines rejected`);
  return c.sessions;
}

/** JSON mode: bytes -> lines -> JSON.parse -> the same checks (json-format.ts); the sessions represented. */
function parseJson(o: Output): number {
  const text = new TraceParser(1_700_000_000_000_000);
  const p = new JsonTraceParser(text);
  let n = 0;
  const emit = (r: TraceRecord) => {
    if (r.kind === 'session') n++;
    else if (r.kind === 'flow-sum') n += r.sessions + r.failedConnects;
  };
  eachLine(o.chunks, (l) => p.parse(l, emit));
  if (p.rejected || text.rejectedTotal) throw new Error(`format comparison: JSON lines rejected (${p.rejected + text.rejectedTotal})`);
  return n;
}

interface Data {
  s: Output;
  r: Output;
  flows: Output;
  formats: Array<{ name: string; out: Output; json: boolean }>;
  sessionsPerFlow: number;
  flowsPerInterval: number;
  intervals: number;
  /** Map entries a session: a flow per session, and summed per flow. */
  entriesPerSession: { perSession: number; summed: number };
}

/** Every output the suite reads, made once; the JS objects they were made from are gone when this returns. */
function makeData(node: FakeNode, n: number): Data {
  const model = new TrafficModel(node, 42);
  const sessions = Array.from({ length: n }, () => model.session(SESSIONS_PER_S));
  const sLines = sessions.map(sessionLine);
  const ivs = sumIntervals(sessions, 1000);
  const perSessionIvs = sumIntervals(sessions, 1000, true);
  const flowLines = ivs.flatMap((iv, i) => intervalText(iv, (i & 1) as 0 | 1));
  const flowKeys = ivs.reduce((k, iv) => k + new Set([...iv.maps.get('@ls')!.keys(), ...iv.maps.get('@lf')!.keys()]).size, 0);
  const entries = (list: typeof ivs) => list.reduce((k, iv) => k + [...iv.maps.values()].reduce((m, x) => m + x.size, 0), 0) / n;
  const sessionsPerFlow = n / flowKeys;
  const s = output(sLines);
  const flows = output(flowLines);
  return {
    s, flows,
    r: output(Array.from({ length: n }, () => retransmitLine(model.retransmit()))),
    formats: [
      { name: 'printf text (S line, today)', out: s, json: false },
      { name: 'printf in JSON mode', out: output(sLines.map(jsonPrintf)), json: true },
      { name: 'map dump text, a flow per session', out: output(perSessionIvs.flatMap((iv, i) => intervalText(iv, (i & 1) as 0 | 1))), json: false },
      { name: 'map dump in JSON mode, a flow per session', out: output(perSessionIvs.flatMap((iv, i) => intervalJson(iv, (i & 1) as 0 | 1))), json: true },
      { name: `map dump text, summed per flow (today; ${sessionsPerFlow.toFixed(1)}/flow)`, out: flows, json: false },
      { name: `map dump in JSON mode, summed per flow (${sessionsPerFlow.toFixed(1)}/flow)`, out: output(ivs.flatMap((iv, i) => intervalJson(iv, (i & 1) as 0 | 1))), json: true },
    ],
    sessionsPerFlow, flowsPerInterval: ivs.reduce((k, iv) => k + iv.maps.get('@ls')!.size, 0) / ivs.length, intervals: ivs.length,
    entriesPerSession: { perSession: entries(perSessionIvs), summed: entries(ivs) },
  };
}

/** Our renderers beside bpftrace -f json's real output for the same values: they must agree. */
async function checkJsonShapes(ctx: BenchContext): Promise<string> {
  const real = await jsonSample();
  const s: Session = {
    ns: 5000000000000, laddr: '10.244.0.2', lport: 41234, raddr: '10.96.0.7', rport: 8080, tx: 1234, rx: 56789, durUs: 1200, retrans: 0, pid: 1000,
    netns: 4026532001, cgroup: 9001, dir: 1, failed: 0, srttUs: 150, born: 1, comm: 'app',
  };
  const key = [9001, 4026532001, '10.244.0.2', '10.96.0.7', 0, 8080, 1];
  const ours = [
    jsonPrintf(sessionLine(s)),
    jsonPrintf(retransmitLine({ ns: 5000000000001, laddr: '10.244.0.2', lport: 41234, raddr: '10.96.0.7', rport: 8080, state: 1, ca: 4, netns: 4026532001, cgroup: 9001, dir: 1, pid: 0, segs: 3 })),
    jsonPrintf('F 4000000000000 5000000000000'),
    jsonMap('@ls0', [[key, 1]]),
    jsonMap('@lt0', [[key, 1234]]),
    jsonMap('@lh0', [[[...key, 41], 1]]),
    '{"type": "map", "data": {"@lc0": 1}}',
    jsonPrintf('G 5500000000000'),
  ];
  if (real.join('\n') !== ours.join('\n')) throw new Error(`bpftrace -f json prints other shapes than the benchmark renders:\nbpftrace:\n${real.join('\n')}\nours:\n${ours.join('\n')}`);
  ctx.log(`agent: JSON shapes checked against bpftrace -f json (${real.length} lines: printf, maps with 7 and 8 keys, a scalar; an empty map prints nothing)`);
  return 'checked against bpftrace -f json in this run';
}

export async function benchAgentPipeline(outer: BenchContext): Promise<BenchRow[]> {
  const t0 = Date.now();
  const ctx: BenchContext = { ...outer, log: (m) => outer.log(`${m} [${((Date.now() - t0) / 1000).toFixed(0)} s]`) };
  const rows: BenchRow[] = [];
  const node = createFakeNode(100);
  try {
    const N = ctx.quick ? 100_000 : 250_000;
    const rounds = ctx.quick ? 1 : 3;
    const data = makeData(node, N);
    ctx.log(`agent: ${N} sessions of 100 pods at ${SESSIONS_PER_S}/s: ${data.intervals} flow intervals of ~${data.flowsPerInterval.toFixed(0)} flows, ${data.sessionsPerFlow.toFixed(1)} sessions a flow, ${(data.flows.lines / N).toFixed(2)} map lines a session`);

    // ---- the pipeline, bytes to encoded batches ----
    let limit: PrintLimit | undefined;
    let why = bpftraceUnavailable();
    if (!why) {
      try {
        limit = await printfLimit({ seconds: ctx.quick ? 3 : 6 });
        ctx.log(`agent: bpftrace printf limit: ${limit.perSecond.toFixed(0)} lines/s at ${(limit.cpu * 100).toFixed(0)}% of a core = ${limit.perCpuSecond.toFixed(0)} lines per CPU-second (${limit.bytesPerItem.toFixed(0)} B a line)`);
      } catch (err) {
        why = `bpftrace did not run here: ${(err as Error).message.split('\n')[0]}`;
      }
    }
    if (why) ctx.log(`agent: bpftrace rows skipped: ${why}`);
    const sets: Array<{ name: string; out: Output; flows: boolean }> = [
      { name: 'S lines (a session each)', out: data.s, flows: false },
      { name: 'R lines (a retransmit each)', out: data.r, flows: false },
      { name: `flow blocks (${data.sessionsPerFlow.toFixed(1)} sessions a flow)`, out: data.flows, flows: true },
    ];
    for (const set of sets) {
      const t = timeBest(rounds, () => runPipeline(set.out.chunks, node.attributor, 'encode'));
      const c = t.result;
      if (c.rejected) throw new Error(`agent pipeline: ${c.rejected} lines rejected in ${set.name}`);
      const linesPerS = c.lines / t.cpuS;
      ctx.log(`agent: ${set.name}: ${c.lines} lines in ${t.cpuS.toFixed(2)} s CPU (${t.wallS.toFixed(2)} s wall), ${c.batches} batches, ${(c.bytes / Math.max(1, set.flows ? c.flowRecords : c.sessions + c.retransmits)).toFixed(1)} B a record encoded, ${c.attributed} attributed`);
      rows.push({
        bench: B, figure: `pipeline, one core: ${set.name}`, value: linesPerS, unit: 'lines/s',
        ...(limit ? { peer: 'bpftrace printing S lines (per CPU-s)', peerValue: limit.perCpuSecond, ratio: linesPerS / limit.perCpuSecond } : {}),
        bar: BAR, met: linesPerS >= 300_000,
      });
      if (set.flows) {
        rows.push({ bench: B, figure: 'pipeline, one core: flow records', value: c.flowRecords / t.cpuS, unit: 'records/s' });
        rows.push({ bench: B, figure: 'pipeline, one core: sessions the flow records stand for', value: c.sessions / t.cpuS, unit: 'sessions/s', bar: '>= 300k events/s', met: c.sessions / t.cpuS >= 300_000 });
      }
    }
    if (!limit) rows.push({ bench: B, figure: `bpftrace printing S lines: skipped (${why})`, value: NaN, unit: '' });
    else {
      rows.push({ bench: B, figure: 'bpftrace alone printing S lines, -B line, to /dev/null (per CPU-second)', value: limit.perCpuSecond, unit: 'lines/s' });
      rows.push({ bench: B, figure: 'bpftrace alone printing S lines: wall rate, CPU it had', value: limit.perSecond, unit: `lines/s @${(limit.cpu * 100).toFixed(0)}% CPU` });
    }

    // where the time goes, S lines: each stage added in turn
    let prev = 0;
    const stageUs: string[] = [];
    for (const st of STAGES) {
      const t = timeBest(rounds, () => runPipeline(data.s.chunks, node.attributor, st));
      const us = (t.cpuS / N) * 1e6;
      stageUs.push(`${st} +${(us - prev).toFixed(2)}`);
      rows.push({ bench: B, figure: `S lines up to ${st}`, value: N / t.cpuS, unit: 'lines/s' });
      prev = us;
    }
    ctx.log(`agent: µs a S line by stage: ${stageUs.join(', ')} (total ${prev.toFixed(2)})`);

    // ---- output formats, the same sessions: bytes -> records ----
    const shapes = why ? 'JSON shapes as bpftrace 0.17 prints them (not checked: no bpftrace here)' : await checkJsonShapes(ctx);
    const parsed: Array<{ name: string; perS: number; bytes: number }> = [];
    for (const f of data.formats) {
      const t = timeBest(rounds, () => (f.json ? parseJson(f.out) : parseText(f.out)));
      if (t.result !== N) throw new Error(`format ${f.name}: parsed ${t.result} sessions, expected ${N}`);
      parsed.push({ name: f.name, perS: N / t.cpuS, bytes: f.out.bytes / N });
    }
    const base = parsed[0]!;
    for (const p of parsed) {
      rows.push({ bench: 'format', figure: `read: ${p.name} (${p.bytes.toFixed(0)} B a session)`, value: p.perS, unit: 'sessions/s', peer: 'printf text', peerValue: base.perS, ratio: p.perS / base.perS });
    }
    ctx.log(`agent: format comparison (bytes -> lines -> records), ${shapes}`);

    // bpftrace's side of each format: what printing costs it, per session
    if (!why && !ctx.quick) {
      const printfJson = await printfLimit({ seconds: 5, json: true });
      const mapText = await mapPrintLimit({ seconds: 4, entries: 20_000 });
      const mapJson = await mapPrintLimit({ seconds: 4, entries: 20_000, json: true });
      const { perSession: eps1, summed: epsN } = data.entriesPerSession;
      const sides: Array<[string, number, number]> = [
        ['printf text (S line, today)', limit!.perCpuSecond, parsed[0]!.perS],
        ['printf in JSON mode', printfJson.perCpuSecond, parsed[1]!.perS],
        [`map dump text, a flow per session (${eps1.toFixed(1)} entries)`, mapText.perCpuSecond / eps1, parsed[2]!.perS],
        ['map dump in JSON mode, a flow per session', mapJson.perCpuSecond / eps1, parsed[3]!.perS],
        [`map dump text, summed per flow (today; ${epsN.toFixed(2)} entries a session)`, mapText.perCpuSecond / epsN, parsed[4]!.perS],
        ['map dump in JSON mode, summed per flow', mapJson.perCpuSecond / epsN, parsed[5]!.perS],
      ];
      ctx.log(`agent: bpftrace map print: text ${mapText.perCpuSecond.toFixed(0)}, JSON ${mapJson.perCpuSecond.toFixed(0)} entries per CPU-second; printf JSON ${printfJson.perCpuSecond.toFixed(0)} lines per CPU-second`);
      const us = (bt: number, read: number) => 1e6 / bt + 1e6 / read;
      const today = us(sides[0]![1], sides[0]![2]);
      for (const [name, bt, read] of sides) {
        rows.push({ bench: 'format', figure: `bpftrace printing: ${name}`, value: bt, unit: 'sessions/CPU-s' });
        rows.push({ bench: 'format', figure: `CPU a session, bpftrace print + agent read: ${name}`, value: us(bt, read), unit: 'µs', peer: 'printf text', peerValue: today, ratio: us(bt, read) / today });
      }
    }

    // ---- memory: what a buffered batch holds, then the real agent at 50k lines/s ----
    const heldLines: string[] = [];
    eachLine(data.s.chunks, (l) => heldLines.push(l));
    const held = heldBatchMemory(heldLines, node.attributor, ctx.quick ? 10 : 40);
    heldLines.length = 0;
    rows.push({ bench: B, figure: `heap per unacknowledged batch held (${held.eventsPerBatch.toFixed(0)} events, Batch objects)`, value: held.heapPerBatch / 1048576, unit: 'MiB', peer: 'its encoded size', peerValue: held.encodedPerBatch / 1048576, ratio: held.heapPerBatch / held.encodedPerBatch });

    let idle: AgentRun | undefined, run: AgentRun | undefined;
    let agentWhy = process.getuid?.() !== 0 ? 'not root: the agent\'s preflight needs root' : undefined;
    if (!agentWhy) {
      try {
        idle = await runRealAgent({ linesPerS: 1, seconds: ctx.quick ? 2 : 5 });
        run = await runRealAgent({ linesPerS: 50_000, seconds: ctx.quick ? 5 : 20 });
      } catch (err) {
        agentWhy = `the agent did not run here: ${(err as Error).message.split('\n')[0]}`;
      }
    }
    if (!idle || !run) {
      rows.push({ bench: B, figure: `real agent RSS at 50k lines/s: skipped (${agentWhy})`, value: NaN, unit: '' });
    } else {
      ctx.log(`agent: real agent at 50k lines/s: printed ${run.printedPerS.toFixed(0)}/s, agent handled ${run.agentEventsPerS.toFixed(0)} events/s, collector counted ${run.deliveredPerS.toFixed(0)}/s; agent CPU ${(run.cpu * 100).toFixed(0)}%; RSS max ${run.rssMaxMiB.toFixed(0)} mean ${run.rssMeanMiB.toFixed(0)} MiB, heap used max ${run.heapUsedMiBMax.toFixed(0)} MiB, buffered max ${run.bufferedBatchesMax} batches (${run.bufferedMiBMax.toFixed(1)} MiB encoded)`);
      rows.push({ bench: B, figure: `real agent RSS at 50k lines/s (max of ${run.samples} samples)`, value: run.rssMaxMiB, unit: 'MiB', peer: 'idle agent', peerValue: idle.rssMaxMiB, ratio: run.rssMaxMiB / idle.rssMaxMiB, bar: '<= 150 MiB', met: run.rssMaxMiB <= 150 });
      rows.push({ bench: B, figure: 'real agent at 50k lines/s: events handled', value: run.agentEventsPerS, unit: 'events/s', peer: 'lines printed', peerValue: run.printedPerS, ratio: run.agentEventsPerS / run.printedPerS });
      rows.push({ bench: B, figure: 'real agent at 50k lines/s: CPU', value: run.cpu * 100, unit: '% of a core' });
      rows.push({ bench: B, figure: 'real agent at 50k lines/s: V8 heap used (max)', value: run.heapUsedMiBMax, unit: 'MiB' });
      rows.push({ bench: B, figure: 'real agent at 50k lines/s: unacknowledged batches (max)', value: run.bufferedBatchesMax, unit: 'batches' });
      if (!ctx.quick) {
        // what of that is garbage V8 has not collected yet: the same run with the old space capped
        // (the sender keeps unacknowledged batches as objects, ~7x their encoding: when the
        // collector falls behind, the capped agent can run out of heap; that is reported)
        try {
          const capped = await runRealAgent({ linesPerS: 50_000, seconds: 20, nodeOptions: '--max-old-space-size=128' });
          ctx.log(`agent: real agent at 50k lines/s, --max-old-space-size=128: handled ${capped.agentEventsPerS.toFixed(0)} events/s, CPU ${(capped.cpu * 100).toFixed(0)}%; RSS max ${capped.rssMaxMiB.toFixed(0)} mean ${capped.rssMeanMiB.toFixed(0)} MiB, heap used max ${capped.heapUsedMiBMax.toFixed(0)} MiB, buffered max ${capped.bufferedBatchesMax} batches`);
          rows.push({ bench: B, figure: 'real agent RSS at 50k lines/s, node --max-old-space-size=128', value: capped.rssMaxMiB, unit: 'MiB', peer: 'uncapped', peerValue: run.rssMaxMiB, ratio: capped.rssMaxMiB / run.rssMaxMiB, bar: '<= 150 MiB', met: capped.rssMaxMiB <= 150 });
          rows.push({ bench: B, figure: 'real agent CPU at 50k lines/s, node --max-old-space-size=128', value: capped.cpu * 100, unit: '% of a core', peer: 'uncapped', peerValue: run.cpu * 100, ratio: capped.cpu / run.cpu });
        } catch (err) {
          const msg = (err as Error).message.split('\n')[0]!;
          ctx.log(`agent: real agent at 50k lines/s, --max-old-space-size=128: ${msg}`);
          rows.push({ bench: B, figure: `real agent at 50k lines/s, node --max-old-space-size=128: died (${msg.slice(0, 80)})`, value: NaN, unit: '', bar: '<= 150 MiB', met: false });
        }
      }
    }
  } finally {
    node.close();
  }
  return rows;
}

export const suite: BenchSuite = { name: 'agent-pipeline', order: 30, run: benchAgentPipeline };
