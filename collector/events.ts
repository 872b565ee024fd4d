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
}

export interface RetransEv extends EventBase {
  type: 'retrans';
  state: TcpState;
  caState: CaState;
  segs: number;
}

export type FlowEvent = SessionEv | RetransEv;

/** An event with both ends named (by the resolver, at the event's time). */
export interface ResolvedEvent {
  ev: FlowEvent;
  local: Endpoint;
  remote: Endpoint;
}
