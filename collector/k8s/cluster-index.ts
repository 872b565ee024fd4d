// The collector's cluster-wide index: pods, services, nodes and their owners, fed by the
// watches (cluster-watch.ts) and answering synchronously — a slow or absent API server
// never blocks a lookup. resolve(addr, t) names the pod, service or node that held the
// address at time t, "external", or "unknown" (ambiguous, uncertain: counted, not guessed).
import type { RemoteIndex, RemoteLookup } from '../resolve/resolver';
import { IpHistory } from './ip-history';
import { OwnerIndex, workloadOf, type Workload } from './owners';
import { normaliseIp, type NodeInfo, type OwnerInfo, type PodInfo, type ServiceInfo } from './trim';
import { ipToBytes } from '../../common/addr';

export interface ClusterLookup extends RemoteLookup {
  uid?: string;
  /** Why the answer is unknown. */
  reason?: 'ambiguous' | 'uncertain' | 'vacant' | 'pod-cidr' | 'not-synced' | 'expired' | 'bad-address';
}

export interface IndexCounters {
  lookups: number;
  pod: number;
  service: number;
  node: number;
  external: number;
  unknown: number;
  /** Two possible owners at that time (IP reuse with overlap). */
  ambiguous: number;
  /** One possible owner, but before we saw it and while our history was incomplete. */
  uncertain: number;
  /** A known pod address with no owner at that time, or an unseen address in a pod CIDR. */
  vacant: number;
  notSynced: number;
  /** Asked for a time older than the retention. */
  expired: number;
  badAddress: number;
}

type Owner = { kind: 'pod'; pod: PodRecord } | { kind: 'service'; svc: ServiceInfo } | { kind: 'node'; node: NodeInfo };

interface PodRecord {
  pod: PodInfo;
  deletedUs?: number;
  /** The addresses we registered for it (claimed in the IP history). */
  claimed: string[];
  /** Resolved once its owner chain is known. */
  workload?: Workload;
}

export interface ClusterIndexOptions {
  /** How long deleted pods (and their IP tenancies) are kept for late events. Default 15 min. */
  retentionMs?: number;
  nowUs?: () => number;
}

const TERMINAL = new Set(['Succeeded', 'Failed']);

interface Cidr { bytes: Buffer; bits: number }

function parseCidr(c: string): Cidr | undefined {
  const [ip, bits] = c.split('/');
  try {
    return { bytes: ipToBytes(normaliseIp(ip!)), bits: Number(bits) };
  } catch {
    return undefined;
  }
}

function inCidr(addr: Buffer, c: Cidr): boolean {
  if (addr.length !== c.bytes.length) return false;
  let bits = c.bits;
  for (let i = 0; i < addr.length && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((addr[i]! & mask) !== (c.bytes[i]! & mask)) return false;
  }
  return true;
}

export class ClusterIndex implements RemoteIndex {
  readonly counters: IndexCounters = {
    lookups: 0, pod: 0, service: 0, node: 0, external: 0, unknown: 0, ambiguous: 0, uncertain: 0, vacant: 0, notSynced: 0, expired: 0, badAddress: 0,
  };
  readonly owners: OwnerIndex;
  private readonly ips: IpHistory<Owner>;
  private readonly pods = new Map<string, PodRecord>(); // by uid, deleted ones kept for the retention
  private readonly services = new Map<string, ServiceInfo>(); // by uid
  private readonly nodes = new Map<string, NodeInfo>(); // by name
  private podCidrs: Cidr[] = [];
  private synced = false;
  private readonly retentionUs: number;
  private readonly now: () => number;
  private lastPruneUs = 0;
  /** Deleted pods in deletion order, for prune(). */
  private deletions: Array<[string, number]> = [];
  private deletionsHead = 0;
  private readonly v6Forms = new Map<string, string>();

  constructor(opts: ClusterIndexOptions = {}) {
    this.retentionUs = (opts.retentionMs ?? 15 * 60_000) * 1000;
    this.now = opts.nowUs ?? (() => Date.now() * 1000);
    this.ips = new IpHistory<Owner>(this.retentionUs);
    this.owners = new OwnerIndex(this.retentionUs);
  }

  // ---- changes ------------------------------------------------------------------------

  /** A pod was added or changed (as seen at atUs). */
  setPod(pod: PodInfo, atUs = this.now()): void {
    const uid = pod.metadata.uid;
    let rec = this.pods.get(uid);
    if (!rec) this.pods.set(uid, (rec = { pod, claimed: [] }));
    if (rec.deletedUs !== undefined) return; // a late update of a deleted pod changes nothing
    if (rec.pod.owner?.name !== pod.owner?.name) rec.workload = undefined;
    rec.pod = pod;
    const holds = pod.hostNetwork || TERMINAL.has(pod.phase) ? [] : pod.ips;
    for (const ip of rec.claimed) if (!holds.includes(ip)) this.ips.release(ip, uid, atUs);
    const owner: Owner = { kind: 'pod', pod: rec };
    for (const ip of holds) this.ips.claim(ip, uid, owner, pod.createdUs || atUs, atUs);
    rec.claimed = holds;
    this.maybePrune(atUs);
  }

  /** A pod was deleted (DELETED event, or gone in a re-list) as seen at atUs. */
  deletePod(pod: PodInfo, atUs = this.now()): void {
    const rec = this.pods.get(pod.metadata.uid) ?? { pod, claimed: [] };
    if (rec.deletedUs !== undefined) return;
    rec.pod = pod;
    rec.deletedUs = atUs;
    for (const ip of rec.claimed) this.ips.release(ip, pod.metadata.uid, atUs);
    this.pods.set(pod.metadata.uid, rec);
    this.deletions.push([pod.metadata.uid, atUs]);
  }

  setService(svc: ServiceInfo, atUs = this.now()): void {
    const uid = svc.metadata.uid;
    const prev = this.services.get(uid);
    for (const ip of prev?.clusterIPs ?? []) if (!svc.clusterIPs.includes(ip)) this.ips.release(ip, uid, atUs);
    this.services.set(uid, svc);
    for (const ip of svc.clusterIPs) this.ips.claim(ip, uid, { kind: 'service', svc }, svc.createdUs || atUs, atUs);
  }

  deleteService(svc: ServiceInfo, atUs = this.now()): void {
    for (const ip of svc.clusterIPs) this.ips.release(ip, svc.metadata.uid, atUs);
    this.services.delete(svc.metadata.uid);
  }

  setNode(node: NodeInfo, atUs = this.now()): void {
    const key = `node/${node.metadata.name}`;
    const prev = this.nodes.get(node.metadata.name);
    const all = [...node.internalIPs, ...node.externalIPs];
    for (const ip of [...(prev?.internalIPs ?? []), ...(prev?.externalIPs ?? [])]) if (!all.includes(ip)) this.ips.release(ip, key, atUs);
    this.nodes.set(node.metadata.name, node);
    for (const ip of all) this.ips.claim(ip, key, { kind: 'node', node }, node.createdUs || atUs, atUs);
    this.rebuildCidrs();
  }

  deleteNode(node: NodeInfo, atUs = this.now()): void {
    for (const ip of [...node.internalIPs, ...node.externalIPs]) this.ips.release(ip, `node/${node.metadata.name}`, atUs);
    this.nodes.delete(node.metadata.name);
    this.rebuildCidrs();
  }

  setOwner(o: OwnerInfo): void { this.owners.set(o); }
  deleteOwner(o: OwnerInfo, atUs = this.now()): void { this.owners.delete(o, atUs); }

  /** All initial lists are in: from sinceUs on, the history knows every tenant. */
  markSynced(sinceUs = this.now()): void {
    this.synced = true;
    this.ips.markComplete(sinceUs);
  }

  /** A watch was lost and re-listed: changes between fromUs and toUs may be missing. */
  markBlind(fromUs: number, toUs: number): void {
    this.ips.markBlind(fromUs, toUs);
  }

  private rebuildCidrs(): void {
    this.podCidrs = [...this.nodes.values()].flatMap((n) => n.podCIDRs.map(parseCidr).filter((c): c is Cidr => c !== undefined));
  }

  private maybePrune(nowUs: number): void {
    if (nowUs - this.lastPruneUs < 10_000_000) return;
    this.prune(nowUs);
  }

  /** Forgets deleted pods and tenancies older than the retention. */
  prune(nowUs = this.now()): void {
    this.lastPruneUs = nowUs;
    const before = nowUs - this.retentionUs;
    while (this.deletionsHead < this.deletions.length && this.deletions[this.deletionsHead]![1] < before) {
      const uid = this.deletions[this.deletionsHead++]![0];
      const rec = this.pods.get(uid);
      if (rec?.deletedUs !== undefined && rec.deletedUs < before) this.pods.delete(uid);
    }
    if (this.deletionsHead > 4096 && this.deletionsHead * 2 > this.deletions.length) {
      this.deletions = this.deletions.slice(this.deletionsHead);
      this.deletionsHead = 0;
    }
    this.ips.prune(nowUs);
    this.owners.prune(nowUs);
  }

  // ---- lookups ------------------------------------------------------------------------

  /** Who had `addr` at timeUs (µs since the epoch). Synchronous; counts every answer. */
  resolve(addr: string, timeUs: number): ClusterLookup {
    const c = this.counters;
    c.lookups++;
    if (!this.synced) { c.notSynced++; c.unknown++; return { kind: 'unknown', reason: 'not-synced' }; }
    const ip = addr.includes(':') ? this.v6(addr) : addr;
    const a = this.ips.lookup(ip, timeUs);
    switch (a.kind) {
      case 'owner': {
        const o = a.owner;
        if (o.kind === 'pod') {
          c.pod++;
          const rec = o.pod;
          const p = rec.pod;
          let workload = rec.workload;
          if (!workload) {
            workload = workloadOf(p, this.owners);
            // final once the chain ends where Kubernetes ends it (an unseen ReplicaSet/Job may still show up)
            if (!p.owner || workload !== p.owner || (p.owner.kind !== 'ReplicaSet' && p.owner.kind !== 'Job')) rec.workload = workload;
          }
          return { kind: 'pod', namespace: p.metadata.namespace, name: p.metadata.name, uid: p.metadata.uid, node: p.node, workload };
        }
        if (o.kind === 'service') {
          c.service++;
          return { kind: 'service', namespace: o.svc.metadata.namespace, name: o.svc.metadata.name, uid: o.svc.metadata.uid };
        }
        c.node++;
        return { kind: 'node', name: o.node.metadata.name, node: o.node.metadata.name };
      }
      case 'ambiguous': c.ambiguous++; c.unknown++; return { kind: 'unknown', reason: 'ambiguous' };
      case 'uncertain': c.uncertain++; c.unknown++; return { kind: 'unknown', reason: 'uncertain' };
      case 'vacant': c.vacant++; c.unknown++; return { kind: 'unknown', reason: 'vacant' };
      case 'none': {
        if (timeUs < this.now() - this.retentionUs) { c.expired++; c.unknown++; return { kind: 'unknown', reason: 'expired' }; }
        let bytes: Buffer | undefined;
        try {
          bytes = ipToBytes(ip);
        } catch {
          c.badAddress++; c.unknown++;
          return { kind: 'unknown', reason: 'bad-address' };
        }
        if (this.podCidrs.length && this.podCidrs.some((cidr) => inCidr(bytes!, cidr))) { c.vacant++; c.unknown++; return { kind: 'unknown', reason: 'pod-cidr' }; }
        c.external++;
        return { kind: 'external' };
      }
    }
  }

  /** IPv6 text in one form (cached: the conversion is not cheap). */
  private v6(addr: string): string {
    let f = this.v6Forms.get(addr);
    if (f === undefined) {
      f = normaliseIp(addr);
      if (this.v6Forms.size >= 50_000) this.v6Forms.clear();
      this.v6Forms.set(addr, f);
    }
    return f;
  }

  /** A pod by UID, deleted ones included while retained. */
  podByUid(uid: string): (PodInfo & { deletedUs?: number }) | undefined {
    const r = this.pods.get(uid);
    return r ? { ...r.pod, ...(r.deletedUs !== undefined ? { deletedUs: r.deletedUs } : {}) } : undefined;
  }

  /** Container name for a pod's containerPort (pods with several containers), if declared. */
  containerForPort(podUid: string, port: number): string | undefined {
    return this.pods.get(podUid)?.pod.ports?.find(([p]) => p === port)?.[1];
  }

  stats(): { pods: number; deletedPods: number; services: number; nodes: number; owners: number; addresses: number; synced: boolean } {
    let deleted = 0;
    for (const r of this.pods.values()) if (r.deletedUs !== undefined) deleted++;
    return { pods: this.pods.size - deleted, deletedPods: deleted, services: this.services.size, nodes: this.nodes.size, owners: this.owners.size, addresses: this.ips.size, synced: this.synced };
  }
}
