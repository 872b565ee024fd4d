// Generates the bpftrace programs (lifespans, retransmits, count mode, the agent's combined
// one) from the running kernel's tracepoint format files, so one agent runs on kernels with
// and without tcp_retransmit_skb's `err` field. The output line formats live here and in
// parse.ts; agent/bpf/*.bt are rendered copies (agent/bpf/generate.ts) for reading.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

/** One field of a tracepoint format file ("field:int err; offset:76; size:4; signed:1;"). */
export interface TracepointField {
  type: string;      // "int", "const void *", "__u8"
  name: string;      // "err", "saddr"
  arrayLen: number;  // 4 for "saddr[4]", 0 when not an array
  offset: number;
  size: number;
  signed: boolean;
}

export interface TracepointFormat {
  name: string;
  fields: Map<string, TracepointField>;
}

/** Parses the text of /sys/kernel/tracing/events/<category>/<name>/format. Throws on junk. */
export function parseFormatFile(text: string): TracepointFormat {
  const nameLine = /^name:\s*(\S+)/m.exec(text);
  if (!nameLine) throw new Error('tracepoint format file has no "name:" line');
  const fields = new Map<string, TracepointField>();
  const re = /^\s*field:(.+?);\s*offset:(\d+);\s*size:(\d+);\s*signed:(\d+);/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const decl = m[1]!.trim();
    const d = /^(.*?)\s*([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$/.exec(decl);
    if (!d) throw new Error(`tracepoint format: cannot read field declaration "${decl}"`);
    fields.set(d[2]!, { type: d[1]!.trim(), name: d[2]!, arrayLen: d[3] ? Number(d[3]) : 0, offset: +m[2]!, size: +m[3]!, signed: m[4] === '1' });
  }
  if (fields.size === 0) throw new Error(`tracepoint format for ${nameLine[1]} lists no fields`);
  return { name: nameLine[1]!, fields };
}

export const TRACEFS_ROOTS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

/** Reads and parses one tracepoint's format file from tracefs. */
export function readTracepointFormat(category: string, name: string, tracefsRoot = TRACEFS_ROOTS[0]!): TracepointFormat {
  const file = path.join(tracefsRoot, 'events', category, name, 'format');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`tracepoint ${category}:${name} is not available (${file}: ${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  return parseFormatFile(text);
}

/** The two tracepoints the programs are generated from. */
export interface KernelFormats {
  setState: TracepointFormat;    // sock:inet_sock_set_state
  retransmit: TracepointFormat;  // tcp:tcp_retransmit_skb
}

export function readKernelFormats(tracefsRoot?: string): KernelFormats {
  return {
    setState: readTracepointFormat('sock', 'inet_sock_set_state', tracefsRoot),
    retransmit: readTracepointFormat('tcp', 'tcp_retransmit_skb', tracefsRoot),
  };
}

/**
 * agent: the always-on path: lifespans summed per flow in the kernel and printed each
 * interval, retransmits per event (counted in the kernel above a rate).
 * agent-events: lifespans per session (as tcplife) and retransmits per event: for following
 * a pod, and for measuring what in-kernel sums save.
 */
export type ProgramKind = 'agent' | 'agent-events' | 'life' | 'retrans' | 'retrans-count';

export interface ProgramOptions {
  kind: ProgramKind;
  /** Seconds between prints of the in-kernel counters (failed retransmits; count mode); 0 = only at exit. */
  intervalSec?: number;
  family?: 4 | 6;
  localPorts?: number[];
  remotePorts?: number[];
  /** life: only sessions whose cached process (SYN_SENT / LAST_ACK) has this pid. */
  pid?: number;
  /** life: also report sessions born before tracing began (duration unknown). Default: agent yes, life no (as tcplife). */
  includeUnborn?: boolean;
  /** agent: milliseconds per flow interval, a multiple of 100 (sums are printed 200 ms after it ends). Default 1000. */
  flowIntervalMs?: number;
  /** agent: retransmit events printed per interval; above it they are counted per flow in the kernel. 0 = no limit. Default 1000. */
  retransmitLimit?: number;
  /** agent-events / life: only sockets of these cgroup ids (a followed pod's containers)... */
  cgroupIds?: number[];
  /** ...or of these network namespaces (a followed pod without cgroup v2 directories). */
  netnsInodes?: number[];
}

export const DEFAULT_FLOW_INTERVAL_MS = 1000;
export const DEFAULT_RETRANSMIT_LIMIT = 1000;

export interface GeneratedProgram {
  kind: ProgramKind;
  text: string;
  /** Tracepoints the program attaches to ("sock:inet_sock_set_state"). */
  tracepoints: string[];
  /** tcp_retransmit_skb has `err`: failed attempts are counted apart (@rfail). */
  retransmitErr: boolean;
}

// Field names the programs need; a kernel without one of them cannot run them.
const SET_STATE_FIELDS = ['skaddr', 'oldstate', 'newstate', 'sport', 'dport', 'family', 'protocol', 'saddr', 'daddr', 'saddr_v6', 'daddr_v6'];
const RETRANSMIT_FIELDS = ['skaddr', 'state', 'sport', 'dport', 'family', 'saddr', 'daddr', 'saddr_v6', 'daddr_v6'];

function requireFields(f: TracepointFormat, names: string[]): void {
  const missing = names.filter((n) => !f.fields.has(n));
  if (missing.length) throw new Error(`tracepoint ${f.name} lacks field(s) ${missing.join(', ')}: this kernel's format is not supported`);
}

function checkPorts(ports: number[] | undefined, what: string): number[] {
  for (const p of ports ?? []) if (!Number.isInteger(p) || p < 0 || p > 65535) throw new Error(`${what}: not a port: ${p}`);
  return ports ?? [];
}

/** `(args->sport == 80 || args->sport == 443)`, or '' for no ports. */
function portTest(field: string, ports: number[]): string {
  if (!ports.length) return '';
  return `(${ports.map((p) => `args->${field} == ${p}`).join(' || ')})`;
}

function familyTest(family: 4 | 6 | undefined): string {
  return family === 4 ? 'args->family == 2' : family === 6 ? 'args->family == 10' : '';
}

const and = (...parts: string[]) => parts.filter(Boolean).join(' && ');

/** The socket's cgroup id or netns inode is one of those given (a followed pod), or '' for no filter. */
function socketTest(o: ProgramOptions): string {
  const cg = '((struct sock *)args->skaddr)->sk_cgrp_data.cgroup->kn->id';
  const ns = '((struct sock *)args->skaddr)->__sk_common.skc_net.net->ns.inum';
  const tests = [...(o.cgroupIds ?? []).map((id) => `${cg} == ${id}`), ...(o.netnsInodes ?? []).map((id) => `${ns} == ${id}`)];
  return tests.length ? `(${tests.join(' || ')})` : '';
}

// ---- the header shared by every program: what is traced and what each line means --------

const HEADER_COMMON = `// Output: one record per line, a tag first, fields separated by single spaces, comm
// (which may contain spaces) always last. Times are bpftrace nsecs (CLOCK_MONOTONIC, ns);
// the parser turns them into µs since the epoch with an offset measured at start.
//   B <nsecs>                      BEGIN ran: every probe is attached
//   Lost <n> events                bpftrace's own line: perf buffer overrun, n records gone
//
// Maps are sized by BPFTRACE_MAP_KEYS_MAX (the runner sets 65536; bpftrace's default is
// 4096). The lifespan maps hold one entry per TCP socket from birth to CLOSE, so their size
// bounds the sockets tracked at once, not the connection rate: a busy node keeps tens of
// thousands of sockets open (ss -s), and a full map silently drops new births (those
// sessions then come out without a duration). 65536 entries cost about 5 MB of kernel memory
// per map. END clears every map so bpftrace's exit dump does not flood the output.`;

const LIFE_DOC = `//   S <nsecs> <4|6> <laddr> <lport> <raddr> <rport> <tx> <rx> <dur_us> <retrans> <pid>
//     <netns> <cgroup> <dir> <failed> <srtt_us> <born> <comm>
//     one TCP session at CLOSE (tcplife): tx/rx payload bytes, dur_us birth to close,
//     retrans = tcp_sock->total_retrans, pid/comm cached at SYN_SENT or LAST_ACK (0 and
//     empty when unknown), dir 1 = outbound (connect, SYN_SENT) 2 = inbound (SYN_RECV)
//     0 = unknown, failed 1 = SYN_SENT -> CLOSE (failed connect), born 0 = the session
//     began before tracing did (dur_us is then 0).
//
// Bytes are exact payload bytes. tx = bytes_sent - bytes_retrans: bytes_sent counts the
// payload of every segment sent, retransmissions included (bytes_acked is not used: it
// counts the SYN and FIN, +1 each). rx = bytes_received minus 1 when a FIN was received:
// bytes_received advances with rcv_nxt, which moves past the peer's FIN. tcp_fin() sets
// SOCK_DONE (bit 1 of sk_flags) exactly then and nothing else sets it on the way to CLOSE;
// a reset (received or sent) does not, and a connection reset after the FIN keeps it.
// Checked on 6.18 with client-closes-first, server-closes-first, half close, RST either
// way, and 0-byte sessions (rcv_nxt cannot be used without the initial sequence number,
// sk_shutdown is set by close() itself).`;

const RETRANS_DOC = `//   R <nsecs> <4|6> <laddr> <lport> <raddr> <rport> <state> <ca> <netns> <cgroup> <dir> <pid> <segs>
//     one retransmission (tcpretrans): state = TCP state number, ca =
//     icsk_ca_state + 1 (4 = Recovery: fast retransmit, 5 = Loss: timeout), dir from the
//     lifespan map when the session's birth was seen, pid = current task (0 in softirq),
//     segs = segments in the retransmitted skb (skb_shinfo(skb)->gso_segs, at least 1): with
//     GSO one event carries several segments, and summed they equal TcpRetransSegs
//     (checked on 6.18 over veth: 44/44, 60/60, 10/10, where events alone were 6, 3, 1).`;

const FLOW_DOC = `//   F <start_ns> <end_ns>          a flow interval begins: the sums below are of the sessions
//                                  that closed in [start, end) (bpftrace nsecs)
//   @<map><epoch>[<cgroup>, <netns>, <laddr>, <raddr>, <lport>, <rport>, <dir>]: <n>
//     one flow's sum in that interval. The flow key is the socket's cgroup id and netns
//     inode, both addresses, the service port (lport for inbound, rport for outbound, the
//     lower port when the direction is unknown; the other port is 0) and dir (0/1/2 as in S).
//     Maps: @ls sessions closed, @lf failed connects, @lt tx bytes, @lr rx bytes (payload, as
//     in S), @lx total_retrans summed (failed connects' SYN retransmits included), @lq
//     smoothed RTT (µs) summed over the sessions (failed connects have none),
//     @lh[<key>, <bucket>] sessions by duration: bucket 4*floor(log2(us)) + next two bits + 1
//     (four buckets per power of two, ~19% wide); sessions born before tracing have none.
//     @rn[<key>, <state>] / @rc[<key>, <state>]: retransmit events / segments counted in the
//     kernel once the interval's retransmit limit was reached (state as in R).
//   @lc<epoch>: <n>                  sessions and failed connects closed in the interval, all
//                                  flows: more than the flows' sums = a flow map was full
//   G <nsecs>                      the interval's sums are complete
//
// Double-buffered: the probes add into the maps of epoch @epoch (0 or 1); every interval
// the epoch flips, and 200 ms later the idle epoch is printed and cleared, so no update
// lands between a print and its clear. Nothing per session leaves the kernel.`;

function errDoc(hasErr: boolean): string {
  return hasErr
    ? `// This kernel's tcp_retransmit_skb has \`err\` and fires for failed attempts too (e.g. the
// qdisc refused the segment): those are counted in @rfail, never reported as retransmits.`
    : `// This kernel's tcp_retransmit_skb has no \`err\` field: it fires only for segments sent.`;
}

// ---- probe bodies -----------------------------------------------------------------------

/** printf of one line for both families: IPv4 addresses come from saddr/daddr, IPv6 from *_v6. */
function printfByFamily(indent: string, fmtHead: string, fmtTail: string, argsHead: string[], argsTail: string[]): string {
  const line = (fam: 4 | 6) => {
    const s = fam === 4 ? 'args->saddr' : 'args->saddr_v6';
    const d = fam === 4 ? 'args->daddr' : 'args->daddr_v6';
    const fmt = `${fmtHead} ${fam} %s %d %s %d ${fmtTail}\\n`;
    const args = [...argsHead, `ntop(${s})`, 'args->sport', `ntop(${d})`, 'args->dport', ...argsTail];
    return `printf("${fmt}", ${args.join(', ')});`;
  };
  return `${indent}if (args->family == 2) {  // AF_INET
${indent}  ${line(4)}
${indent}} else {
${indent}  ${line(6)}
${indent}}`;
}

// Both lifespan probes (per session, and summed per flow) keep the same per-socket state:
// the birth time and the direction, and read the same exact payload bytes at CLOSE.
const SOCKET_BOOKKEEPING = `  $k = (uint64)args->skaddr;
  $new = args->newstate;
  // birth: the first state below FIN_WAIT1 (4) (SYN_SENT for connect, SYN_RECV for accept)
  if ($new < 4 && @birth[$k] == 0) {
    @birth[$k] = nsecs;
  }
  if ($new == 2) {
    @dir[$k] = 1;
  }
  if ($new == 3) {
    @dir[$k] = 2;
  }`;

const PAYLOAD_BYTES = `      $sk = (struct sock *)args->skaddr;
      $tp = (struct tcp_sock *)args->skaddr;
      $tx = $tp->bytes_sent - $tp->bytes_retrans;
      $rx = $tp->bytes_received;
      // the peer's FIN advanced rcv_nxt and bytes_received by one (SOCK_DONE = bit 1)
      if ((($sk->__sk_common.skc_flags >> 1) & 1) && $rx > 0) {
        $rx = $rx - 1;
      }`;

function lifeProbe(o: ProgramOptions): string {
  const includeUnborn = o.includeUnborn ?? o.kind === 'agent';
  const closeFilter = and(portTest('sport', checkPorts(o.localPorts, 'local ports')), portTest('dport', checkPorts(o.remotePorts, 'remote ports')),
    o.pid !== undefined ? `@skpid[$k] == ${o.pid}` : '');
  // Born before tracing: report only sockets that were connected (not listeners, not
  // never-connected sockets), so the agent still learns their bytes.
  const reportTest = includeUnborn ? '$b != 0 || (args->oldstate != 10 && args->oldstate != 7)' : '$b != 0';
  // a followed pod: its sockets only, tested first so other sockets cost one comparison
  return `tracepoint:sock:inet_sock_set_state
/${and('args->protocol == 6', familyTest(o.family), socketTest(o))}/
{
${SOCKET_BOOKKEEPING}
  // the process: meaningful at connect() (SYN_SENT) and close() (LAST_ACK) only
  if ($new == 2 || $new == 9) {
    @skpid[$k] = pid;
    @skcomm[$k] = comm;
  }
  if ($new == 7) {
    $b = @birth[$k];
    if (${reportTest}) {${closeFilter ? `\n    if (${closeFilter}) {` : ''}
${PAYLOAD_BYTES}
      $dur = $b != 0 ? (nsecs - $b) / 1000 : 0;
${printfByFamily('      ', 'S %llu', '%llu %llu %llu %u %u %u %llu %d %d %u %d %s',
    ['nsecs'],
    ['$tx', '$rx', '$dur', '$tp->total_retrans', '@skpid[$k]', '$sk->__sk_common.skc_net.net->ns.inum', '$sk->sk_cgrp_data.cgroup->kn->id',
      '@dir[$k]', 'args->oldstate == 2 ? 1 : 0', '$tp->srtt_us >> 3', '$b != 0 ? 1 : 0', '@skcomm[$k]'])}${closeFilter ? '\n    }' : ''}
    }
    delete(@birth[$k]);
    delete(@dir[$k]);
    delete(@skpid[$k]);
    delete(@skcomm[$k]);
  }
}`;
}

// Maps of the in-kernel flow sums, each in two epochs (suffix 0 and 1).
const FLOW_MAPS = ['@ls', '@lf', '@lt', '@lr', '@lx', '@lq', '@lh', '@lc', '@rn', '@rc'];

/** The flow key: cgroup, netns, addresses, service port (the other 0), direction. */
const FLOW_KEY = '$cg, $ns, $la, $ra, $lp, $rp, $d';

/** Computes the flow key's variables ($cg $ns $la $ra $d $lp $rp) from $sk and $k = the socket. */
function flowKeyCode(indent: string): string {
  return `$cg = $sk->sk_cgrp_data.cgroup->kn->id;
$ns = $sk->__sk_common.skc_net.net->ns.inum;
if (args->family == 2) {  // AF_INET
  $la = ntop(args->saddr);
  $ra = ntop(args->daddr);
} else {
  $la = ntop(args->saddr_v6);
  $ra = ntop(args->daddr_v6);
}
// the service port stays, the ephemeral one becomes 0
$d = (uint8)@dir[$k];
$lp = (uint16)args->sport;
$rp = (uint16)args->dport;
if ($d == 1 || ($d == 0 && $lp > $rp)) {
  $lp = (uint16)0;
} else {
  $rp = (uint16)0;
}`.split('\n').map((l) => indent + l).join('\n');
}

/** The agent's lifespan probe: per-socket birth and direction, sums per flow at CLOSE. */
function flowLifeProbe(o: ProgramOptions): string {
  const sums = (e: 0 | 1) => `      if (args->oldstate == 2) {
        @lf${e}[${FLOW_KEY}] = count();
      } else {
        @ls${e}[${FLOW_KEY}] = count();
        if ($tp->srtt_us > 0) { @lq${e}[${FLOW_KEY}] = sum($tp->srtt_us >> 3); }
        if ($b != 0) { @lh${e}[${FLOW_KEY}, $hb] = count(); }
      }
      // a failed connect's SYN retransmits count too
      if ($tp->total_retrans > 0) { @lx${e}[${FLOW_KEY}] = sum($tp->total_retrans); }
      if ($tx > 0) { @lt${e}[${FLOW_KEY}] = sum($tx); }
      if ($rx > 0) { @lr${e}[${FLOW_KEY}] = sum($rx); }
      @lc${e} = count();`;
  return `tracepoint:sock:inet_sock_set_state
/${and('args->protocol == 6', familyTest(o.family))}/
{
${SOCKET_BOOKKEEPING}
  if ($new == 7) {
    $b = @birth[$k];
    // born before tracing: only sockets that were connected (not listeners, not never-connected)
    if ($b != 0 || (args->oldstate != 10 && args->oldstate != 7)) {
${PAYLOAD_BYTES}
${flowKeyCode('      ')}
      // duration bucket: 4 * floor(log2(us)) + the next two bits + 1
      $hb = (uint64)0;
      if ($b != 0) {
        $us = (nsecs - $b) / 1000;
        $v = $us;
        $h = (uint64)0;
        if ($v >= 4294967296) { $h += 32; $v = $v >> 32; }
        if ($v >= 65536) { $h += 16; $v = $v >> 16; }
        if ($v >= 256) { $h += 8; $v = $v >> 8; }
        if ($v >= 16) { $h += 4; $v = $v >> 4; }
        if ($v >= 4) { $h += 2; $v = $v >> 2; }
        if ($v >= 2) { $h += 1; }
        if ($us > 0) {
          $hb = $h * 4 + ($h >= 2 ? ($us >> ($h - 2)) & 3 : ($h == 1 ? ($us & 1) << 1 : (uint64)0)) + 1;
        }
      }
      if (@epoch == 0) {
${sums(0)}
      } else {
${sums(1)}
      }
    }
    delete(@birth[$k]);
    delete(@dir[$k]);
  }
}`;
}

/** Prints and clears one epoch's flow maps. */
function dumpEpoch(e: 0 | 1, indent: string): string {
  return [...FLOW_MAPS.map((m) => `print(${m}${e});`), ...FLOW_MAPS.map((m) => `clear(${m}${e});`)].map((l) => indent + l).join('\n');
}

/** Ticks of the flow clock: the epoch flips every interval, the idle one is printed PRINT_DELAY ticks later. */
export const FLOW_TICK_MS = 100;
const PRINT_DELAY_TICKS = 2;

/** Flips the epoch every interval and prints the idle one 200 ms later (once no probe can still be adding to it). */
function flowIntervalProbe(o: ProgramOptions, hasErr: boolean): string {
  const ticks = (o.flowIntervalMs ?? DEFAULT_FLOW_INTERVAL_MS) / FLOW_TICK_MS;
  const delay = Math.min(PRINT_DELAY_TICKS, ticks - 1);
  return `interval:ms:${FLOW_TICK_MS}
{
  @tick = @tick + 1;
  if (@tick % ${ticks} == 0) {
    // flip: the probes now add into the other epoch; this one rests until it is printed
    @epoch = 1 - @epoch;
    @ft[@epoch] = nsecs;
    @rlim = 0;
  }
  if (@tick % ${ticks} == ${delay} && @tick > ${ticks}) {
    // ${delay * FLOW_TICK_MS} ms after the flip: a probe that read the old epoch has long finished
    $old = 1 - @epoch;
    printf("F %llu %llu\\n", @ft[$old], @ft[@epoch]);
    if ($old == 0) {
${dumpEpoch(0, '      ')}
    } else {
${dumpEpoch(1, '      ')}
    }${hasErr ? '\n    print(@rfail);' : ''}
    printf("G %llu\\n", nsecs);
  }
}`;
}

/** At exit: the idle epoch if it was not printed yet, then the one being written, up to now. */
function flowEndPrints(): string {
  return `  $old = 1 - @epoch;
  printf("F %llu %llu\\n", @ft[$old], @ft[@epoch]);
  if ($old == 0) {
${dumpEpoch(0, '    ')}
  } else {
${dumpEpoch(1, '    ')}
  }
  printf("G %llu\\n", nsecs);
  printf("F %llu %llu\\n", @ft[@epoch], nsecs);
  if (@epoch == 0) {
${dumpEpoch(0, '    ')}
  } else {
${dumpEpoch(1, '    ')}
  }
  printf("G %llu\\n", nsecs);
`;
}

function retransProbe(o: ProgramOptions, hasErr: boolean): string {
  const filter = and(familyTest(o.family), portTest('sport', checkPorts(o.localPorts, 'local ports')), portTest('dport', checkPorts(o.remotePorts, 'remote ports')), socketTest(o));
  const withLife = o.kind === 'agent' || o.kind === 'agent-events';
  let body = o.kind === 'retrans-count'
    ? `  if (args->family == 2) {  // AF_INET
    @rcount[ntop(args->saddr), args->sport, ntop(args->daddr), args->dport] = count();
  } else {
    @rcount[ntop(args->saddr_v6), args->sport, ntop(args->daddr_v6), args->dport] = count();
  }`
    : `  $sk = (struct sock *)args->skaddr;
  $ca = ((struct inet_connection_sock *)args->skaddr)->icsk_ca_state;
  $skb = (struct sk_buff *)args->skbaddr;
  $segs = ((struct skb_shared_info *)($skb->head + $skb->end))->gso_segs;
  if ($segs == 0) { $segs = 1; }
${printfByFamily('  ', 'R %llu', '%d %d %u %llu %d %u %d',
      ['nsecs'],
      ['args->state', '$ca + 1', '$sk->__sk_common.skc_net.net->ns.inum', '$sk->sk_cgrp_data.cgroup->kn->id', withLife ? '@dir[(uint64)args->skaddr]' : '0', 'pid', '$segs'])}`;
  const limit = o.retransmitLimit ?? DEFAULT_RETRANSMIT_LIMIT;
  if (o.kind === 'agent' && limit > 0) {
    // per event up to the limit per interval, then counted per flow and state in the kernel
    const count = (e: 0 | 1) => `      @rn${e}[${FLOW_KEY}, args->state] = count();
      @rc${e}[${FLOW_KEY}, args->state] = sum($segs);`;
    body = `  $sk = (struct sock *)args->skaddr;
  $skb = (struct sk_buff *)args->skbaddr;
  $segs = ((struct skb_shared_info *)($skb->head + $skb->end))->gso_segs;
  if ($segs == 0) { $segs = 1; }
  if (@rlim < ${limit}) {
    @rlim = @rlim + 1;
    $ca = ((struct inet_connection_sock *)args->skaddr)->icsk_ca_state;
${printfByFamily('    ', 'R %llu', '%d %d %u %llu %d %u %d',
      ['nsecs'],
      ['args->state', '$ca + 1', '$sk->__sk_common.skc_net.net->ns.inum', '$sk->sk_cgrp_data.cgroup->kn->id', '@dir[(uint64)args->skaddr]', 'pid', '$segs'])}
  } else {
    $k = (uint64)args->skaddr;
${flowKeyCode('    ')}
    if (@epoch == 0) {
${count(0)}
    } else {
${count(1)}
    }
  }`;
  }
  if (!hasErr) return `tracepoint:tcp:tcp_retransmit_skb\n${filter ? `/${filter}/\n` : ''}{\n${body}\n}`;
  const indented = body.split('\n').map((l) => `  ${l}`).join('\n');
  return `tracepoint:tcp:tcp_retransmit_skb
${filter ? `/${filter}/\n` : ''}{
  if (args->err != 0) {
    // a failed attempt: nothing was sent
    @rfail[0] = count();
  } else {
${indented}
  }
}`;
}

const TITLES: Record<ProgramKind, string> = {
  agent: 'tcpscope agent: TCP session lifespans summed per flow in the kernel, and retransmits, one bpftrace process.',
  'agent-events': 'tcpscope agent, per session: TCP session lifespans and retransmits, one bpftrace process.',
  life: 'tcplife for tcpscope: TCP session lifespans with bytes and duration.',
  retrans: 'tcpretrans for tcpscope: TCP retransmits with the TCP state.',
  'retrans-count': 'tcpretrans -c for tcpscope: TCP retransmits counted per flow in the kernel.',
};

/** Renders one program. Throws when the kernel's formats lack a field the program needs. */
export function generateProgram(o: ProgramOptions, formats: KernelFormats): GeneratedProgram {
  const flows = o.kind === 'agent';
  const life = flows || o.kind === 'agent-events' || o.kind === 'life';
  const retrans = o.kind !== 'life';
  if (life) requireFields(formats.setState, SET_STATE_FIELDS);
  if (retrans) requireFields(formats.retransmit, RETRANSMIT_FIELDS);
  const hasErr = formats.retransmit.fields.has('err');
  if (o.pid !== undefined && (!Number.isInteger(o.pid) || o.pid < 0)) throw new Error(`not a pid: ${o.pid}`);
  const flowMs = o.flowIntervalMs ?? DEFAULT_FLOW_INTERVAL_MS;
  if (!Number.isInteger(flowMs) || flowMs < 200 || flowMs > 60_000 || flowMs % FLOW_TICK_MS) throw new Error(`flow interval must be a multiple of ${FLOW_TICK_MS} ms in 200..60000, got ${flowMs}`);
  const limit = o.retransmitLimit ?? DEFAULT_RETRANSMIT_LIMIT;
  if (!Number.isInteger(limit) || limit < 0) throw new Error(`retransmit limit must be a whole number >= 0, got ${limit}`);
  for (const id of o.cgroupIds ?? []) if (!Number.isSafeInteger(id) || id < 1) throw new Error(`not a cgroup id: ${id}`);
  for (const id of o.netnsInodes ?? []) if (!Number.isSafeInteger(id) || id < 1) throw new Error(`not a network namespace inode: ${id}`);
  if (flows && (o.cgroupIds?.length || o.netnsInodes?.length)) throw new Error('the agent\'s flow program traces every socket; a cgroup filter is for per-session programs');
  const interval = o.intervalSec ?? 0;
  if (!Number.isInteger(interval) || interval < 0) throw new Error(`interval must be whole seconds >= 0, got ${interval}`);

  const tracepoints = [...(life ? ['sock:inet_sock_set_state'] : []), ...(retrans ? ['tcp:tcp_retransmit_skb'] : [])];
  const filters = [o.family ? `IPv${o.family} only` : '', o.localPorts?.length ? `local ports ${o.localPorts.join(',')}` : '',
    o.remotePorts?.length ? `remote ports ${o.remotePorts.join(',')}` : '', o.pid !== undefined ? `pid ${o.pid}` : '',
    o.cgroupIds?.length ? `cgroup ids ${o.cgroupIds.join(',')}` : '', o.netnsInodes?.length ? `netns ${o.netnsInodes.join(',')}` : ''].filter(Boolean);
  const counted = [...(retrans && hasErr && o.kind !== 'retrans-count' ? ['@rfail'] : []), ...(o.kind === 'retrans-count' ? ['@rcount'] : [])];
  const maps = [...(flows ? ['@birth', '@dir', ...FLOW_MAPS.flatMap((m) => [`${m}0`, `${m}1`]), '@epoch', '@tick', '@ft', '@rlim'] : life ? ['@birth', '@dir', '@skpid', '@skcomm'] : []), ...(o.kind === 'retrans-count' ? ['@rcount'] : []), ...(retrans && hasErr ? ['@rfail'] : [])];

  const parts: string[] = [];
  parts.push(`#!/usr/bin/env bpftrace
// ${TITLES[o.kind]}
// Generated by agent/bpftrace/program.ts from this kernel's tracepoint format files
// (tracepoints only: ${tracepoints.join(', ')}).${filters.length ? `\n// Filters: ${filters.join('; ')}.` : ''}
//
${HEADER_COMMON}
//
// Records:
${[
    flows ? FLOW_DOC : life ? LIFE_DOC : '',
    retrans && o.kind !== 'retrans-count' ? RETRANS_DOC : '',
    counted.includes('@rfail') ? '//   @rfail[0]: <n>                 failed retransmit attempts (err != 0), cumulative' : '',
    o.kind === 'retrans-count' ? `//   @rcount[<laddr>, <lport>, <raddr>, <rport>]: <n>   retransmits per flow, cumulative
//   C <nsecs>                      the @rcount table above is complete` : '',
  ].filter(Boolean).join('\n')}
//
${retrans ? errDoc(hasErr) : '// (no retransmit probe)'}

// Numbers as the kernel defines them: AF_INET 2, AF_INET6 10, IPPROTO_TCP 6; TCP states
// (include/net/tcp_states.h) SYN_SENT 2, SYN_RECV 3, FIN_WAIT1 4, CLOSE 7, LAST_ACK 9, LISTEN 10.

BEGIN
{
  printf("B %llu\\n", nsecs);${flows ? '\n  @ft[0] = nsecs;' : ''}
}`);
  if (flows) parts.push(flowLifeProbe(o));
  else if (life) parts.push(lifeProbe(o));
  if (retrans) parts.push(retransProbe(o, hasErr));
  if (flows) parts.push(flowIntervalProbe(o, hasErr));
  else if (interval > 0 && counted.length) {
    parts.push(`interval:s:${interval}
{
${counted.map((m) => `  print(${m});`).join('\n')}${o.kind === 'retrans-count' ? '\n  printf("C %llu\\n", nsecs);' : ''}
}`);
  }
  const endPrints = flows ? flowEndPrints() + (hasErr ? '  print(@rfail);\n' : '') : o.kind === 'retrans-count' ? '  print(@rcount);\n  printf("C %llu\\n", nsecs);\n' : counted.includes('@rfail') ? '  print(@rfail);\n' : '';
  parts.push(`END
{
${endPrints}${maps.map((m) => `  clear(${m});`).join('\n')}
}`);
  return { kind: o.kind, text: parts.join('\n\n') + '\n', tracepoints, retransmitErr: retrans && hasErr };
}
