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
  | RetransmitRecord
  | RetransmitCountRecord
  | LostRecord
  | RetransmitFailedRecord;
