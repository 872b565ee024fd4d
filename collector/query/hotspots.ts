// HotspotReport: ranks who retransmits most over a window, grouped by pod, workload,
// namespace, node, node pair, remote or flow, and reads each row the way the book does:
// retransmits in ESTABLISHED point at the network path, in SYN_SENT at an overloaded or
// unreachable server, concentrated on one node at that node or its link, on one external
// range at a firewall or egress limit.
import { TcpState, tcpStateName } from '../../common/tcp';
import type { Endpoint, HotspotRow } from '../../gen/tcpscope/v1/query';
import type { FlowAgg } from '../aggregate/flows';
import { endpointName } from '../resolve/resolver';

export const HOTSPOT_GROUPINGS = ['pod', 'workload', 'namespace', 'node', 'node-pair', 'remote', 'flow'] as const;
export type HotspotBy = (typeof HOTSPOT_GROUPINGS)[number];

function remoteGroup(e: Endpoint): string {
  if (e.kind === 'external' || e.kind === 'unresolved' || e.kind === 'unknown') {
    // external destinations group by range: /24 for IPv4, /64 for IPv6
    if (e.addr.includes(':')) return `${e.kind}:${e.addr.split(':').slice(0, 4).join(':')}::/64`;
    return `${e.kind}:${e.addr.split('.').slice(0, 3).join('.')}.0/24`;
  }
  return endpointName(e);
}

function remoteNode(e: Endpoint): string {
  if (e.kind === 'pod' || e.kind === 'node') return e.node || '?';
  if (e.kind === 'service') return 'service';
  return 'external';
}

export function groupKey(a: FlowAgg, by: HotspotBy): string {
  switch (by) {
    case 'pod': return endpointName(a.local);
    case 'workload': return a.local.workload ? `${a.local.namespace}/${a.local.workload}` : endpointName(a.local);
    case 'namespace': return a.local.namespace || '(host)';
    case 'node': return a.local.node;
    case 'node-pair': return `${a.local.node} -> ${remoteNode(a.remote)}`;
    case 'remote': return remoteGroup(a.remote);
    case 'flow': return `${endpointName(a.local)} -> ${endpointName(a.remote)}:${a.servicePort}`;
  }
}

interface Acc {
  key: string;
  retransSegs: number;
  retransmitEvents: number;
  retransEventSegs: number;
  sessions: number;
  failedConnects: number;
  txBytes: number;
  byState: Map<number, number>;
  remoteKinds: Set<string>;
}

/**
 * Retransmitted segments of a group over the window: the closed sessions' total_retrans or
 * the segments the retransmit events carried, whichever is larger (long-lived sessions that
 * have not closed yet show only in the events).
 */
function segs(g: { retransSegs: number; retransEventSegs: number }): number {
  return Math.max(g.retransSegs, g.retransEventSegs);
}

export function buildHotspots(flows: FlowAgg[], by: HotspotBy, limit: number): HotspotRow[] {
  const groups = new Map<string, Acc>();
  for (const a of flows) {
    const key = groupKey(a, by);
    let g = groups.get(key);
    if (!g) {
      g = { key, retransSegs: 0, retransmitEvents: 0, retransEventSegs: 0, sessions: 0, failedConnects: 0, txBytes: 0, byState: new Map(), remoteKinds: new Set() };
      groups.set(key, g);
    }
    g.retransSegs += a.retransSegs;
    g.retransmitEvents += a.retransmitEvents;
    g.retransEventSegs += a.retransEventSegs;
    g.sessions += a.sessions;
    g.failedConnects += a.failedConnects;
    g.txBytes += a.txBytes;
    g.remoteKinds.add(a.remote.kind);
    for (const [s, c] of a.byState) g.byState.set(s, (g.byState.get(s) ?? 0) + c);
  }
  const totalEvents = [...groups.values()].reduce((s, g) => s + g.retransmitEvents, 0);
  const rows = [...groups.values()]
    .filter((g) => g.retransmitEvents > 0 || g.retransSegs > 0 || g.failedConnects > 0)
    .sort((x, y) => segs(y) - segs(x) || y.retransmitEvents - x.retransmitEvents || y.failedConnects - x.failedConnects || x.key.localeCompare(y.key));
  const groupsWithRetrans = rows.filter((g) => g.retransmitEvents > 0).length;
  return rows.slice(0, limit).map((g) => {
    const { finding, evidence } = readRow(g, by, totalEvents, groupsWithRetrans);
    return {
      key: g.key,
      retransSegs: g.retransSegs,
      retransmitEvents: g.retransmitEvents,
      retransEventSegs: g.retransEventSegs,
      sessions: g.sessions,
      failedConnects: g.failedConnects,
      txBytes: g.txBytes,
      retransPerSession: g.sessions ? segs(g) / g.sessions : 0,
      retransPerMb: g.txBytes ? segs(g) / (g.txBytes / 1e6) : 0,
      states: [...g.byState].sort((a, b) => b[1] - a[1]).map(([state, events]) => ({ state, events })),
      finding,
      evidence,
    };
  });
}

function pct(n: number, d: number): string {
  return d ? `${Math.round((100 * n) / d)}%` : '0%';
}

/** The book's reading of one row, with the numbers it rests on. */
export function readRow(g: Acc, by: HotspotBy, totalEvents: number, groupsWithRetrans: number): { finding: string; evidence: string } {
  const ev = g.retransmitEvents;
  const syn = g.byState.get(TcpState.TCP_STATE_SYN_SENT) ?? 0;
  const est = g.byState.get(TcpState.TCP_STATE_ESTABLISHED) ?? 0;
  const findings: string[] = [];
  const evidence: string[] = [];
  if (ev === 0 && g.failedConnects > 0) {
    findings.push('connects fail without retransmits: refused or reset (nothing listening, or a policy rejecting)');
    evidence.push(`${g.failedConnects} failed connects, 0 retransmits`);
  } else if (syn > 0 && syn >= ev / 2) {
    findings.push('server overloaded or unreachable: SYNs are retransmitted (SYN backlog full, or SYNs dropped on the way)');
    evidence.push(`${syn} of ${ev} retransmits in SYN_SENT (${pct(syn, ev)}), ${g.failedConnects} failed connects`);
  } else if (est > 0 && est >= ev / 2) {
    findings.push('packet loss on the network path (retransmits in ESTABLISHED)');
    evidence.push(`${est} of ${ev} retransmits in ESTABLISHED (${pct(est, ev)}), ${g.sessions ? (segs(g) / g.sessions).toFixed(2) : '0'} retransmitted segments per session`);
  } else if (ev > 0) {
    const top = [...g.byState].sort((a, b) => b[1] - a[1])[0]!;
    findings.push(`retransmits mostly in ${tcpStateName(top[0])}`);
    evidence.push(`${top[1]} of ${ev} retransmits in ${tcpStateName(top[0])}`);
  }
  if ((by === 'node' || by === 'node-pair') && groupsWithRetrans >= 2 && ev >= 0.7 * totalEvents && ev > 0) {
    findings.push(by === 'node' ? 'concentrated on this node: suspect the node or its link' : 'concentrated on this node pair: suspect the link between these nodes');
    evidence.push(`${pct(ev, totalEvents)} of all retransmits in the window`);
  }
  if (by === 'remote' && (g.remoteKinds.has('external')) && groupsWithRetrans >= 1 && ev >= 0.7 * totalEvents && ev > 0) {
    findings.push('concentrated on one external range: suspect a firewall or an egress limit');
    evidence.push(`${pct(ev, totalEvents)} of all retransmits go to this range`);
  }
  return { finding: findings.join('; '), evidence: evidence.join('; ') };
}
