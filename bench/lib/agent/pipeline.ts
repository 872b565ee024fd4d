// The agent's user-space pipeline from bpftrace's stdout bytes to encoded batches, on the
// calling thread, with the same stage calls the agent makes: utf8 decode and line split as
// BpftraceRunner reads its pipe (runner.ts), TraceParser (parse.ts), the record switch of
// startAgent (agent.ts: attribute, count, add to the batch), Batcher, Batch.encode (what
// the gRPC sender writes). Only the gRPC write itself is left out. `upTo` stops after a
// stage, so the benchmark can say where the time goes.
import { StringDecoder } from 'node:string_decoder';
import type { LocalAttributor } from '../../../agent/agent';
import { Batcher } from '../../../agent/batch/batcher';
import { TraceParser } from '../../../agent/bpftrace/parse';
import type { TraceRecord } from '../../../agent/records';
import { Batch } from '../../../gen/tcpscope/v1/events';

export type Stage = 'split' | 'parse' | 'attribute' | 'batch' | 'encode';
export const STAGES: readonly Stage[] = ['split', 'parse', 'attribute', 'batch', 'encode'];

export interface PipelineCounts {
  lines: number;
  rejected: number;
  sessions: number;       // one by one, or inside flow sums (as AgentCounters.sessions)
  retransmits: number;
  flowRecords: number;
  attributed: number;
  batches: number;
  bytes: number;          // encoded batch bytes
}

/** Runs the chunks through the pipeline up to `upTo` (inclusive). */
export function runPipeline(chunks: readonly Buffer[], attributor: LocalAttributor | undefined, upTo: Stage, offsetUs = 1_700_000_000_000_000): PipelineCounts {
  const stage = STAGES.indexOf(upTo);
  const c: PipelineCounts = { lines: 0, rejected: 0, sessions: 0, retransmits: 0, flowRecords: 0, attributed: 0, batches: 0, bytes: 0 };
  const parser = new TraceParser(offsetUs);
  const batcher = new Batcher({
    runId: 'bench', nodeName: 'node-1', maxEvents: 4096, flushMs: 1000,
    onBatch: (b) => {
      c.batches++;
      if (stage >= 4) c.bytes += Batch.encode(b).finish().length;
    },
  });
  const attribute = stage >= 2 && attributor ? (r: Parameters<LocalAttributor['attribute']>[0]) => {
    const pod = attributor.attribute(r);
    if (pod) c.attributed++;
    return pod;
  } : () => undefined;
  const batching = stage >= 3;

  // agent.ts: source.onRecord
  const onRecord = (r: TraceRecord) => {
    switch (r.kind) {
      case 'session': {
        const pod = attribute(r);
        c.sessions++;
        if (batching) batcher.addSession(r, pod);
        break;
      }
      case 'retransmit': {
        const pod = attribute(r);
        c.retransmits++;
        if (batching) batcher.addRetransmit(r, pod);
        break;
      }
      case 'flow-sum': {
        const pod = attribute(r);
        c.flowRecords++;
        c.sessions += r.sessions + r.failedConnects;
        for (const t of r.retransmits) c.retransmits += t.events;
        if (batching) batcher.addFlow(r, pod);
        break;
      }
      default:
        break;
    }
  };
  // runner.ts: the 'data' handler's parse and dispatch
  const onLine = stage === 0 ? () => { c.lines++; } : (line: string) => {
    c.lines++;
    const out = parser.parse(line);
    if (out.type === 'record') onRecord(out.record);
    else if (out.type === 'records') for (const r of out.records) onRecord(r);
    else if (out.type === 'reject') c.rejected++;
  };
  eachLine(chunks, onLine);
  batcher.stop();
  return c;
}

/** runner.ts's splitLines over a stream with setEncoding('utf8') (a StringDecoder): fn for each line. */
export function eachLine(chunks: readonly Buffer[], fn: (line: string) => void): void {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for (const buf of chunks) {
    const chunk = decoder.write(buf);
    let nl = chunk.indexOf('\n');
    if (nl === -1) {
      rest += chunk;
      continue;
    }
    fn(rest + chunk.slice(0, nl));
    rest = '';
    let start = nl + 1;
    while ((nl = chunk.indexOf('\n', start)) !== -1) {
      fn(chunk.slice(start, nl));
      start = nl + 1;
    }
    rest = chunk.slice(start);
  }
  if (rest) fn(rest);
}

export interface Timed<T> {
  result: T;
  /** CPU seconds of this process (all threads: GC helpers included), the best of the rounds. */
  cpuS: number;
  wallS: number;
}

/**
 * Runs fn `rounds` times after one warm-up round; keeps the round with the least CPU. No GC
 * is forced in between: after a forced full GC V8 starts again from a small young
 * generation, and the rounds measured half the steady-state rate.
 */
export function timeBest<T>(rounds: number, fn: () => T): Timed<T> {
  fn();
  let best: Timed<T> | undefined;
  for (let i = 0; i < rounds; i++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const result = fn();
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
    const c = process.cpuUsage(c0);
    const cpuS = (c.user + c.system) / 1e6;
    if (!best || cpuS < best.cpuS) best = { result, cpuS, wallS };
  }
  return best!;
}
