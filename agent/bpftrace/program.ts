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

export type ProgramKind = 'agent' | 'life' | 'retrans' | 'retrans-count';

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
}

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

function lifeProbe(o: ProgramOptions): string {
  const includeUnborn = o.includeUnborn ?? o.kind === 'agent';
  const closeFilter = and(portTest('sport', checkPorts(o.localPorts, 'local ports')), portTest('dport', checkPorts(o.remotePorts, 'remote ports')),
    o.pid !== undefined ? `@skpid[$k] == ${o.pid}` : '');
  // Born before tracing: report only sockets that were connected (not listeners, not
  // never-connected sockets), so the agent still learns their bytes.
  const reportTest = includeUnborn ? '$b != 0 || (args->oldstate != 10 && args->oldstate != 7)' : '$b != 0';
  return `tracepoint:sock:inet_sock_set_state
/${and('args->protocol == 6', familyTest(o.family))}/
{
  $k = (uint64)args->skaddr;
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
  }
  // the process: meaningful at connect() (SYN_SENT) and close() (LAST_ACK) only
  if ($new == 2 || $new == 9) {
    @skpid[$k] = pid;
    @skcomm[$k] = comm;
  }
  if ($new == 7) {
    $b = @birth[$k];
    if (${reportTest}) {${closeFilter ? `\n    if (${closeFilter}) {` : ''}
      $sk = (struct sock *)args->skaddr;
      $tp = (struct tcp_sock *)args->skaddr;
      $tx = $tp->bytes_sent - $tp->bytes_retrans;
      $rx = $tp->bytes_received;
      // the peer's FIN advanced rcv_nxt and bytes_received by one (SOCK_DONE = bit 1)
      if ((($sk->__sk_common.skc_flags >> 1) & 1) && $rx > 0) {
        $rx = $rx - 1;
      }
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

function retransProbe(o: ProgramOptions, hasErr: boolean): string {
  const filter = and(familyTest(o.family), portTest('sport', checkPorts(o.localPorts, 'local ports')), portTest('dport', checkPorts(o.remotePorts, 'remote ports')));
  const withLife = o.kind === 'agent';
  const body = o.kind === 'retrans-count'
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
  agent: 'tcpscope agent: TCP session lifespans and retransmits, one bpftrace process.',
  life: 'tcplife for tcpscope: TCP session lifespans with bytes and duration.',
  retrans: 'tcpretrans for tcpscope: TCP retransmits with the TCP state.',
  'retrans-count': 'tcpretrans -c for tcpscope: TCP retransmits counted per flow in the kernel.',
};

/** Renders one program. Throws when the kernel's formats lack a field the program needs. */
export function generateProgram(o: ProgramOptions, formats: KernelFormats): GeneratedProgram {
  const life = o.kind === 'agent' || o.kind === 'life';
  const retrans = o.kind !== 'life';
  if (life) requireFields(formats.setState, SET_STATE_FIELDS);
  if (retrans) requireFields(formats.retransmit, RETRANSMIT_FIELDS);
  const hasErr = formats.retransmit.fields.has('err');
  if (o.pid !== undefined && (!Number.isInteger(o.pid) || o.pid < 0)) throw new Error(`not a pid: ${o.pid}`);
  const interval = o.intervalSec ?? 0;
  if (!Number.isInteger(interval) || interval < 0) throw new Error(`interval must be whole seconds >= 0, got ${interval}`);

  const tracepoints = [...(life ? ['sock:inet_sock_set_state'] : []), ...(retrans ? ['tcp:tcp_retransmit_skb'] : [])];
  const filters = [o.family ? `IPv${o.family} only` : '', o.localPorts?.length ? `local ports ${o.localPorts.join(',')}` : '',
    o.remotePorts?.length ? `remote ports ${o.remotePorts.join(',')}` : '', o.pid !== undefined ? `pid ${o.pid}` : ''].filter(Boolean);
  const counted = [...(retrans && hasErr && o.kind !== 'retrans-count' ? ['@rfail'] : []), ...(o.kind === 'retrans-count' ? ['@rcount'] : [])];
  const maps = [...(life ? ['@birth', '@dir', '@skpid', '@skcomm'] : []), ...(o.kind === 'retrans-count' ? ['@rcount'] : []), ...(retrans && hasErr ? ['@rfail'] : [])];

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
    life ? LIFE_DOC : '',
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
  printf("B %llu\\n", nsecs);
}`);
  if (life) parts.push(lifeProbe(o));
  if (retrans) parts.push(retransProbe(o, hasErr));
  if (interval > 0 && counted.length) {
    parts.push(`interval:s:${interval}
{
${counted.map((m) => `  print(${m});`).join('\n')}${o.kind === 'retrans-count' ? '\n  printf("C %llu\\n", nsecs);' : ''}
}`);
  }
  const endPrints = o.kind === 'retrans-count' ? '  print(@rcount);\n  printf("C %llu\\n", nsecs);\n' : counted.includes('@rfail') ? '  print(@rfail);\n' : '';
  parts.push(`END
{
${endPrints}${maps.map((m) => `  clear(${m});`).join('\n')}
}`);
  return { kind: o.kind, text: parts.join('\n\n') + '\n', tracepoints, retransmitErr: retrans && hasErr };
}
