// Synthetic bpftrace output for the agent benchmarks, byte for byte in the formats our
// programs print (agent/bpf/tcpscope-agent.bt, tcplife.bt and their *_example.txt), and in
// bpftrace's JSON mode (-f json) for the output-format comparison. The traffic: the pods of
// a FakeNode each calling 5 of 50 services and called by 10 clients, ~10% of the sockets the
// host's own (its own cgroup and netns, the node's IP), seeded so that every run prints the
// same lines.
import { durationBucket } from '../../../common/duration-bucket';

/** What the traffic needs of a node (a FakeNode, or plain numbers where no files are wanted). */
export interface NodeShape {
  ip: string;
  hostNetns: number;
  hostCgroupId: number;
  pods: ReadonlyArray<{ ip: string; netns: number; cgroupId: number }>;
}

/** One closed session as the kernel would report it (the fields of an S line). */
export interface Session {
  ns: number;
  laddr: string;
  lport: number;
  raddr: string;
  rport: number;
  tx: number;
  rx: number;
  durUs: number;
  retrans: number;
  pid: number;
  netns: number;
  cgroup: number;
  dir: 0 | 1 | 2;
  failed: 0 | 1;
  srttUs: number;
  born: 0 | 1;
  comm: string;
}

/** mulberry32: a small seeded PRNG (the data must be the same in every run). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const COMMS = ['app', 'java', 'nginx', 'envoy', 'python3', 'node'];
const SERVICES = Array.from({ length: 50 }, (_, i) => ({ ip: `10.96.${i >> 4}.${(i * 7 + 10) & 255}`, port: [80, 443, 5432, 6379, 8080, 9090][i % 6]! }));

/** Sessions of a node's pods: outbound to services, inbound from other pods, the host's own. */
export class TrafficModel {
  private readonly rnd: () => number;
  private ephemeral = 32768;
  private nsecs = 5_000_000_000_000;

  constructor(private readonly node: NodeShape, seed = 42) {
    this.rnd = prng(seed);
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rnd() * xs.length)]!;
  }

  /** Sessions close ~`perSecond` a second (times only; nothing waits). */
  session(perSecond = 100_000): Session {
    const r = this.rnd;
    this.nsecs += Math.floor((2e9 / perSecond) * r());
    this.ephemeral = this.ephemeral >= 60999 ? 32768 : this.ephemeral + 1;
    const host = r() < 0.1;
    const pi = Math.floor(r() * this.node.pods.length);
    const p = this.node.pods[pi]!;
    const inbound = !host && r() < 0.3;
    const svc = SERVICES[(pi * 7 + Math.floor(r() * 5)) % SERVICES.length]!; // each pod calls 5 services
    const failed: 0 | 1 = !inbound && r() < 0.01 ? 1 : 0;
    const born: 0 | 1 = r() < 0.02 ? 0 : 1;
    const durUs = born ? Math.floor(200 + r() * r() * 2_000_000) : 0;
    const tx = failed ? 0 : Math.floor(r() * 4000), rx = failed ? 0 : Math.floor(r() * 200_000);
    const retrans = r() < 0.05 ? 1 + Math.floor(r() * 8) : 0;
    const srttUs = failed ? 0 : 20 + Math.floor(r() * 400);
    const netns = host ? this.node.hostNetns : p.netns, cgroup = host ? this.node.hostCgroupId : p.cgroupId;
    const laddr = host ? this.node.ip : p.ip;
    if (inbound) {
      // each pod is called by 10 clients (pods of other nodes: 10.245.x.y)
      const peer = (pi * 13 + Math.floor(r() * 10)) % this.node.pods.length;
      const raddr = `10.245.${(peer + 2) >> 8}.${(peer + 2) & 255}`;
      return { ns: this.nsecs, laddr, lport: 8080, raddr, rport: this.ephemeral, tx, rx, durUs, retrans, pid: 0, netns, cgroup, dir: 2, failed, srttUs, born, comm: '' };
    }
    const pid = r() < 0.1 ? 0 : 1000 + pi;
    const raddr = host ? '10.96.0.1' : svc.ip, rport = host ? 443 : svc.port, comm = pid ? this.pick(COMMS) : '';
    return { ns: this.nsecs, laddr, lport: this.ephemeral, raddr, rport, tx, rx, durUs, retrans, pid, netns, cgroup, dir: 1, failed, srttUs, born, comm };
  }

  /** The fields of an R line: most in ESTABLISHED (fast retransmit), some SYN_SENT (timeouts). */
  retransmit(): { ns: number; laddr: string; lport: number; raddr: string; rport: number; state: number; ca: number; netns: number; cgroup: number; dir: number; pid: number; segs: number } {
    const s = this.session();
    const syn = this.rnd() < 0.1;
    return {
      ns: s.ns, laddr: s.laddr, lport: s.lport, raddr: s.raddr, rport: s.rport, state: syn ? 2 : 1, ca: syn ? 5 : 4, netns: s.netns, cgroup: s.cgroup,
      dir: s.dir, pid: 0, segs: this.rnd() < 0.7 ? 1 : 2 + Math.floor(this.rnd() * 6),
    };
  }
}

export function sessionLine(s: Session): string {
  return `S ${s.ns} 4 ${s.laddr} ${s.lport} ${s.raddr} ${s.rport} ${s.tx} ${s.rx} ${s.durUs} ${s.retrans} ${s.pid} ${s.netns} ${s.cgroup} ${s.dir} ${s.failed} ${s.srttUs} ${s.born} ${s.comm}`;
}

export function retransmitLine(r: ReturnType<TrafficModel['retransmit']>): string {
  return `R ${r.ns} 4 ${r.laddr} ${r.lport} ${r.raddr} ${r.rport} ${r.state} ${r.ca} ${r.netns} ${r.cgroup} ${r.dir} ${r.pid} ${r.segs}`;
}

/** The sums of one interval, as the agent's bpftrace program keeps them: map name -> key fields -> value. */
export interface IntervalMaps {
  startNs: number;
  endNs: number;
  closes: number;
  /** In bpftrace's print order: @ls @lf @lt @lr @lx @lq @lh @lc @rn @rc (epoch digit added when printed). */
  maps: Map<string, Map<string, { key: Array<string | number>; value: number }>>;
}

const FLOW_MAP_ORDER = ['@ls', '@lf', '@lt', '@lr', '@lx', '@lq', '@lh', '@rn', '@rc'];

/**
 * Sums sessions per flow exactly as tcpscope-agent.bt does (the ephemeral port becomes 0).
 * `perSession` keeps every session its own flow (the ephemeral port stays): map dumps
 * carrying per-session data, for the format comparison.
 */
export function sumIntervals(sessions: Session[], intervalMs: number, perSession = false): IntervalMaps[] {
  const out: IntervalMaps[] = [];
  let cur: IntervalMaps | undefined;
  const add = (map: string, key: Array<string | number>, v: number) => {
    let m = cur!.maps.get(map);
    if (!m) cur!.maps.set(map, (m = new Map()));
    const k = key.join(',');
    const e = m.get(k);
    if (e) e.value += v;
    else m.set(k, { key, value: v });
  };
  for (const s of sessions) {
    if (!cur || s.ns >= cur.endNs) {
      const start = cur ? cur.endNs : s.ns;
      cur = { startNs: start, endNs: start + intervalMs * 1e6, closes: 0, maps: new Map(FLOW_MAP_ORDER.map((m) => [m, new Map()])) };
      out.push(cur);
    }
    let lp = s.lport, rp = s.rport;
    if (!perSession) {
      if (s.dir === 1 || (s.dir === 0 && lp > rp)) lp = 0;
      else rp = 0;
    }
    const key = [s.cgroup, s.netns, s.laddr, s.raddr, lp, rp, s.dir];
    cur.closes++;
    if (s.failed) add('@lf', key, 1);
    else {
      add('@ls', key, 1);
      if (s.srttUs > 0) add('@lq', key, s.srttUs);
      if (s.born) add('@lh', [...key, durationBucket(s.durUs)], 1);
    }
    if (s.retrans > 0) add('@lx', key, s.retrans);
    if (s.tx > 0) add('@lt', key, s.tx);
    if (s.rx > 0) add('@lr', key, s.rx);
  }
  return out;
}

/** bpftrace's text print of one interval: F, each map sorted by value (an empty map is a blank line), @lc, G. */
export function intervalText(iv: IntervalMaps, epoch: 0 | 1): string[] {
  const lines = [`F ${iv.startNs} ${iv.endNs}`];
  for (const name of FLOW_MAP_ORDER) {
    if (name === '@rn') lines.push(`@lc${epoch}: ${iv.closes}`);
    const m = iv.maps.get(name)!;
    if (m.size === 0) {
      lines.push('');
      continue;
    }
    for (const e of [...m.values()].sort((a, b) => a.value - b.value)) lines.push(`${name}${epoch}[${e.key.join(', ')}]: ${e.value}`);
  }
  lines.push('', `G ${iv.endNs + 500_000_000}`); // print(@rfail), empty
  return lines;
}

/** The same interval in bpftrace's JSON mode (-f json): one line per printf, one line per non-empty map. */
export function intervalJson(iv: IntervalMaps, epoch: 0 | 1): string[] {
  const lines = [jsonPrintf(`F ${iv.startNs} ${iv.endNs}`)];
  for (const name of FLOW_MAP_ORDER) {
    if (name === '@rn') lines.push(`{"type": "map", "data": {"@lc${epoch}": ${iv.closes}}}`);
    const m = iv.maps.get(name)!;
    if (m.size === 0) continue; // JSON mode prints nothing for an empty map
    lines.push(jsonMap(`${name}${epoch}`, [...m.values()].map((e) => [e.key, e.value])));
  }
  lines.push(jsonPrintf(`G ${iv.endNs + 500_000_000}`));
  return lines;
}

/** bpftrace -f json's line for a printf (spacing as bpftrace 0.17 prints it). */
export function jsonPrintf(line: string): string {
  return `{"type": "printf", "data": ${JSON.stringify(`${line}\n`)}}`;
}

/** bpftrace -f json's line for print(@map): keys joined by "," without spaces. */
export function jsonMap(name: string, entries: Array<[Array<string | number>, number]>): string {
  return `{"type": "map", "data": {"${name}": {${entries.map(([k, v]) => `"${k.join(',')}": ${v}`).join(', ')}}}}`;
}

/** Lines to one buffer, '\n'-terminated, as bpftrace writes them to its stdout pipe. */
export function toBytes(lines: string[]): Buffer {
  return Buffer.from(lines.join('\n') + '\n', 'utf8');
}

/** Cuts a buffer into pipe-sized chunks (views, no copies). */
export function chunks(buf: Buffer, size = 65536): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, Math.min(buf.length, i + size)));
  return out;
}
