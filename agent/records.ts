// The records the agent makes of bpftrace's output lines (agent/bpftrace/parse.ts makes
// them; attribution and batching consume them). Times are µs since the Unix epoch.
import type { CaState, Direction, Family, TcpState } from '../common/tcp';

/** One TCP session from birth to CLOSE (tcplife), or a failed connect. */
export interface SessionRecord {
  kind: 'session';
  timeUs: number;          // close time
  family: Family;
  laddr: string;
  lport: number;
  raddr: string;
  rport: number;
  txBytes: number;         // payload bytes sent, retransmissions excluded
  rxBytes: number;         // payload bytes received
  durationUs: number;      // birth to close; 0 when born before tracing began
  retransSegs: number;     // tcp_sock->total_retrans at close
  pid: number;             // cached at SYN_SENT / LAST_ACK; 0 = unknown
  comm: string;            // '' = unknown
  netnsInode: number;
  cgroupId: number;
  direction: Direction;
  failedConnect: boolean;  // SYN_SENT -> CLOSE
  srttUs: number;
  bornBeforeTrace: boolean;
}

/** One retransmitted segment that the kernel really sent (tcp_retransmit_skb, err == 0). */
export interface RetransmitRecord {
  kind: 'retransmit';
  timeUs: number;
  family: Family;
  laddr: string;
  lport: number;
  raddr: string;
  rport: number;
  state: TcpState;
  caState: CaState;        // icsk_ca_state + 1; 0 = not read
  netnsInode: number;
  cgroupId: number;
  direction: Direction;
  pid: number;             // current task; not meaningful in softirq (0 when unknown)
  segs: number;            // segments retransmitted (GSO: one event, several segments)
}

/** Retransmits of one flow and TCP state counted in the kernel (above the per-interval event limit). */
export interface RetransmitTally {
  state: TcpState;
  events: number;
  segs: number;
}

/**
 * Sums of one flow's sessions that closed in one interval, made in the kernel (the agent's
 * always-on path). A flow is the socket's cgroup and netns, both addresses, the service
 * port and the direction: the ephemeral port is 0 (lport for outbound, rport for inbound).
 */
export interface FlowSumRecord {
  kind: 'flow-sum';
  timeUs: number;          // the interval's end
  startUs: number;         // the interval's start
  family: Family;
  laddr: string;
  lport: number;
  raddr: string;
  rport: number;
  netnsInode: number;
  cgroupId: number;
  direction: Direction;
  sessions: number;        // closed sessions (failed connects not included)
  failedConnects: number;
  txBytes: number;
  rxBytes: number;
  retransSegs: number;     // total_retrans summed at close
  srttSumUs: number;       // smoothed RTT summed over the sessions
  /** Duration buckets (program.ts: 4 * floor(log2 µs) + two more bits + 1) -> sessions. */
  durations: Map<number, number>;
  retransmits: RetransmitTally[];
}

/** One printed flow interval is complete: how many closes the kernel counted in all. */
export interface FlowIntervalEndRecord {
  kind: 'flow-interval-end';
  startUs: number;
  endUs: number;
  flows: number;
  closes: number;          // sessions + failed connects the kernel counted, every flow
  unaccounted: number;     // closes not in any flow's sums: a flow map was full
}

/** Count mode (`trace retrans -c`): retransmits of one flow counted in the kernel. */
export interface RetransmitCountRecord {
  kind: 'retransmit-count';
  family: Family;
  laddr: string;
  lport: number;
  raddr: string;
  rport: number;
  count: number;
}

/** bpftrace's own "Lost N events" (perf buffer overrun). */
export interface LostRecord {
  kind: 'lost';
  count: number;
}

/** tcp_retransmit_skb fired with err != 0 this many times since the last report. */
export interface RetransmitFailedRecord {
  kind: 'retransmit-failed';
  count: number;
}

export type TraceRecord =
  | SessionRecord
  | FlowSumRecord
  | FlowIntervalEndRecord
  | RetransmitRecord
  | RetransmitCountRecord
  | LostRecord
  | RetransmitFailedRecord;
