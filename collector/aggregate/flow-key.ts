// The key a flow is aggregated (and stored) under: node, both named ends, service port and
// direction, as one string. FlowKeys remembers the keys of recent flows, so that an event of
// a known flow finds its key by node, the two addresses and the port, and compares the names,
// instead of concatenating and hashing ~100 characters; the remembered string also carries
// its hash into the bucket lookup. It was half of the aggregation's time.
import type { Endpoint } from '../../gen/tcpscope/v1/query';

/** The flow key; `FlowAgg.key` and the store's rows are keyed by exactly this. */
export function flowKey(node: string, l: Endpoint, r: Endpoint, svc: number, direction: number): string {
  return `${node}\0${l.addr}\0${l.namespace}/${l.pod}/${l.container}\0${r.addr}\0${r.kind}:${r.namespace}/${r.pod}${r.workload}\0${svc}\0${direction}`;
}

interface Known {
  lns: string;
  lpod: string;
  lcont: string;
  rkind: string;
  rns: string;
  rpod: string;
  rwork: string;
  key: string;
}

const MAX_SAME_ADDRESSES = 16;

export class FlowKeys {
  /** node -> local address -> remote address -> direction * 65536 + service port -> flows (names differ). */
  private known = new Map<string, Map<string, Map<string, Map<number, Known[]>>>>();
  private size = 0;

  /** At most `max` keys are remembered; past that, all are forgotten and learnt again. */
  constructor(private readonly max = 200_000) {}

  key(node: string, l: Endpoint, r: Endpoint, svc: number, direction: number): string {
    let byLocal = this.known.get(node);
    if (!byLocal) {
      byLocal = new Map();
      this.known.set(node, byLocal);
    }
    let byRemote = byLocal.get(l.addr);
    if (!byRemote) {
      byRemote = new Map();
      byLocal.set(l.addr, byRemote);
    }
    let byPort = byRemote.get(r.addr);
    if (!byPort) {
      byPort = new Map();
      byRemote.set(r.addr, byPort);
    }
    const portDir = direction * 65536 + svc;
    let flows = byPort.get(portDir);
    if (!flows) {
      flows = [];
      byPort.set(portDir, flows);
    }
    for (let i = 0; i < flows.length; i++) {
      const k = flows[i]!;
      if (k.lpod === l.pod && k.lns === l.namespace && k.lcont === l.container &&
        k.rkind === r.kind && k.rpod === r.pod && k.rns === r.namespace && k.rwork === r.workload) return k.key;
    }
    const key = flowKey(node, l, r, svc, direction);
    // many flows between the same addresses and port that differ only in names (pods sharing
    // the host's address, say): the first few are remembered, the rest built each time
    if (flows.length >= MAX_SAME_ADDRESSES) return key;
    if (this.size >= this.max) {
      this.clear();
      return key;
    }
    flows.push({ lns: l.namespace, lpod: l.pod, lcont: l.container, rkind: r.kind, rns: r.namespace, rpod: r.pod, rwork: r.workload, key });
    this.size++;
    return key;
  }

  clear(): void {
    this.known = new Map();
    this.size = 0;
  }
}
