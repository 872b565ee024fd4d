// SocketAttributor: names the local pod and container of an event by its SOCKET, not by
// the task that happened to be running: first the socket's cgroup id (pod and container;
// hostNetwork pods too; ids are not reused), then its network-namespace inode (the pod
// sandbox's namespace, owner at the event's time; a terminating pod's namespace only when a
// scan after the event still saw it, since its inode may have gone to a new pod), then the
// local IP at the event's time.
// An answer that contradicts another source is no answer: unknown, never a guess. A flow
// sum covers an interval: it is named at the interval's start and end, and a socket whose
// owner changed in between (a reused network namespace) stays unknown.
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
    if (r.kind !== 'flow-sum') return this.count(this.at(r, r.timeUs));
    const first = this.at(r, r.startUs);
    const last = this.at(r, r.timeUs);
    // a pod deleted (or created) during the interval is named at one end only: that is its flow
    if (first.pod && last.pod && first.pod.uid !== last.pod.uid) return this.count({ pod: undefined, by: 'conflict' });
    return this.count(first.pod ? first : last);
  }

  private count(a: Answer): PodRef | undefined {
    switch (a.by) {
      case 'cgroup': this.counters.byCgroup++; break;
      case 'netns': this.counters.byNetns++; break;
      case 'ip': this.counters.byIp++; break;
      case 'conflict': this.counters.conflicts++; this.counters.unattributed++; break;
      case 'none': this.counters.unattributed++; break;
    }
    return a.pod;
  }

  /** The socket's pod at time t, and how it was found (not counted). */
  private at(r: SessionRecord | RetransmitRecord | FlowSumRecord, t: number): Answer {
    const alive = (p: LocalPod | undefined) => (p && (p.deletedUs === undefined || t <= p.deletedUs) ? p : undefined);

    const cg = r.cgroupId > 1 && this.cgroups ? this.cgroups.lookup(r.cgroupId) : undefined;
    if (cg) {
      const pod = alive(this.index.byPodUid(cg.podUid));
      if (pod) return { by: 'cgroup', pod: ref(pod, cg.containerId ? this.index.container(pod.uid, cg.containerId)?.name ?? '' : '') };
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
      if (pod && byIp && byIp.uid !== pod.uid) return { by: 'conflict', pod: undefined };
      if (pod) return { by: 'netns', pod: ref(pod, soleContainer(pod)) };
    }
    const pod = alive(this.index.byIp(r.laddr, t));
    if (pod && !pod.hostNetwork) return { by: 'ip', pod: ref(pod, soleContainer(pod)) };
    return { by: 'none', pod: undefined };
  }
}

interface Answer {
  by: 'cgroup' | 'netns' | 'ip' | 'conflict' | 'none';
  pod: PodRef | undefined;
}

/** The container's name when the pod has one (non-init) container, else ''. */
function soleContainer(p: LocalPod): string {
  const app = p.containers.filter((c) => !c.init);
  return app.length === 1 ? app[0]!.name : '';
}

function ref(p: LocalPod, container: string): PodRef {
  return {
    uid: p.uid, namespace: p.namespace, name: p.name, container,
    workloadKind: p.owner?.kind ?? '', workloadName: p.owner?.name ?? '', hostNetwork: p.hostNetwork,
  };
}
