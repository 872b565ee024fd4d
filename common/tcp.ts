// TCP vocabulary shared by agent, collector and CLI: state names as the kernel and the
// book's tools print them, congestion states, directions, address families.
import { CaState, Direction, TcpState } from '../gen/tcpscope/v1/events';

export { CaState, Direction, TcpState };

export type Family = 4 | 6;

/** Kernel state numbers (include/net/tcp_states.h) to the names tcpretrans prints. */
export const TCP_STATE_NAMES: Record<number, string> = {
  1: 'ESTABLISHED', 2: 'SYN_SENT', 3: 'SYN_RECV', 4: 'FIN_WAIT1', 5: 'FIN_WAIT2',
  6: 'TIME_WAIT', 7: 'CLOSE', 8: 'CLOSE_WAIT', 9: 'LAST_ACK', 10: 'LISTEN',
  11: 'CLOSING', 12: 'NEW_SYN_RECV',
};

export function tcpStateName(state: number): string {
  return TCP_STATE_NAMES[state] ?? `UNKNOWN(${state})`;
}

export function tcpStateFromName(name: string): TcpState | undefined {
  const upper = name.toUpperCase().replace(/^TCP_/, '');
  for (const [num, n] of Object.entries(TCP_STATE_NAMES)) if (n === upper) return Number(num) as TcpState;
  return undefined;
}

/** icsk_ca_state + 1 (the wire's CaState) to a name. */
export const CA_STATE_NAMES: Record<number, string> = {
  0: 'unknown', 1: 'Open', 2: 'Disorder', 3: 'CWR', 4: 'Recovery', 5: 'Loss',
};

export function directionName(d: Direction): string {
  return d === Direction.DIRECTION_OUTBOUND ? 'outbound' : d === Direction.DIRECTION_INBOUND ? 'inbound' : 'unknown';
}
