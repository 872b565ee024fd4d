// What an unacknowledged batch costs the agent's heap while the sender keeps it for resending
// (agent/export/sender.ts holds the Batch objects, not their encoding): heap per batch of
// full batches held, beside the same batches' encoded size.
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import type { LocalAttributor } from '../../../agent/agent';
import { Batcher } from '../../../agent/batch/batcher';
import { TraceParser } from '../../../agent/bpftrace/parse';
import { Batch } from '../../../gen/tcpscope/v1/events';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

export interface HeldBatches {
  batches: number;
  eventsPerBatch: number;
  heapPerBatch: number;     // bytes
  encodedPerBatch: number;  // bytes
}

/** Builds `count` batches of `perBatch` events from the lines (cycled) and holds them all. */
export function heldBatchMemory(lines: readonly string[], attributor: LocalAttributor | undefined, count: number, perBatch = 4096): HeldBatches {
  const parser = new TraceParser(1_700_000_000_000_000);
  const held: Batch[] = [];
  const batcher = new Batcher({ runId: 'bench', nodeName: 'node-1', maxEvents: perBatch, flushMs: 1000, onBatch: (b) => held.push(b) });
  const before = heapUsed();
  for (let i = 0; held.length < count; i++) {
    const out = parser.parse(lines[i % lines.length]!);
    if (out.type !== 'record') continue;
    const r = out.record;
    if (r.kind === 'session') batcher.addSession(r, attributor?.attribute(r));
    else if (r.kind === 'retransmit') batcher.addRetransmit(r, attributor?.attribute(r));
  }
  batcher.stop();
  const after = heapUsed();
  const encoded = held.reduce((n, b) => n + Batch.encode(b).finish().length, 0);
  const events = held.reduce((n, b) => n + b.sessions.length + b.retransmits.length + b.flows.length, 0);
  return { batches: held.length, eventsPerBatch: events / held.length, heapPerBatch: (after - before) / held.length, encodedPerBatch: encoded / held.length };
}
