// Wire-format options for the batches, measured on the same batches as the format in use
// (gzip, as gRPC sends them), to choose by numbers: what per-stream dictionaries, time deltas
// in µs, and session columns (struct of arrays, packed varints) would save. Only sizes: none
// of these is the wire format; each would need the collector to say it reads it (an old
// collector ignores unknown fields, and would silently drop what it cannot read).
import { gzipSync } from 'node:zlib';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { Batch } from '../../../gen/tcpscope/v1/events';

export interface WireOption {
  name: string;
  /** gzip bytes of all batches in this encoding. */
  gzip: number;
}

const gz = (batches: Uint8Array[]) => batches.reduce((n, b) => n + gzipSync(b).length, 0);

/** Sessions as columns: one packed field per SessionEvent field (after the rest of the batch). */
function columns(b: Batch, timeDiv: number): Uint8Array {
  const head = Batch.encode({ ...b, sessions: [] }).finish();
  const w = new BinaryWriter();
  const cols: Array<[boolean, (s: Batch['sessions'][number]) => number]> = [
    [false, (s) => s.endpoints], [true, (s) => Math.round(s.timeDeltaNs / timeDiv)], [false, (s) => s.localPort], [false, (s) => s.remotePort],
    [false, (s) => s.txBytes], [false, (s) => s.rxBytes], [false, (s) => s.durationUs], [false, (s) => s.retransSegs], [false, (s) => s.pid],
    [false, (s) => s.comm], [false, (s) => s.direction], [false, (s) => (s.failedConnect ? 1 : 0) | (s.bornBeforeTrace ? 2 : 0) | (s.detailOnly ? 4 : 0)],
    [false, (s) => s.srttUs],
  ];
  let field = 21;
  for (const [signed, get] of cols) {
    w.uint32((field++ << 3) | 2).fork();
    for (const s of b.sessions) signed ? w.sint64(get(s)) : w.uint64(get(s));
    w.join();
  }
  const body = w.finish();
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

export function wireOptions(batches: Uint8Array[]): WireOption[] {
  const decoded = batches.map((x) => Batch.decode(x));
  const us = (b: Batch): Batch => ({
    ...b,
    sessions: b.sessions.map((s) => ({ ...s, timeDeltaNs: Math.round(s.timeDeltaNs / 1000) })),
    retransmits: b.retransmits.map((r) => ({ ...r, timeDeltaNs: Math.round(r.timeDeltaNs / 1000) })),
    flows: b.flows.map((f) => ({ ...f, endDeltaNs: Math.round(f.endDeltaNs / 1000) })),
  });
  // per stream: a dictionary entry goes once per stream; here, the first batch that names it
  const perStream = (list: Batch[]): Batch[] => {
    const sentEp = new Set<string>(), sentPod = new Set<string>(), sentStr = new Set<string>();
    return list.map((b) => ({
      ...b,
      endpoints: b.endpoints.filter((e) => {
        const k = `${Buffer.from(e.localAddr).toString('hex')}|${Buffer.from(e.remoteAddr).toString('hex')}|${e.netnsInode}|${e.cgroupId}|${e.localPod}`;
        return !sentEp.has(k) && !!sentEp.add(k);
      }),
      pods: b.pods.filter((p) => !sentPod.has(p.uid + p.container) && !!sentPod.add(p.uid + p.container)),
      strings: b.strings.filter((s) => !sentStr.has(s) && !!sentStr.add(s)),
    }));
  };
  const enc = (list: Batch[]) => list.map((b) => Batch.encode(b).finish());
  return [
    { name: 'per-stream dictionaries', gzip: gz(enc(perStream(decoded))) },
    { name: 'time deltas in µs', gzip: gz(enc(decoded.map(us))) },
    { name: 'per-stream dictionaries + µs deltas', gzip: gz(enc(perStream(decoded.map(us)))) },
    { name: 'session columns (packed), µs deltas', gzip: gz(decoded.map((b) => columns(b, 1000))) },
  ];
}
