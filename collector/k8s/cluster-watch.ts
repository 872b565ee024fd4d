// The collector's Kubernetes watches: one cluster-wide ListWatch each of pods, services,
// nodes, replicasets and jobs (client-node informers, trimmed objects), feeding the
// ClusterIndex. Start it and forget it: it re-lists after 410, restarts after errors
// with backoff, and lookups never wait for it.
import { AppsV1Api, BatchV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ClusterIndex, type ClusterIndexOptions } from './cluster-index';
import { ResilientInformer, type InformerStatus, type ListPage, type ListParams, type Trimmed } from './informer';
import { trimNode, trimOwner, trimPod, trimService } from './trim';

export interface ClusterWatchOptions extends ClusterIndexOptions {
  /** Defaults to KubeConfig.loadFromDefault() (KUBECONFIG, ~/.kube/config, in-cluster). */
  kubeConfig?: KubeConfig;
  pageSize?: number;
  watchTimeoutSec?: number;
  stallGraceMs?: number;
  backoffMaxMs?: number;
  onError?: (message: string) => void;
}

export function loadKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

export class ClusterWatch {
  readonly index: ClusterIndex;
  private readonly informers: Array<ResilientInformer<Trimmed>> = [];
  private pruneTimer?: NodeJS.Timeout;

  constructor(opts: ClusterWatchOptions = {}) {
    const kc = opts.kubeConfig ?? loadKubeConfig();
    const index = (this.index = new ClusterIndex(opts));
    const core = kc.makeApiClient(CoreV1Api);
    const apps = kc.makeApiClient(AppsV1Api);
    const batch = kc.makeApiClient(BatchV1Api);
    const nowUs = () => Date.now() * 1000;
    const common = {
      kc, pageSize: opts.pageSize, watchTimeoutSec: opts.watchTimeoutSec, stallGraceMs: opts.stallGraceMs, backoffMaxMs: opts.backoffMaxMs,
      onError: opts.onError,
      // A re-list means changes may have been missed since we last heard from the server.
      onList: (relist: boolean, atMs: number) => {
        if (relist) index.markBlind(this.lastHeardUs(), atMs * 1000);
        else if (this.informers.every((i) => i.st.lists > 0)) index.markSynced(atMs * 1000);
      },
    };
    const add = <T extends Trimmed>(inf: ResilientInformer<T>) => this.informers.push(inf as unknown as ResilientInformer<Trimmed>);
    const page = (fn: (p: ListParams) => Promise<unknown>) => (p: ListParams) => fn(p) as Promise<ListPage>;
    add(new ResilientInformer({
      ...common, name: 'pods', path: '/api/v1/pods', list: page((p) => core.listPodForAllNamespaces(p)), trim: (o) => trimPod(o),
      onAdd: (p) => index.setPod(p, nowUs()), onUpdate: (p) => index.setPod(p, nowUs()), onDelete: (p) => index.deletePod(p, nowUs()),
    }));
    add(new ResilientInformer({
      ...common, name: 'services', path: '/api/v1/services', list: page((p) => core.listServiceForAllNamespaces(p)), trim: trimService,
      onAdd: (s) => index.setService(s, nowUs()), onUpdate: (s) => index.setService(s, nowUs()), onDelete: (s) => index.deleteService(s, nowUs()),
    }));
    add(new ResilientInformer({
      ...common, name: 'nodes', path: '/api/v1/nodes', list: page((p) => core.listNode(p)), trim: trimNode,
      onAdd: (n) => index.setNode(n, nowUs()), onUpdate: (n) => index.setNode(n, nowUs()), onDelete: (n) => index.deleteNode(n, nowUs()),
    }));
    add(new ResilientInformer({
      ...common, name: 'replicasets', path: '/apis/apps/v1/replicasets', list: page((p) => apps.listReplicaSetForAllNamespaces(p)), trim: trimOwner('ReplicaSet'),
      onAdd: (o) => index.setOwner(o), onUpdate: (o) => index.setOwner(o), onDelete: (o) => index.deleteOwner(o, nowUs()),
    }));
    add(new ResilientInformer({
      ...common, name: 'jobs', path: '/apis/batch/v1/jobs', list: page((p) => batch.listJobForAllNamespaces(p)), trim: trimOwner('Job'),
      onAdd: (o) => index.setOwner(o), onUpdate: (o) => index.setOwner(o), onDelete: (o) => index.deleteOwner(o, nowUs()),
    }));
  }

  private lastHeardUs(): number {
    // the oldest "last heard" among the informers: conservative
    const t = Math.min(...this.informers.map((i) => i.st.lastHeardMs || Date.now()));
    return t * 1000;
  }

  /** Starts the watches; resolves at once (errors are retried in the background, see status()). */
  start(): void {
    for (const inf of this.informers) inf.start().catch(() => undefined);
    this.pruneTimer = setInterval(() => this.index.prune(), 30_000);
    this.pruneTimer.unref();
  }

  /** True when every initial list is in; false after timeoutMs. */
  async waitSynced(timeoutMs = 30_000): Promise<boolean> {
    const all = await Promise.all(this.informers.map((i) => i.waitSynced(timeoutMs)));
    return all.every(Boolean);
  }

  status(): InformerStatus[] {
    return this.informers.map((i) => ({ ...i.st }));
  }

  async stop(): Promise<void> {
    clearInterval(this.pruneTimer);
    await Promise.all(this.informers.map((i) => i.stop()));
  }
}
