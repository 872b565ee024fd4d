// Who held an IP address at a given time. Addresses are reused by new pods, events arrive
// late, and the API server tells us about changes after they happen, so each tenancy is
// an interval with an uncertain start: it may have begun at the owner's creation (`fromUs`)
// and is certain from when we saw it (`seenUs`); it ends when we saw it released (`toUs`).
// Two possible tenants at one time is ambiguous: the answer is "unknown", never a guess.

export interface Tenancy<T> {
  key: string;
  owner: T;
  fromUs: number;
  seenUs: number;
  toUs: number; // Infinity while held
}

export type IpAnswer<T> =
  | { kind: 'owner'; owner: T }
  | { kind: 'ambiguous'; owners: T[] }
  /** One possible tenant, but before we saw it and while our history is incomplete. */
  | { kind: 'uncertain'; owner: T }
  /** The address had tenants, but none at that time. */
  | { kind: 'vacant' }
  /** Never seen (within the retention). */
  | { kind: 'none' };

export class IpHistory<T> {
  private readonly byIp = new Map<string, Array<Tenancy<T>>>();
  /** From when every tenancy is known (first full list); before: only what we saw. */
  private completeSinceUs = Infinity;
  /** Times when we may have missed changes (a re-list after a lost watch). */
  private blind: Array<[number, number]> = [];
  /** Released tenancies in release order, so prune() touches only what may expire. */
  private released: Array<[string, number]> = [];
  private releasedHead = 0;

  constructor(private readonly retentionUs: number) {}

  /** `ip` is held by `owner` (stable `key`), possibly since fromUs, surely since seenUs. */
  claim(ip: string, key: string, owner: T, fromUs: number, seenUs: number): void {
    let list = this.byIp.get(ip);
    if (!list) this.byIp.set(ip, (list = []));
    const open = list.find((t) => t.key === key && t.toUs === Infinity);
    if (open) {
      open.owner = owner;
      return;
    }
    list.push({ key, owner, fromUs: Math.min(fromUs, seenUs), seenUs, toUs: Infinity });
  }

  /** `ip` is no longer held by `key` as of atUs (no-op if it was not). */
  release(ip: string, key: string, atUs: number): void {
    const list = this.byIp.get(ip);
    const open = list?.find((t) => t.key === key && t.toUs === Infinity);
    if (open) {
      open.toUs = Math.max(atUs, open.fromUs);
      this.released.push([ip, open.toUs]);
    }
  }

  markComplete(sinceUs: number): void {
    if (this.completeSinceUs === Infinity) this.completeSinceUs = sinceUs;
  }

  /** Changes between fromUs and toUs may have been missed (watch lost, re-listed). */
  markBlind(fromUs: number, toUs: number): void {
    this.blind.push([fromUs, toUs]);
    if (this.blind.length > 1000) this.blind.shift();
  }

  isComplete(tUs: number): boolean {
    if (tUs < this.completeSinceUs) return false;
    for (const [a, b] of this.blind) if (tUs >= a && tUs <= b) return false;
    return true;
  }

  lookup(ip: string, tUs: number): IpAnswer<T> {
    const list = this.byIp.get(ip);
    if (!list) return { kind: 'none' };
    let hit: Tenancy<T> | undefined;
    let owners: T[] | undefined;
    for (const t of list) {
      if (t.fromUs > tUs || t.toUs < tUs) continue;
      if (!hit) hit = t;
      else (owners ??= [hit.owner]).push(t.owner);
    }
    if (owners) return { kind: 'ambiguous', owners };
    if (!hit) return { kind: 'vacant' };
    if (tUs >= hit.seenUs || this.isComplete(tUs)) return { kind: 'owner', owner: hit.owner };
    return { kind: 'uncertain', owner: hit.owner };
  }

  tenancies(ip: string): ReadonlyArray<Tenancy<T>> {
    return this.byIp.get(ip) ?? [];
  }

  /** Forgets tenancies that ended before nowUs - retention. */
  prune(nowUs: number): number {
    const before = nowUs - this.retentionUs;
    let n = 0;
    // releases are queued in (nearly) time order: stop at the first one still retained
    while (this.releasedHead < this.released.length && this.released[this.releasedHead]![1] < before) {
      const ip = this.released[this.releasedHead++]![0];
      const list = this.byIp.get(ip);
      if (!list) continue;
      const keep = list.filter((t) => t.toUs >= before);
      n += list.length - keep.length;
      if (!keep.length) this.byIp.delete(ip);
      else if (keep.length !== list.length) this.byIp.set(ip, keep);
    }
    if (this.releasedHead > 4096 && this.releasedHead * 2 > this.released.length) {
      this.released = this.released.slice(this.releasedHead);
      this.releasedHead = 0;
    }
    this.blind = this.blind.filter(([, b]) => b >= before);
    return n;
  }

  get size(): number { return this.byIp.size; }
}
