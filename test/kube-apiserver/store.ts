// The test API server's storage: objects per resource, one global resourceVersion counter
// (as etcd's revision), a bounded history of changes (the "watch cache" window; older
// resourceVersions are gone: 410 Expired), and listeners that watches hang on.
import { randomUUID } from 'node:crypto';
import type { KObject } from './selectors';

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface Change {
  rv: number;
  res: string; // resource key: 'pods', 'apps/replicasets'
  type: ChangeType;
  key: string; // 'ns/name' or 'name'
  obj: KObject; // the object after the change (for DELETED: its last state)
  prev?: KObject; // before the change (MODIFIED, DELETED)
}

export class ExpiredError extends Error {
  constructor(readonly requested: number, readonly oldest: number) {
    super(`too old resource version: ${requested} (${oldest})`);
  }
}

export function objectKey(o: KObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : String(o.metadata.name);
}

/** RFC 3339 with second precision, as metav1.Time serialises. */
export function k8sTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

export class ObjectStore {
  private rv = 0;
  private readonly objects = new Map<string, Map<string, KObject>>();
  private history: Change[] = [];
  private start = 0;
  /** Changes with rv <= compactedRv are no longer in the history. */
  private compactedRv = 0;
  private readonly listeners = new Set<(c: Change) => void>();
  private readonly snapshots = new Map<string, Array<[string, KObject]>>();

  constructor(public historyLimit = 10_000, private readonly nowMs: () => number = Date.now) {}

  get resourceVersion(): number { return this.rv; }
  get oldestWatchableRv(): number { return this.compactedRv; }

  onChange(fn: (c: Change) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  map(res: string): Map<string, KObject> {
    let m = this.objects.get(res);
    if (!m) this.objects.set(res, (m = new Map()));
    return m;
  }

  get(res: string, key: string): KObject | undefined {
    return this.objects.get(res)?.get(key);
  }

  /** Stores a new object (uid, creationTimestamp, resourceVersion filled in). Throws if it exists. */
  create(res: string, input: KObject): KObject {
    const obj = structuredClone(input);
    obj.metadata.uid ??= randomUUID();
    obj.metadata.creationTimestamp ??= k8sTime(this.nowMs());
    const key = objectKey(obj);
    if (this.map(res).has(key)) throw new Error(`${res} "${obj.metadata.name}" already exists`);
    return this.commit(res, 'ADDED', key, obj, undefined);
  }

  /** Replaces an existing object (uid and creationTimestamp kept). */
  update(res: string, input: KObject): KObject {
    const key = objectKey(input);
    const prev = this.map(res).get(key);
    if (!prev) throw new Error(`${res} "${input.metadata.name}" not found`);
    const obj = structuredClone(input);
    obj.metadata.uid = prev.metadata.uid;
    obj.metadata.creationTimestamp = prev.metadata.creationTimestamp;
    return this.commit(res, 'MODIFIED', key, obj, prev);
  }

  remove(res: string, key: string): KObject | undefined {
    const prev = this.map(res).get(key);
    if (!prev) return undefined;
    const obj = structuredClone(prev);
    return this.commit(res, 'DELETED', key, obj, prev);
  }

  private commit(res: string, type: ChangeType, key: string, obj: KObject, prev: KObject | undefined): KObject {
    this.rv++;
    obj.metadata.resourceVersion = String(this.rv);
    Object.freeze(obj);
    if (type === 'DELETED') this.map(res).delete(key);
    else this.map(res).set(key, obj);
    const change: Change = { rv: this.rv, res, type, key, obj, prev };
    this.history.push(change);
    this.trim();
    for (const l of [...this.listeners]) l(change);
    return obj;
  }

  private trim(): void {
    while (this.history.length - this.start > this.historyLimit) {
      this.compactedRv = this.history[this.start]!.rv;
      this.start++;
    }
    if (this.start > 4096 && this.start * 2 > this.history.length) {
      this.history = this.history.slice(this.start);
      this.start = 0;
    }
  }

  /** Drops the whole history: every resourceVersion before now is too old. */
  compact(): void {
    this.compactedRv = this.rv;
    this.history = [];
    this.start = 0;
  }

  setHistoryLimit(n: number): void {
    this.historyLimit = n;
    this.trim();
  }

  /** Changes to one resource after `rv`, oldest first. Throws ExpiredError when rv is compacted. */
  changesSince(res: string, rv: number): Change[] {
    if (rv < this.compactedRv) throw new ExpiredError(rv, this.compactedRv);
    const out: Change[] = [];
    // binary search the first change with rv > requested
    let lo = this.start, hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.history[mid]!.rv > rv) hi = mid; else lo = mid + 1;
    }
    for (let i = lo; i < this.history.length; i++) if (this.history[i]!.res === res) out.push(this.history[i]!);
    return out;
  }

  /** The objects of a resource as they were at `rv`, sorted by key (as etcd lists them). */
  snapshot(res: string, rv: number): Array<[string, KObject]> {
    const id = `${res}@${rv}`;
    if (rv < this.compactedRv) throw new ExpiredError(rv, this.compactedRv);
    const hit = this.snapshots.get(id); // a snapshot never changes once taken
    if (hit) return hit;
    const state = new Map(this.map(res));
    for (let i = this.history.length - 1; i >= this.start && this.history[i]!.rv > rv; i--) {
      const c = this.history[i]!;
      if (c.res !== res) continue;
      if (c.type === 'ADDED') state.delete(c.key);
      else state.set(c.key, c.prev!);
    }
    const sorted = [...state.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    if (this.snapshots.size >= 8) this.snapshots.delete(this.snapshots.keys().next().value!);
    this.snapshots.set(id, sorted);
    return sorted;
  }
}
