// The collector's event model: what a batch becomes after it is checked at the edge
// (ingest/validate.ts) and what the aggregation, the ring of recent events and the
// queries work on. Times are µs since the Unix epoch.
import type { PodRef } from '../gen/tcpscope/v1/events';
import type { Endpoint } from '../gen/tcpscope/v1/query';
import type { CaState, Direction, Family, TcpState } from '../common/tcp';

interface EventBase {
  timeUs: number;
  node: string;
  family: Family;
  laddr: string;
  lport: number;
  raddr: string;
  rport: number;
  direction: Direction;
  netnsInode: number;
  cgroupId: number;
  localPod: PodRef | undefined;
}

export interface SessionEv extends EventBase {
  type: 'life';
  txBytes: number;
  rxBytes: number;
  durationUs: number;
  retransSegs: number;
  pid: number;
  comm: string;
  failedConnect: boolean;
  srttUs: number;
  bornBeforeTrace: boolean;
  /** A followed pod's session that a flow record counts already: an event to show, never aggregated. */
  detailOnly?: boolean;
}

export interface RetransEv extends EventBase {
  type: 'retrans';
  state: TcpState;
  caState: CaState;
  segs: number;
}

/** Retransmits of a flow in one state, counted in the agent's kernel. */
export interface RetransTally {
  state: TcpState;
  events: number;
  segs: number;
}

/**
 * The sessions of one flow that closed in [startUs, timeUs), summed in the agent's kernel.
 * The ephemeral port is 0: lport is the service port for inbound flows, rport for outbound.
 */
export interface FlowIntervalEv extends EventBase {
  type: 'flow';
  startUs: number;
  sessions: number;
  failedConnects: number;
  txBytes: number;
  rxBytes: number;
  retransSegs: number;
  srttSumUs: number;
  /** Duration buckets (common/duration-bucket.ts) -> sessions. */
  durations: Array<[number, number]>;
  retransmits: RetransTally[];
}

export type FlowEvent = SessionEv | RetransEv | FlowIntervalEv;

/** An event with both ends named (by the resolver, at the event's time). */
export interface ResolvedEvent {
  ev: FlowEvent;
  local: Endpoint;
  remote: Endpoint;
}
