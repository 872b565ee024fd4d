// SocketAttributor: names the local pod and container of an event by its SOCKET, not by
// the task that happened to be running: first the socket's cgroup id (pod and container;
// hostNetwork pods too; ids are not reused), then its network-namespace inode (the pod
// sandbox's namespace, owner at the event's time; a terminating pod's namespace only when a
// scan after the event still saw it, since its inode may have gone to a new pod), then the
// local IP at the event's time.
// An answer that contradicts another source is no answer: unknown, never a guess.
import type { FlowSumRecord, RetransmitRecord, SessionRecord } from '../records';
import type { PodRef } from '../../gen/tcpscope/v1/events';
import type { LocalAttributor } from '../agent';
import type { LocalPod, LocalPodIndex } from '../k8s/local-pod-index';
import type { CgroupMap } from './cgroup-map';
import type { NetnsMap } from './netns-map';

export interface AttributionCounters {
  byCgroup: number;
  byNetns: number;
  byIp: number;
  unattributed: number;
  conflicts: number;
}

export class SocketAttributor implements LocalAttributor {
  readonly counters: AttributionCounters = { byCgroup: 0, byNetns: 0, byIp: 0, unattributed: 0, conflicts: 0 };

  constructor(private readonly index: LocalPodIndex, private readonly cgroups: CgroupMap | undefined, private readonly netns: NetnsMap) {}

  attribute(r: SessionRecord | RetransmitRecord | FlowSumRecord): PodRef | undefined {
    const t = r.timeUs;
    const alive = (p: LocalPod | undefined) => (p && (p.deletedUs === undefined || t <= p.deletedUs) ? p : undefined);

    const cg = r.cgroupId > 1 && this.cgroups ? this.cgroups.lookup(r.cgroupId) : undefined;
    if (cg) {
      const pod = alive(this.index.byPodUid(cg.podUid));
      if (pod) {
        this.counters.byCgroup++;
        return ref(pod, cg.containerId ? this.index.container(pod.uid, cg.containerId)?.name ?? '' : '');
      }
    }
    let owner = this.netns.lookup(r.netnsInode, t);
    if (owner && !owner.confirmed) {
      // A pod on its way out may have lost its sandbox already, and its namespace inode may
      // belong to a new pod that no scan has seen yet: look again before believing it.
      const p = this.index.byPodUid(owner.podUid);
      if (p && (p.terminatingUs !== undefined || p.deletedUs !== undefined)) {
        this.netns.refresh();
        owner = this.netns.lookup(r.netnsInode, t);
        if (!owner?.confirmed) owner = undefined;
      }
    }
    const uid = owner?.podUid;
    if (uid) {
      const pod = alive(this.index.byPodUid(uid));
      const byIp = pod?.hostNetwork ? undefined : this.index.byIp(r.laddr, t);
      if (pod && byIp && byIp.uid !== pod.uid) {
        this.counters.conflicts++;
        this.counters.unattributed++;
        return undefined;
      }
      if (pod) {
        this.counters.byNetns++;
        return ref(pod, pod.containers.filter((c) => !c.init).length === 1 ? pod.containers.find((c) => !c.init)!.name : '');
      }
    }
    const pod = alive(this.index.byIp(r.laddr, t));
    if (pod && !pod.hostNetwork) {
      this.counters.byIp++;
      return ref(pod, pod.containers.filter((c) => !c.init).length === 1 ? pod.containers.find((c) => !c.init)!.name : '');
    }
    this.counters.unattributed++;
    return undefined;
  }
}

function ref(p: LocalPod, container: string): PodRef {
  return {
    uid: p.uid, namespace: p.namespace, name: p.name, container,
    workloadKind: p.owner?.kind ?? '', workloadName: p.owner?.name ?? '', hostNetwork: p.hostNetwork,
  };
}
