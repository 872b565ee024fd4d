// The ingest edge: checks a batch from an agent field by field and turns it into
// collector events. Anything impossible (an index out of range, an address of the wrong
// length, a port above 65535, too many events) rejects the whole batch with a clear error;
// nothing of a rejected batch is applied.
import { bytesToIp } from '../../common/addr';
import { AddressFamily, CaState, Direction, TcpState, type Batch } from '../../gen/tcpscope/v1/events';
import type { FlowEvent, FlowIntervalEv, RetransEv, RetransTally, SessionEv } from '../events';

export class BatchError extends Error {}

export interface DecodedBatch {
  events: FlowEvent[];
  sessions: number;      // sessions and failed connects, one by one or inside flow records
  retransmits: number;   // retransmit events, one by one or counted in the kernel
  flows: number;         // flow-interval records
}

export interface ValidateLimits {
  maxEvents: number;
}

const MAX_U32 = 0xffffffff;

function check(cond: boolean, msg: string): asserts cond {
  if (!cond) throw new BatchError(msg);
}

// Per event the checks run as `if (!ok) fail(`...`)`: the message is built only when it fails
// (a template per check and event was a fifth of the ingest CPU).
function fail(msg: string): never {
  throw new BatchError(msg);
}

/** The values an enum defines (non-negative numbers), as a set to test against. */
function enumValues(e: object): Set<number> {
  return new Set(Object.values(e).filter((x): x is number => typeof x === 'number' && x >= 0));
}
const DIRECTIONS = enumValues(Direction);
const TCP_STATES = enumValues(TcpState);
const CA_STATES = enumValues(CaState);
const validState = (v: number) => v !== TcpState.TCP_STATE_UNSPECIFIED && TCP_STATES.has(v);
const uint = (v: number) => Number.isSafeInteger(v) && v >= 0;
const MAX_DURATION_US = 10 * 365 * 86400e6;

// IPv4 addresses as text, kept: every batch names the same few hundred addresses again, and
// one string per address (hash computed once) makes the flow lookups downstream cheaper too.
const ipv4Text = new Map<number, string>();
function ipText(b: Uint8Array): string {
  if (b.length !== 4) return bytesToIp(b);
  const k = (b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!;
  let t = ipv4Text.get(k);
  if (t === undefined) {
    if (ipv4Text.size >= 65536) ipv4Text.clear();
    t = bytesToIp(b);
    ipv4Text.set(k, t);
  }
  return t;
}

export function decodeBatch(b: Batch, limits: ValidateLimits): DecodedBatch {
  check(typeof b.runId === 'string' && b.runId.length > 0 && b.runId.length <= 128, 'batch.run_id: must be 1-128 characters');
  check(Number.isSafeInteger(b.seq) && b.seq > 0, `batch.seq: must be a positive integer, got ${b.seq}`);
  check(b.nodeName.length > 0 && b.nodeName.length <= 253, 'batch.node_name: must be 1-253 characters');
  const total = b.sessions.length + b.retransmits.length + b.flows.length;
  check(total <= limits.maxEvents, `batch has ${total} events; at most ${limits.maxEvents} are accepted per batch`);
  check(/^\d{1,20}$/.test(b.baseTimeUnixNs), `batch.base_time_unix_ns: not an unsigned integer: "${b.baseTimeUnixNs}"`);
  const baseNs = BigInt(b.baseTimeUnixNs);
  check(total === 0 || baseNs > 0n, 'batch.base_time_unix_ns: must be set when the batch has events');

  const node = b.nodeName;
  const eps = b.endpoints.map((e, i) => {
    const fam = e.family === AddressFamily.ADDRESS_FAMILY_INET ? 4 : e.family === AddressFamily.ADDRESS_FAMILY_INET6 ? 6 : 0;
    check(fam !== 0, `endpoints[${i}].family: unknown address family ${e.family}`);
    const len = fam === 4 ? 4 : 16;
    check(e.localAddr.length === len && e.remoteAddr.length === len, `endpoints[${i}]: IPv${fam} addresses must be ${len} bytes`);
    check(e.localPod <= b.pods.length, `endpoints[${i}].local_pod: ${e.localPod} is beyond the ${b.pods.length} pods of the batch`);
    check(Number.isSafeInteger(e.netnsInode) && Number.isSafeInteger(e.cgroupId) && e.netnsInode >= 0 && e.cgroupId >= 0, `endpoints[${i}]: netns inode and cgroup id must be unsigned integers`);
    return {
      family: fam as 4 | 6,
      laddr: ipText(e.localAddr),
      raddr: ipText(e.remoteAddr),
      netnsInode: e.netnsInode,
      cgroupId: e.cgroupId,
      localPod: e.localPod ? b.pods[e.localPod - 1] : undefined,
    };
  });
  b.pods.forEach((p, i) => check(p.name.length <= 253 && p.namespace.length <= 253 && p.uid.length <= 64, `pods[${i}]: name, namespace or uid too long`));
  b.strings.forEach((s, i) => check(s.length <= 64, `strings[${i}]: longer than 64 characters`));

  const events: FlowEvent[] = new Array(total);
  let n = 0;
  // Times: base split into µs + ns remainder, deltas summed as plain numbers (fast path).
  const baseUs = Number(baseNs / 1000n);
  const baseRemNs = Number(baseNs % 1000n);
  let off = 0;
  for (let i = 0; i < b.sessions.length; i++) {
    const s = b.sessions[i]!;
    const ep = eps[s.endpoints];
    if (ep === undefined) fail(`sessions[${i}].endpoints: index ${s.endpoints} is beyond the ${eps.length} endpoints of the batch`);
    if (!(s.localPort <= 65535 && s.remotePort <= 65535)) fail(`sessions[${i}]: port above 65535`);
    if (!(s.comm <= b.strings.length)) fail(`sessions[${i}].comm: index ${s.comm} is beyond the strings of the batch`);
    if (!(uint(s.txBytes) && uint(s.rxBytes))) fail(`sessions[${i}]: byte counts must be unsigned integers`);
    if (!(uint(s.durationUs) && s.durationUs < MAX_DURATION_US)) fail(`sessions[${i}].duration_us: impossible value ${s.durationUs}`);
    if (!(s.pid <= 4194304 && s.retransSegs <= MAX_U32 && s.srttUs <= MAX_U32)) fail(`sessions[${i}]: pid, retrans_segs or srtt out of range`);
    if (!DIRECTIONS.has(s.direction)) fail(`sessions[${i}].direction: unknown value ${s.direction}`);
    off += s.timeDeltaNs;
    const timeUs = baseUs + Math.floor((baseRemNs + off) / 1000);
    if (!(Number.isSafeInteger(off) && timeUs > 0)) fail(`sessions[${i}].time_delta_ns: time out of range`);
    const ev: SessionEv = {
      type: 'life', timeUs, node,
      family: ep.family, laddr: ep.laddr, raddr: ep.raddr, netnsInode: ep.netnsInode, cgroupId: ep.cgroupId, localPod: ep.localPod,
      lport: s.localPort, rport: s.remotePort, direction: s.direction,
      txBytes: s.txBytes, rxBytes: s.rxBytes, durationUs: s.durationUs, retransSegs: s.retransSegs,
      pid: s.pid, comm: s.comm ? b.strings[s.comm - 1]! : '', failedConnect: s.failedConnect,
      srttUs: s.srttUs, bornBeforeTrace: s.bornBeforeTrace, detailOnly: s.detailOnly,
    };
    events[n++] = ev;
  }
  off = 0;
  for (let i = 0; i < b.retransmits.length; i++) {
    const r = b.retransmits[i]!;
    const ep = eps[r.endpoints];
    if (ep === undefined) fail(`retransmits[${i}].endpoints: index ${r.endpoints} is beyond the ${eps.length} endpoints of the batch`);
    if (!(r.localPort <= 65535 && r.remotePort <= 65535)) fail(`retransmits[${i}]: port above 65535`);
    if (!validState(r.state)) fail(`retransmits[${i}].state: unknown TCP state ${r.state}`);
    if (!CA_STATES.has(r.caState)) fail(`retransmits[${i}].ca_state: unknown value ${r.caState}`);
    if (!DIRECTIONS.has(r.direction)) fail(`retransmits[${i}].direction: unknown value ${r.direction}`);
    if (!(r.segs <= 65535)) fail(`retransmits[${i}].segs: impossible value ${r.segs}`);
    off += r.timeDeltaNs;
    const timeUs = baseUs + Math.floor((baseRemNs + off) / 1000);
    if (!(Number.isSafeInteger(off) && timeUs > 0)) fail(`retransmits[${i}].time_delta_ns: time out of range`);
    const ev: RetransEv = {
      type: 'retrans', timeUs, node,
      family: ep.family, laddr: ep.laddr, raddr: ep.raddr, netnsInode: ep.netnsInode, cgroupId: ep.cgroupId, localPod: ep.localPod,
      lport: r.localPort, rport: r.remotePort, direction: r.direction, state: r.state, caState: r.caState, segs: r.segs || 1,
    };
    events[n++] = ev;
  }
  off = 0;
  let flowSessions = 0;
  let flowRetransmits = 0;
  for (let i = 0; i < b.flows.length; i++) {
    const f = b.flows[i]!;
    const ep = eps[f.endpoints];
    if (ep === undefined) fail(`flows[${i}].endpoints: index ${f.endpoints} is beyond the ${eps.length} endpoints of the batch`);
    if (!(f.localPort <= 65535 && f.remotePort <= 65535)) fail(`flows[${i}]: port above 65535`);
    if (!(f.localPort === 0 || f.remotePort === 0)) fail(`flows[${i}]: one of the ports must be 0 (the ephemeral one is aggregated away)`);
    if (!DIRECTIONS.has(f.direction)) fail(`flows[${i}].direction: unknown value ${f.direction}`);
    if (!(uint(f.sessions) && uint(f.failedConnects) && uint(f.txBytes) && uint(f.rxBytes) && uint(f.retransSegs) && uint(f.srttSumUs))) fail(`flows[${i}]: sums must be unsigned integers`);
    if (!(f.intervalMs <= 3_600_000)) fail(`flows[${i}].interval_ms: impossible value ${f.intervalMs}`);
    const db = f.durationBuckets;
    if (db.length % 2 !== 0) fail(`flows[${i}].duration_buckets: must be (bucket, count) pairs`);
    const durations = new Array<[number, number]>(db.length >> 1);
    let bucketed = 0;
    for (let k = 0; k < db.length; k += 2) {
      const bucket = db[k]!, count = db[k + 1]!;
      if (!(bucket <= 260)) fail(`flows[${i}].duration_buckets: bucket ${bucket} out of range`);
      durations[k >> 1] = [bucket, count];
      bucketed += count;
    }
    if (!(bucketed <= f.sessions)) fail(`flows[${i}]: ${bucketed} sessions in duration buckets but ${f.sessions} sessions`);
    const tallies = f.retransmits;
    const retransmits = new Array<RetransTally>(tallies.length);
    for (let k = 0; k < tallies.length; k++) {
      const t = tallies[k]!;
      if (!validState(t.state)) fail(`flows[${i}].retransmits[${k}].state: unknown TCP state ${t.state}`);
      flowRetransmits += t.events;
      retransmits[k] = { state: t.state, events: t.events, segs: t.segs };
    }
    off += f.endDeltaNs;
    const timeUs = baseUs + Math.floor((baseRemNs + off) / 1000);
    if (!(Number.isSafeInteger(off) && timeUs > 0)) fail(`flows[${i}].end_delta_ns: time out of range`);
    flowSessions += f.sessions + f.failedConnects;
    const ev: FlowIntervalEv = {
      type: 'flow', timeUs, startUs: timeUs - f.intervalMs * 1000, node,
      family: ep.family, laddr: ep.laddr, raddr: ep.raddr, netnsInode: ep.netnsInode, cgroupId: ep.cgroupId, localPod: ep.localPod,
      lport: f.localPort, rport: f.remotePort, direction: f.direction,
      sessions: f.sessions, failedConnects: f.failedConnects, txBytes: f.txBytes, rxBytes: f.rxBytes,
      retransSegs: f.retransSegs, srttSumUs: f.srttSumUs, durations, retransmits,
    };
    events[n++] = ev;
  }
  for (const [i, l] of b.losses.entries()) check(Number.isSafeInteger(l.count) && l.count >= 0, `losses[${i}].count: must be an unsigned integer`);
  return { events, sessions: b.sessions.length + flowSessions, retransmits: b.retransmits.length + flowRetransmits, flows: b.flows.length };
}
