// The HTTP API's JSON as the page reads it (protobuf JSON: zero values are left out, so
// every number is optional; enums are names such as TCP_STATE_ESTABLISHED).

export interface Endpoint {
  addr?: string; port?: number; node?: string; namespace?: string; pod?: string; container?: string; workload?: string; kind?: string;
}

export interface HotspotRow {
  key: string; retransSegs?: number; retransmitEvents?: number; retransEventSegs?: number; sessions?: number; failedConnects?: number;
  txBytes?: number; retransPerSession?: number; retransPerMb?: number; states?: Array<{ state?: string; events?: number }>;
  finding?: string; evidence?: string;
}

export interface HotspotsResponse {
  by?: string; window?: { sinceUnixMs?: number; untilUnixMs?: number }; rows?: HotspotRow[]; note?: string;
}

export interface Flow {
  local?: Endpoint; remote?: Endpoint; servicePort?: number; direction?: string; sessions?: number; failedConnects?: number;
  txBytes?: number; rxBytes?: number; duration?: { p50Ms?: number; p90Ms?: number; p99Ms?: number; maxMs?: number };
  retransSegs?: number; retransmitEvents?: number; retransEventSegs?: number; retransByState?: Array<{ state?: string; events?: number }>;
  firstSeenUnixMs?: number; lastSeenUnixMs?: number; srttMsAvg?: number;
}

export interface FlowsResponse {
  flows?: Flow[]; total?: number; note?: string;
}

export interface EventRecord {
  type?: string; timeUnixNs?: string; node?: string; local?: Endpoint; remote?: Endpoint; direction?: string; txBytes?: number;
  rxBytes?: number; durationMs?: number; retransSegs?: number; pid?: number; comm?: string; failedConnect?: boolean; srttUs?: number;
  state?: string; caState?: string;
  // EVENT_TYPE_FLOW: a flow's sessions summed over an interval in the agent's kernel
  sessions?: string | number; failedConnects?: string | number; intervalMs?: number; retransmits?: number;
}

/** Retransmitted segments the way the reports rank them: closed sessions' total_retrans or the events' segments, the larger. */
export function segs(r: { retransSegs?: number; retransEventSegs?: number }): number {
  return Math.max(r.retransSegs ?? 0, r.retransEventSegs ?? 0);
}

export function endpointName(e: Endpoint | undefined): string {
  if (!e) return '?';
  if (e.kind === 'pod') return `${e.namespace}/${e.pod}`;
  if (e.kind === 'service') return `svc:${e.namespace}/${(e.workload ?? '').replace(/^Service\//, '')}`;
  if (e.kind === 'node') return `node:${e.node}`;
  if (e.kind === 'host') return `${e.node}:${e.addr}`;
  return e.addr ?? '?';
}
