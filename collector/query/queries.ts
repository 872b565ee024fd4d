// The collector's queries, one function each, shared by the gRPC query service and the
// HTTP API: flows, recent events (and follow), hot spots and agent status. Requests are
// checked here with clear errors (bad windows, unknown groupings, malformed pods).
import { Direction } from '../../common/tcp';
import { durationBucketMid } from '../../common/duration-bucket';
import { LogHistogram } from '../aggregate/histogram';
import { EventType, type EventRecord, type EventsRequest, type Flow, type FlowsRequest, type FlowsResponse, type HotspotsRequest, type HotspotsResponse, type StatusResponse, type Window } from '../../gen/tcpscope/v1/query';
import type { FlowAgg, FlowAggregator } from '../aggregate/flows';
import type { ResolvedEvent } from '../events';
import type { AgentRegistry } from '../ingest/agents';
import type { EventRing } from '../store/ring';
import { buildHotspots, HOTSPOT_GROUPINGS, type HotspotBy } from './hotspots';

export class QueryError extends Error {}

export interface CollectorState {
  agg: FlowAggregator;
  ring: EventRing;
  registry: AgentRegistry;
  startedMs: number;
  version: string;
  eventsTotal: () => number;
  /** Asks the agents for per-session detail of pod "ns/name" while someone follows it; returns the release. */
  follow?: (pod: string) => () => void;
}

const MAX_SPAN_MS = 31 * 86_400_000;

/** Window to [sinceUs, untilUs); defaults to the last 15 minutes. */
export function windowUs(w: Window | undefined, nowMs = Date.now()): { sinceUs: number; untilUs: number } {
  const untilMs = w?.untilUnixMs ? w.untilUnixMs : nowMs;
  const sinceMs = w?.sinceUnixMs ? w.sinceUnixMs : untilMs - 15 * 60_000;
  if (untilMs <= sinceMs) throw new QueryError(`empty window: until (${new Date(untilMs).toISOString()}) is not after since (${new Date(sinceMs).toISOString()})`);
  if (untilMs - sinceMs > MAX_SPAN_MS) throw new QueryError(`window too large: at most ${MAX_SPAN_MS / 86_400_000} days`);
  return { sinceUs: sinceMs * 1000, untilUs: untilMs * 1000 + 1 };
}

function parsePod(pod: string): { namespace: string; name: string } | undefined {
  if (!pod) return undefined;
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/.exec(pod);
  if (!m) throw new QueryError(`invalid pod "${pod}": use NAMESPACE/NAME`);
  return { namespace: m[1]!, name: m[3]! };
}

export function flowToWire(a: FlowAgg): Flow {
  return {
    local: a.local, remote: a.remote, servicePort: a.servicePort, direction: a.direction,
    sessions: a.sessions, failedConnects: a.failedConnects, txBytes: a.txBytes, rxBytes: a.rxBytes,
    duration: {
      p50Ms: a.durationsUs.quantile(0.5) / 1000, p90Ms: a.durationsUs.quantile(0.9) / 1000,
      p99Ms: a.durationsUs.quantile(0.99) / 1000, maxMs: a.durationsUs.max / 1000,
    },
    retransSegs: a.retransSegs, retransmitEvents: a.retransmitEvents, retransEventSegs: a.retransEventSegs,
    retransByState: [...a.byState].sort((x, y) => y[1] - x[1]).map(([state, events]) => ({ state, events })),
    firstSeenUnixMs: Math.floor(a.firstUs / 1000), lastSeenUnixMs: Math.floor(a.lastUs / 1000),
    srttMsAvg: a.srttCount ? a.srttSumUs / a.srttCount / 1000 : 0,
  };
}

export function queryFlows(st: CollectorState, req: FlowsRequest): FlowsResponse {
  const { sinceUs, untilUs } = windowUs(req.window);
  const pod = parsePod(req.pod);
  const ns = req.namespace;
  const flows = st.agg.query(sinceUs, untilUs, { pod, namespace: ns || undefined });
  flows.sort((x, y) => y.retransSegs + y.retransmitEvents - (x.retransSegs + x.retransmitEvents) || y.sessions - x.sessions || x.key.localeCompare(y.key));
  const limit = req.limit || 1000;
  let note = '';
  if (flows.length === 0) note = pod ? `no flows of pod ${req.pod} in the window` : 'no flows in the window';
  return { flows: flows.slice(0, limit).map(flowToWire), total: flows.length, note };
}

export function eventMatcher(req: EventsRequest): (e: ResolvedEvent) => boolean {
  const pod = parsePod(req.pod);
  const fromPod = parsePod(req.fromPod);
  const toPod = parsePod(req.toPod);
  const is = (ep: { namespace: string; pod: string }, p: { namespace: string; name: string }) => ep.namespace === p.namespace && ep.pod === p.name;
  // client and server ends: by direction; unknown direction matches either way round
  const ends = (e: ResolvedEvent): Array<[typeof e.local, typeof e.local]> =>
    e.ev.direction === Direction.DIRECTION_OUTBOUND ? [[e.local, e.remote]] : e.ev.direction === Direction.DIRECTION_INBOUND ? [[e.remote, e.local]] : [[e.local, e.remote], [e.remote, e.local]];
  const { sinceUs, untilUs } = req.follow && !req.window?.sinceUnixMs ? { sinceUs: 0, untilUs: Infinity } : windowUs(req.window);
  const until = req.follow ? Infinity : untilUs;
  if (req.port > 65535) throw new QueryError(`invalid port ${req.port}`);
  return (e) => {
    const ev = e.ev;
    if (ev.timeUs < sinceUs || ev.timeUs >= until) return false;
    if (req.type === EventType.EVENT_TYPE_LIFE && ev.type === 'retrans') return false;
    if (req.type === EventType.EVENT_TYPE_FLOW && ev.type !== 'flow') return false;
    if (req.type === EventType.EVENT_TYPE_RETRANS && ev.type !== 'retrans') return false;
    if (req.port && ev.lport !== req.port && ev.rport !== req.port) return false;
    if (req.node && ev.node !== req.node) return false;
    if (pod && !((e.local.namespace === pod.namespace && e.local.pod === pod.name) || (e.remote.namespace === pod.namespace && e.remote.pod === pod.name))) return false;
    if (req.namespace && e.local.namespace !== req.namespace && e.remote.namespace !== req.namespace) return false;
    if ((fromPod || toPod) && !ends(e).some(([client, server]) => (!fromPod || is(client, fromPod)) && (!toPod || is(server, toPod)))) return false;
    return true;
  };
}

export function eventToWire(e: ResolvedEvent): EventRecord {
  const ev = e.ev;
  const base: EventRecord = {
    type: ev.type === 'life' ? EventType.EVENT_TYPE_LIFE : ev.type === 'flow' ? EventType.EVENT_TYPE_FLOW : EventType.EVENT_TYPE_RETRANS,
    timeUnixNs: (BigInt(Math.round(ev.timeUs)) * 1000n).toString(), node: ev.node, local: e.local, remote: e.remote,
    direction: ev.direction, txBytes: 0, rxBytes: 0, durationMs: 0, retransSegs: 0, pid: 0, comm: '',
    failedConnect: false, srttUs: 0, state: 0, caState: 0, sessions: 0, failedConnects: 0, intervalMs: 0, retransmits: 0,
  };
  if (ev.type === 'flow') {
    const h = new LogHistogram();
    for (const [b, n] of ev.durations) h.add(durationBucketMid(b), n);
    Object.assign(base, {
      txBytes: ev.txBytes, rxBytes: ev.rxBytes, durationMs: h.quantile(0.5) / 1000, retransSegs: ev.retransSegs,
      srttUs: ev.sessions ? Math.round(ev.srttSumUs / ev.sessions) : 0, sessions: ev.sessions, failedConnects: ev.failedConnects,
      intervalMs: Math.round((ev.timeUs - ev.startUs) / 1000), retransmits: ev.retransmits.reduce((n, t) => n + t.events, 0),
      failedConnect: ev.sessions === 0 && ev.failedConnects > 0,
    });
  } else if (ev.type === 'life') {
    Object.assign(base, {
      txBytes: ev.txBytes, rxBytes: ev.rxBytes, durationMs: ev.durationUs / 1000, retransSegs: ev.retransSegs,
      pid: ev.pid, comm: ev.comm, failedConnect: ev.failedConnect, srttUs: ev.srttUs,
    });
  } else {
    base.state = ev.state;
    base.caState = ev.caState;
  }
  return base;
}

/** Live events for a follow request: each new matching event to `write` until the returned stop is called; a followed pod gets per-session detail from its agent meanwhile. */
export function followEvents(st: CollectorState, req: EventsRequest, write: (e: EventRecord) => void): () => void {
  const match = eventMatcher(req);
  const unsubscribe = st.ring.subscribe((e) => {
    if (match(e)) write(eventToWire(e));
  });
  const release = req.pod && st.follow ? st.follow(req.pod) : () => undefined;
  return () => {
    unsubscribe();
    release();
  };
}

/** Recent events matching the request, oldest first; `last` keeps the newest N. */
export function queryEvents(st: CollectorState, req: EventsRequest): EventRecord[] {
  const match = eventMatcher({ ...req, follow: false });
  let out: ResolvedEvent[] = [...st.ring.scan(match)];
  if (req.last) out = out.slice(-req.last);
  return out.map(eventToWire);
}

export function queryHotspots(st: CollectorState, req: HotspotsRequest): HotspotsResponse {
  const by = (req.by || 'pod') as HotspotBy;
  if (!HOTSPOT_GROUPINGS.includes(by)) throw new QueryError(`invalid grouping "${req.by}": use one of ${HOTSPOT_GROUPINGS.join(', ')}`);
  const { sinceUs, untilUs } = windowUs(req.window);
  const flows = st.agg.query(sinceUs, untilUs, req.namespace ? { localNamespace: req.namespace } : undefined);
  const rows = buildHotspots(flows, by, req.limit || 50);
  const note = rows.length === 0 ? (flows.length === 0 ? 'no flows in the window' : `${flows.length} flows in the window, none with retransmits or failed connects`) : '';
  return { by, window: { sinceUnixMs: Math.floor(sinceUs / 1000), untilUnixMs: Math.floor(untilUs / 1000) }, rows, note };
}

export function queryStatus(st: CollectorState): StatusResponse {
  return {
    collectorVersion: st.version, startedUnixMs: st.startedMs, agents: st.registry.list(),
    eventsTotal: st.eventsTotal(), flows: st.agg.flowCount(),
  };
}
