// The agent's view of its own node's pods: by UID, by local IP at a time (the last-resort
// attribution), and container id -> container name. Deleted pods are kept for a while:
// events from a pod's last seconds, reported late, still belong to it.
import { IpHistory } from '../../collector/k8s/ip-history';
import { workloadOf, type OwnerLookup, type Workload } from '../../collector/k8s/owners';
import { normaliseIp, type ContainerRef, type PodInfo } from '../../collector/k8s/trim';

export interface LocalPod {
  uid: string;
  namespace: string;
  name: string;
  node: string;
  /** The pod's controller as named in its owner reference (ReplicaSet/x, Job/y, StatefulSet/z...). */
  owner?: { kind: string; name: string };
  hostNetwork: boolean;
  ips: string[];
  containers: ContainerRef[];
  /** metadata.deletionTimestamp seen (µs), while terminating. */
  terminatingUs?: number;
  /** When we saw it DELETED (µs). */
  deletedUs?: number;
}

export interface LocalPodIndexOptions {
  /** How long deleted pods stay answerable. Default 2 min. */
  retentionMs?: number;
  nowUs?: () => number;
}

const TERMINAL = new Set(['Succeeded', 'Failed']);

/** Container name for a runtime id ("containerd://abc..." or bare, full or a >= 12-char prefix), init containers included. */
export function containerName(containers: readonly ContainerRef[], id: string): ContainerRef | undefined {
  const bare = id.replace(/^[a-z-]+:\/\//, '');
  if (bare.length < 12) return undefined;
  return containers.find((c) => c.id !== '' && (c.id === bare || c.id.startsWith(bare) || bare.startsWith(c.id)));
}

export class LocalPodIndex {
  private readonly byUid = new Map<string, LocalPod>();
  private readonly ips: IpHistory<LocalPod>;
  private readonly retentionUs: number;
  private readonly now: () => number;
  private synced = false;

  constructor(opts: LocalPodIndexOptions = {}) {
    this.retentionUs = (opts.retentionMs ?? 120_000) * 1000;
    this.now = opts.nowUs ?? (() => Date.now() * 1000);
    this.ips = new IpHistory<LocalPod>(this.retentionUs);
  }

  /** A pod was added or changed (the watch's add/update). */
  set(p: PodInfo, atUs = this.now()): void {
    const uid = p.metadata.uid;
    const prev = this.byUid.get(uid);
    if (prev?.deletedUs !== undefined) return;
    const pod: LocalPod = {
      uid, namespace: p.metadata.namespace, name: p.metadata.name, node: p.node, hostNetwork: p.hostNetwork,
      ips: p.ips, containers: p.containers ?? prev?.containers ?? [],
      ...(p.owner ? { owner: p.owner } : {}),
      ...(p.deletionUs !== undefined ? { terminatingUs: prev?.terminatingUs ?? atUs } : {}),
    };
    this.byUid.set(uid, pod);
    const holds = p.hostNetwork || TERMINAL.has(p.phase) ? [] : p.ips;
    for (const ip of prev?.ips ?? []) if (!holds.includes(ip)) this.ips.release(ip, uid, atUs);
    for (const ip of holds) this.ips.claim(ip, uid, pod, p.createdUs || atUs, atUs);
  }

  /** A pod was deleted (DELETED, or missing from a re-list). It keeps answering for the retention. */
  delete(p: PodInfo, atUs = this.now()): void {
    const pod = this.byUid.get(p.metadata.uid);
    if (!pod || pod.deletedUs !== undefined) return;
    pod.deletedUs = atUs;
    for (const ip of pod.ips) this.ips.release(ip, pod.uid, atUs);
  }

  markSynced(atUs = this.now()): void {
    this.synced = true;
    this.ips.markComplete(atUs);
  }

  markBlind(fromUs: number, toUs: number): void {
    this.ips.markBlind(fromUs, toUs);
  }

  get isSynced(): boolean { return this.synced; }

  /** The pod with this UID (from a cgroup path), deleted ones included while retained. */
  byPodUid(uid: string): LocalPod | undefined {
    return this.byUid.get(uid);
  }

  /** The pod that held local address `ip` at timeUs; undefined when none or ambiguous (never a guess). */
  byIp(ip: string, timeUs: number): LocalPod | undefined {
    const a = this.ips.lookup(normaliseIp(ip), timeUs);
    return a.kind === 'owner' ? a.owner : undefined;
  }

  /** The container of a pod for a runtime container id (from the cgroup path). */
  container(podUid: string, containerId: string): ContainerRef | undefined {
    const pod = this.byUid.get(podUid);
    return pod ? containerName(pod.containers, containerId) : undefined;
  }

  /** Workload of a local pod; `owners` may resolve ReplicaSet -> Deployment, else the controller itself. */
  workload(pod: LocalPod, owners?: OwnerLookup): Workload {
    return workloadOf({ owner: pod.owner, metadata: { name: pod.name, namespace: pod.namespace } }, owners ?? { get: () => undefined });
  }

  pods(): LocalPod[] {
    return [...this.byUid.values()].filter((p) => p.deletedUs === undefined);
  }

  prune(nowUs = this.now()): void {
    const before = nowUs - this.retentionUs;
    for (const [uid, p] of this.byUid) if (p.deletedUs !== undefined && p.deletedUs < before) this.byUid.delete(uid);
    this.ips.prune(nowUs);
  }
}
