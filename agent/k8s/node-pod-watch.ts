// The agent's only Kubernetes watch: the pods of its own node (field selector
// spec.nodeName=<NODE_NAME>, NODE_NAME from the downward API), through client-node's
// ListWatch (makeInformer would drop the field selector from the watch request and
// stream every pod in the cluster to every node). Feeds the LocalPodIndex.
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ResilientInformer, type InformerStatus, type ListPage } from '../../collector/k8s/informer';
import { trimPod, type PodInfo } from '../../collector/k8s/trim';
import { LocalPodIndex, type LocalPodIndexOptions } from './local-pod-index';

export interface NodePodWatchOptions extends LocalPodIndexOptions {
  /** Default: the NODE_NAME environment variable. */
  nodeName?: string;
  /** Default: KubeConfig.loadFromDefault() (KUBECONFIG, ~/.kube/config, in-cluster service account). */
  kubeConfig?: KubeConfig;
  watchTimeoutSec?: number;
  stallGraceMs?: number;
  backoffMaxMs?: number;
  onError?: (message: string) => void;
}

export function nodeNameFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const n = env.NODE_NAME?.trim();
  if (!n) throw new Error('NODE_NAME is not set: give the agent its node name through the downward API (env NODE_NAME from fieldRef spec.nodeName)');
  return n;
}

export class NodePodWatch {
  readonly index: LocalPodIndex;
  readonly nodeName: string;
  private readonly informer: ResilientInformer<PodInfo>;
  private pruneTimer?: NodeJS.Timeout;

  constructor(opts: NodePodWatchOptions = {}) {
    this.nodeName = opts.nodeName ?? nodeNameFromEnv();
    let kc = opts.kubeConfig;
    if (!kc) {
      kc = new KubeConfig();
      kc.loadFromDefault();
    }
    const core = kc.makeApiClient(CoreV1Api);
    const index = (this.index = new LocalPodIndex(opts));
    const nowUs = () => Date.now() * 1000;
    let lastHeardMs = 0;
    this.informer = new ResilientInformer<PodInfo>({
      name: `pods on ${this.nodeName}`, kc, path: '/api/v1/pods',
      fieldSelector: `spec.nodeName=${this.nodeName}`,
      list: (p) => core.listPodForAllNamespaces(p) as Promise<ListPage>,
      trim: (o) => trimPod(o, { containers: true }),
      watchTimeoutSec: opts.watchTimeoutSec, stallGraceMs: opts.stallGraceMs, backoffMaxMs: opts.backoffMaxMs, onError: opts.onError,
      onList: (relist, atMs) => {
        if (relist) index.markBlind((lastHeardMs || atMs) * 1000, atMs * 1000);
        else index.markSynced(atMs * 1000);
      },
      onAdd: (p) => { lastHeardMs = Date.now(); index.set(p, nowUs()); },
      onUpdate: (p) => { lastHeardMs = Date.now(); index.set(p, nowUs()); },
      onDelete: (p) => { lastHeardMs = Date.now(); index.delete(p, nowUs()); },
    });
  }

  /** Starts watching; returns at once. Lookups answer from whatever is known so far. */
  start(): void {
    this.informer.start().catch(() => undefined);
    this.pruneTimer = setInterval(() => this.index.prune(), 30_000);
    this.pruneTimer.unref();
  }

  waitSynced(timeoutMs = 30_000): Promise<boolean> {
    return this.informer.waitSynced(timeoutMs);
  }

  status(): InformerStatus {
    return { ...this.informer.st };
  }

  async stop(): Promise<void> {
    clearInterval(this.pruneTimer);
    await this.informer.stop();
  }
}
