// Owner references to workloads: a pod's controller chain is followed one step where
// Kubernetes adds one (ReplicaSet -> Deployment, Job -> CronJob); StatefulSet, DaemonSet
// and others are the workload themselves; a pod without a controller is its own workload.
// An owner we have not seen stays as it is (ReplicaSet/x): never a guessed Deployment.
import type { OwnerInfo } from './trim';

export interface Workload { kind: string; name: string }

/** ReplicaSets and Jobs by namespace/name, kept `retentionUs` after deletion for late lookups. */
export class OwnerIndex {
  private readonly byKey = new Map<string, { info: OwnerInfo; deletedUs?: number }>();

  constructor(private readonly retentionUs: number) {}

  private key(kind: string, ns: string, name: string): string {
    return `${kind}\u0000${ns}\u0000${name}`;
  }

  set(o: OwnerInfo): void {
    this.byKey.set(this.key(o.kind, o.metadata.namespace, o.metadata.name), { info: o });
  }

  delete(o: OwnerInfo, atUs: number): void {
    const e = this.byKey.get(this.key(o.kind, o.metadata.namespace, o.metadata.name));
    if (e) e.deletedUs = atUs;
  }

  get(kind: string, ns: string, name: string): OwnerInfo | undefined {
    return this.byKey.get(this.key(kind, ns, name))?.info;
  }

  prune(nowUs: number): void {
    for (const [k, e] of this.byKey) if (e.deletedUs !== undefined && e.deletedUs < nowUs - this.retentionUs) this.byKey.delete(k);
  }

  get size(): number { return this.byKey.size; }
}

/** Looks up a ReplicaSet's or Job's own controller. */
export interface OwnerLookup {
  get(kind: string, ns: string, name: string): { owner?: Workload } | undefined;
}

export function workloadOf(pod: { owner?: Workload; metadata: { name: string; namespace?: string } }, owners: OwnerLookup): Workload {
  const o = pod.owner;
  if (!o) return { kind: 'Pod', name: pod.metadata.name };
  if (o.kind === 'ReplicaSet' || o.kind === 'Job') {
    const parent = owners.get(o.kind, pod.metadata.namespace ?? '', o.name)?.owner;
    const next = o.kind === 'ReplicaSet' ? 'Deployment' : 'CronJob';
    if (parent && parent.kind === next) return parent;
  }
  return o;
}
