// A client-node ListWatch that keeps running: paginated lists, watches with timeoutSeconds
// and bookmarks, a watchdog for stalled streams, restart with backoff after errors (a
// ListWatch stops on any error but 410), and objects trimmed before the informer caches
// them. Used by the collector (cluster-wide) and the agent (its node's pods).
import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';

/** What a trimmed object must keep for the informer's cache: namespace, name, resourceVersion. */
export interface Trimmed {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
}

export interface ListPage {
  items: unknown[];
  metadata?: { resourceVersion?: string; _continue?: string };
}

export interface ListParams {
  limit: number;
  _continue?: string;
  fieldSelector?: string;
  labelSelector?: string;
}

export interface InformerOptions<T extends Trimmed> {
  /** e.g. "pods"; used in status and errors. */
  name: string;
  kc: KubeConfig;
  /** The watch path, e.g. "/api/v1/pods". */
  path: string;
  /** One page of the list (the typed client call), e.g. core.listPodForAllNamespaces(p). */
  list: (p: ListParams) => Promise<ListPage>;
  /** Raw object (typed or JSON) to what is kept; throws on malformed input (counted, skipped). */
  trim: (raw: unknown) => T;
  fieldSelector?: string;
  labelSelector?: string;
  pageSize?: number;
  /** Sent as timeoutSeconds on each watch (client-go: 5-10 min). */
  watchTimeoutSec?: number;
  /** A watch not ended by the server this long after its timeout is considered stalled. */
  stallGraceMs?: number;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  onAdd?: (o: T) => void;
  onUpdate?: (o: T) => void;
  onDelete?: (o: T) => void;
  /** A list completed: `relist` is false for the first one. */
  onList?: (relist: boolean, atMs: number) => void;
  onError?: (message: string) => void;
}

export interface InformerStatus {
  name: string;
  synced: boolean;
  lists: number;
  watches: number;
  restarts: number;
  stalls: number;
  malformed: number;
  lastError?: string;
  lastErrorAt?: number;
  /** Last time the server said anything on the watch (event, bookmark) or a list completed. */
  lastHeardMs: number;
  objects: number;
}

/** A readable message from whatever client-node threw (ApiException with a Status body, fetch errors). */
export function describeK8sError(err: unknown): string {
  const e = err as { code?: number; statusCode?: number; body?: unknown; message?: string };
  let body = e?.body;
  if (typeof body === 'string') {
    try { body = JSON.parse(body); } catch { /* text body */ }
  }
  const msg = body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string' ? (body as { message: string }).message : undefined;
  const code = e?.code ?? e?.statusCode;
  if (msg) return `${code ?? ''} ${msg}`.trim();
  const apiMessage = /\nMessage: (.*)/.exec(e?.message ?? '')?.[1]; // client-node's ApiException text
  if (typeof code === 'number') return `${code} ${apiMessage ?? e.message?.split('\n')[0] ?? ''}`.trim();
  return e?.message ? String(e.message).split('\n')[0]! : String(err);
}

/** Wraps client-node's Watch: adds timeoutSeconds and bookmarks, trims objects, and ends a stalled watch. */
class GuardedWatch<T extends Trimmed> {
  constructor(private readonly inner: Watch, private readonly owner: ResilientInformer<T>) {}

  async watch(path: string, params: Record<string, unknown>, cb: (phase: string, obj: unknown, raw: unknown) => void, done: (err: unknown) => void): Promise<AbortController> {
    const o = this.owner.opts;
    const timeoutSec = o.watchTimeoutSec ?? 300;
    const outer = new AbortController();
    let inner: AbortController | undefined;
    let finished = false;
    const finish = (err: unknown) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      done(err);
    };
    // The server ends a watch at timeoutSeconds; one still open well after that is stalled.
    const timer = setTimeout(() => {
      this.owner.st.stalls++;
      inner?.abort();
      finish(null); // the ListWatch re-watches from its last resourceVersion
    }, timeoutSec * 1000 + (o.stallGraceMs ?? 15_000));
    outer.signal.addEventListener('abort', () => {
      inner?.abort();
      clearTimeout(timer);
      finished = true;
    });
    this.owner.st.watches++;
    const query = { ...params, allowWatchBookmarks: true, timeoutSeconds: timeoutSec };
    this.inner.watch(path, query, (phase: string, obj: unknown, raw: unknown) => {
      if (finished) return;
      this.owner.st.lastHeardMs = Date.now();
      if (phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED') {
        let t: T;
        try {
          t = o.trim(obj);
        } catch (err) {
          this.owner.st.malformed++;
          o.onError?.(`${o.name}: malformed object in watch event skipped: ${describeK8sError(err)}`);
          return;
        }
        cb(phase, t, raw);
      } else {
        if (phase === 'ERROR') {
          const status = obj as { code?: number; message?: string };
          this.owner.noteError(`watch ERROR event: ${status?.code ?? ''} ${status?.message ?? ''}`.trim());
        }
        cb(phase, obj, raw);
      }
    }, finish).then((c) => {
      inner = c;
      if (outer.signal.aborted) c.abort();
    }, finish);
    return outer;
  }
}

export class ResilientInformer<T extends Trimmed> {
  readonly st: InformerStatus;
  private lw?: ListWatch<T & KubernetesObject>;
  private backoffMs: number;
  private restartTimer?: NodeJS.Timeout;
  private stopped = true;
  private syncWaiters: Array<() => void> = [];

  constructor(readonly opts: InformerOptions<T>) {
    this.st = { name: opts.name, synced: false, lists: 0, watches: 0, restarts: 0, stalls: 0, malformed: 0, lastHeardMs: 0, objects: 0 };
    this.backoffMs = opts.backoffMinMs ?? 500;
  }

  private async listAll(): Promise<KubernetesListObject<T & KubernetesObject>> {
    const o = this.opts;
    const items: Array<T & KubernetesObject> = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await o.list({ limit: o.pageSize ?? 500, _continue: cont, fieldSelector: o.fieldSelector, labelSelector: o.labelSelector });
      for (const raw of page.items ?? []) {
        try {
          items.push(o.trim(raw) as T & KubernetesObject);
        } catch (err) {
          this.st.malformed++;
          o.onError?.(`${o.name}: malformed object in list skipped: ${describeK8sError(err)}`);
        }
      }
      rv ||= page.metadata?.resourceVersion ?? '';
      cont = page.metadata?._continue || undefined;
    } while (cont);
    const relist = this.st.lists > 0;
    this.st.lists++;
    const now = Date.now();
    o.onList?.(relist, now); // before lastHeardMs moves: a re-list's blind window starts at the old value
    this.st.lastHeardMs = now;
    if (!this.st.synced) {
      this.st.synced = true;
      // callbacks for the listed items run after this returns; let them finish first
      setImmediate(() => { for (const w of this.syncWaiters.splice(0)) w(); });
    }
    this.backoffMs = this.opts.backoffMinMs ?? 500;
    return { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: rv }, items };
  }

  noteError(message: string): void {
    this.st.lastError = message;
    this.st.lastErrorAt = Date.now();
    this.opts.onError?.(`${this.opts.name}: ${message}`);
  }

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    const o = this.opts;
    const lw = new ListWatch<T & KubernetesObject>(o.path, new GuardedWatch<T>(new Watch(o.kc), this) as unknown as Watch,
      () => this.listAll(), false, o.labelSelector, o.fieldSelector);
    this.lw = lw;
    lw.on('add', (x) => { this.st.objects = this.count(); o.onAdd?.(x); });
    lw.on('update', (x) => o.onUpdate?.(x));
    lw.on('delete', (x) => { this.st.objects = this.count(); o.onDelete?.(x); });
    // A ListWatch stops after any error other than 410: restart it, with backoff.
    lw.on('error', (err?: unknown) => {
      this.noteError(describeK8sError(err));
      if (this.stopped) return;
      clearTimeout(this.restartTimer);
      const wait = this.backoffMs * (0.8 + Math.random() * 0.4);
      this.backoffMs = Math.min(this.backoffMs * 2, o.backoffMaxMs ?? 30_000);
      this.restartTimer = setTimeout(() => {
        if (this.stopped) return;
        this.st.restarts++;
        lw.start().catch((e) => this.noteError(describeK8sError(e)));
      }, wait);
    });
    await lw.start();
  }

  private count(): number {
    return this.lw ? this.lw.list().length : 0;
  }

  /** Resolves when the first list is in (or after timeoutMs, to false). Never throws. */
  waitSynced(timeoutMs = 30_000): Promise<boolean> {
    if (this.st.synced) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      this.syncWaiters.push(() => { clearTimeout(t); resolve(true); });
    });
  }

  /** The informer's cached (trimmed) objects. */
  list(): readonly T[] {
    return this.lw ? this.lw.list() : [];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    await this.lw?.stop();
  }
}
