// A Kubernetes API server for tests and the local demo: the list/watch protocol as the real
// kube-apiserver speaks it (resourceVersions, watch events and bookmarks, 410 Expired,
// selectors, pagination, bearer tokens with 401/403, TokenReview), plus what tests need on
// top: an in-process API to change objects, request accounting, and fault injection.
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import {
  compileFieldSelector, matchLabels, parseFieldSelector, parseLabelSelector, SelectorError,
  type KObject, type LabelRequirement,
} from './selectors';
import { RESOURCES, apiVersionOf, findResource, resourceByName, resourceKey, type ResourceDef } from './resources';
import { ExpiredError, ObjectStore, k8sTime, objectKey, type Change, type ChangeType } from './store';

export type { KObject } from './selectors';

/** What a token may do: verbs x resources ('*' for all), cluster-wide or in some namespaces. */
export interface AccessRule {
  verbs: string[];
  resources: string[];
  /** Omitted: cluster scope (any namespace and cluster-wide requests). */
  namespaces?: string[];
}

export interface TokenIdentity {
  token: string;
  user: string;
  uid?: string;
  groups?: string[];
  rules: AccessRule[] | 'all';
  /** A ServiceAccount token: TokenReview answers for it, with these audiences. */
  audiences?: string[];
}

export interface KubeApiServerOptions {
  port?: number;
  host?: string;
  tokens?: TokenIdentity[];
  /** How many changes the history keeps (the watch window); older resourceVersions get 410. */
  historyLimit?: number;
  /** Interval of BOOKMARK events on watches that allow them (real server: about a minute). */
  bookmarkIntervalMs?: number;
  /** Watch length when the client sends no timeoutSeconds (real: 30-60 min at random). */
  defaultWatchTimeoutSec?: number;
  /** How long a gracefully deleted pod stays terminating before DELETED (capped by its grace period). */
  podTerminationMs?: number;
  /** Audiences of tokens when a TokenReview names none (the API server's --api-audiences). */
  apiAudiences?: string[];
  /** How many request records to keep for requests(). */
  requestLogLimit?: number;
  /** Serve HTTPS with this certificate (PEM). kubectl sends tokens only over TLS. */
  tls?: { cert: string | Buffer; key: string | Buffer };
}

export interface RequestRecord {
  at: number;
  method: string;
  verb: string;
  resource: string; // resource key ('pods', 'apps/replicasets') or a path for non-resource requests
  namespace?: string;
  name?: string;
  fieldSelector?: string;
  labelSelector?: string;
  resourceVersion?: string;
  limit?: string;
  continued?: boolean;
  user?: string;
  code: number;
  path: string;
}

export interface WatchInfo {
  id: number;
  resource: string;
  namespace?: string;
  fieldSelector?: string;
  labelSelector?: string;
  user: string;
  startedAt: number;
  sent: number;
  stalled: boolean;
}

interface RequestInfo {
  verb: string;
  def: ResourceDef;
  namespace?: string;
  name?: string;
  subresource?: string;
}

interface Faults {
  delayMs: number;
  fail: Array<{ remaining: number; status: number; match?: (r: RequestRecord) => boolean }>;
  stallNew: boolean;
}

class StatusError extends Error {
  constructor(readonly code: number, readonly reason: string, message: string, readonly details?: Record<string, unknown>) {
    super(message);
  }
}

export function statusObject(code: number, reason: string, message: string, details?: Record<string, unknown>) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

class WatchStream {
  sent = 0;
  stalled = false;
  private queue: string[] = [];
  private endPending = false;
  private timers: NodeJS.Timeout[] = [];
  ended = false;

  constructor(
    readonly id: number,
    readonly def: ResourceDef,
    readonly res: http.ServerResponse,
    readonly info: WatchInfo,
    private readonly matches: (o: KObject) => boolean,
  ) {}

  write(line: string): void {
    if (this.ended) return;
    if (this.stalled) { this.queue.push(line); return; }
    this.sent++;
    this.info.sent = this.sent;
    this.res.write(line);
  }

  /** The event a change becomes for this watch (selector transitions become ADDED/DELETED), or none. */
  deliver(c: Change): void {
    if (this.info.namespace && c.obj.metadata.namespace !== this.info.namespace) return;
    const now = c.type !== 'DELETED' && this.matches(c.obj);
    const before = c.prev !== undefined && this.matches(c.prev);
    let type: ChangeType | undefined;
    let obj = c.obj;
    if (c.type === 'ADDED') type = now ? 'ADDED' : undefined;
    else if (c.type === 'DELETED') type = before || this.matches(c.obj) ? 'DELETED' : undefined;
    else if (now && before) type = 'MODIFIED';
    else if (now) type = 'ADDED';
    else if (before) {
      type = 'DELETED'; // left the selection: the old state, at the change's resourceVersion
      obj = { ...c.prev!, metadata: { ...c.prev!.metadata, resourceVersion: String(c.rv) } };
    }
    if (type) this.write(eventLine(this.def, type, obj));
  }

  later(ms: number, fn: () => void): void {
    this.timers.push(setTimeout(fn, ms));
  }

  every(ms: number, fn: () => void): void {
    this.timers.push(setInterval(fn, ms));
  }

  end(): void {
    if (this.ended) return;
    if (this.stalled) { this.endPending = true; return; }
    this.close();
    this.res.end();
  }

  close(): void {
    this.ended = true;
    for (const t of this.timers) clearTimeout(t);
  }

  unstall(): void {
    if (!this.stalled) return;
    this.stalled = false;
    this.info.stalled = false;
    for (const l of this.queue.splice(0)) this.write(l);
    if (this.endPending) this.end();
  }
}

function eventLine(def: ResourceDef, type: string, obj: KObject): string {
  return `{"type":"${type}","object":${JSON.stringify(withKind(def, obj))}}\n`;
}

function withKind(def: ResourceDef, obj: KObject): KObject {
  return { kind: def.kind, apiVersion: apiVersionOf(def), ...obj };
}

/** Merge patch (RFC 7386); strategic merge patches are treated the same way here. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as object) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export class KubeApiServer {
  readonly store: ObjectStore;
  private readonly server: http.Server | https.Server;
  private readonly tokens = new Map<string, TokenIdentity>();
  private readonly watches = new Map<number, WatchStream>();
  private readonly sockets = new Set<Socket>();
  private readonly log: RequestRecord[] = [];
  private readonly counts = new Map<string, number>();
  private readonly terminating = new Map<string, NodeJS.Timeout>();
  private readonly faults: Faults = { delayMs: 0, fail: [], stallNew: false };
  private nextWatchId = 1;
  private _port = 0;
  private readonly opts: Required<Omit<KubeApiServerOptions, 'tokens' | 'tls'>>;
  private readonly tls: boolean;

  constructor(options: KubeApiServerOptions = {}) {
    this.opts = {
      port: options.port ?? 0,
      host: options.host ?? '127.0.0.1',
      historyLimit: options.historyLimit ?? 10_000,
      bookmarkIntervalMs: options.bookmarkIntervalMs ?? 60_000,
      defaultWatchTimeoutSec: options.defaultWatchTimeoutSec ?? 1800,
      podTerminationMs: options.podTerminationMs ?? 1000,
      apiAudiences: options.apiAudiences ?? ['https://kubernetes.default.svc.cluster.local'],
      requestLogLimit: options.requestLogLimit ?? 100_000,
    };
    this.store = new ObjectStore(this.opts.historyLimit);
    for (const t of options.tokens ?? []) this.addToken(t);
    this.store.onChange((c) => {
      for (const w of this.watches.values()) if (resourceKey(w.def) === c.res) w.deliver(c);
    });
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      this.handle(req, res).catch((err) => {
        if (!res.headersSent) this.sendStatus(res, new StatusError(500, 'InternalError', `Internal error occurred: ${String(err?.message ?? err)}`));
        else res.destroy();
      });
    };
    this.tls = options.tls !== undefined;
    this.server = options.tls ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, handler) : http.createServer(handler);
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => resolve());
    });
    this._port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get port(): number { return this._port; }
  get url(): string { return `${this.tls ? 'https' : 'http'}://${this.opts.host.includes(':') ? `[${this.opts.host}]` : this.opts.host}:${this._port}`; }

  async stop(): Promise<void> {
    for (const t of this.terminating.values()) clearTimeout(t);
    this.terminating.clear();
    for (const w of this.watches.values()) w.close();
    this.watches.clear();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  addToken(t: TokenIdentity): void {
    this.tokens.set(t.token, t);
  }

  // ---- in-process API ---------------------------------------------------------------

  create(resource: string, obj: KObject): KObject {
    const def = resourceByName(resource);
    return this.store.create(resourceKey(def), this.normalise(def, obj));
  }

  /** Replaces the object (found by namespace/name). */
  update(resource: string, obj: KObject): KObject {
    const def = resourceByName(resource);
    return this.store.update(resourceKey(def), this.normalise(def, obj));
  }

  /** Changes an object in place through `fn` (applied to a copy) and stores it. */
  modify(resource: string, namespace: string | undefined, name: string, fn: (o: KObject) => void): KObject {
    const def = resourceByName(resource);
    const cur = this.get(resource, namespace, name);
    if (!cur) throw new Error(`${def.resource} "${name}" not found`);
    const copy = structuredClone(cur);
    fn(copy);
    return this.store.update(resourceKey(def), copy);
  }

  get(resource: string, namespace: string | undefined, name: string): KObject | undefined {
    const def = resourceByName(resource);
    return this.store.get(resourceKey(def), def.namespaced ? `${namespace ?? 'default'}/${name}` : name);
  }

  list(resource: string): KObject[] {
    return [...this.store.map(resourceKey(resourceByName(resource))).values()];
  }

  /**
   * Deletes an object. Pods on a node with a grace period go the real way: MODIFIED with
   * metadata.deletionTimestamp first, DELETED after `graceMs` (default: the server's
   * podTerminationMs, at most the grace period). graceMs 0 deletes at once.
   */
  delete(resource: string, namespace: string | undefined, name: string, opts: { graceMs?: number; gracePeriodSeconds?: number } = {}): KObject | undefined {
    const def = resourceByName(resource);
    const res = resourceKey(def);
    const key = def.namespaced ? `${namespace ?? 'default'}/${name}` : name;
    const cur = this.store.get(res, key);
    if (!cur) return undefined;
    const graceSec = opts.gracePeriodSeconds ?? cur.spec?.terminationGracePeriodSeconds ?? 30;
    const graceMs = opts.graceMs ?? Math.min(graceSec * 1000, this.opts.podTerminationMs);
    if (def.resource !== 'pods' || !cur.spec?.nodeName || graceMs <= 0 || graceSec <= 0) {
      this.finishDelete(res, key);
      return cur;
    }
    if (cur.metadata.deletionTimestamp) {
      if (opts.graceMs === 0) this.finishDelete(res, key);
      return cur;
    }
    const marked = this.modify(resource, namespace, name, (o) => {
      o.metadata.deletionTimestamp = k8sTime(Date.now() + graceSec * 1000);
      o.metadata.deletionGracePeriodSeconds = graceSec;
    });
    const t = setTimeout(() => this.finishDelete(res, key), graceMs);
    this.terminating.set(`${res}/${key}`, t);
    return marked;
  }

  /** Ends a graceful deletion now (the kubelet confirmed the pod is gone). */
  finishDelete(res: string, key: string): void {
    const t = this.terminating.get(`${res}/${key}`);
    if (t) clearTimeout(t);
    this.terminating.delete(`${res}/${key}`);
    this.store.remove(res, key);
  }

  private normalise(def: ResourceDef, obj: KObject): KObject {
    if (!obj || typeof obj !== 'object' || !obj.metadata || typeof obj.metadata !== 'object') throw new StatusError(400, 'BadRequest', 'the object has no metadata');
    const o = { ...obj, metadata: { ...obj.metadata } };
    delete o.kind;
    delete o.apiVersion;
    if (!o.metadata.name && o.metadata.generateName) o.metadata.name = o.metadata.generateName + randomBytes(3).toString('hex').slice(0, 5);
    if (!o.metadata.name) throw new StatusError(422, 'Invalid', `${def.kind} "" is invalid: metadata.name: Required value: name or generateName is required`);
    if (def.namespaced) o.metadata.namespace ??= 'default';
    else delete o.metadata.namespace;
    return o;
  }

  // ---- accounting -------------------------------------------------------------------

  /** Every request so far (bounded), oldest first. */
  requests(filter?: (r: RequestRecord) => boolean): RequestRecord[] {
    return filter ? this.log.filter(filter) : [...this.log];
  }

  /** Request counts keyed "verb resource[ ns=..][ fieldSelector=..][ labelSelector=..]". */
  requestCounts(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort());
  }

  openWatches(): WatchInfo[] {
    return [...this.watches.values()].map((w) => ({ ...w.info }));
  }

  resetAccounting(): void {
    this.log.length = 0;
    this.counts.clear();
  }

  private record(r: RequestRecord): void {
    this.log.push(r);
    if (this.log.length > this.opts.requestLogLimit) this.log.splice(0, this.log.length - this.opts.requestLogLimit);
    const key = [r.verb, r.resource, r.namespace ? `ns=${r.namespace}` : '', r.fieldSelector ? `fieldSelector=${r.fieldSelector}` : '', r.labelSelector ? `labelSelector=${r.labelSelector}` : '']
      .filter(Boolean).join(' ');
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  // ---- faults -----------------------------------------------------------------------

  /** Every response waits this long first (watches: before their first byte). */
  setDelay(ms: number): void { this.faults.delayMs = ms; }

  /** The next `count` matching requests get `status` (default 500 InternalError). */
  failRequests(count: number, opts: { status?: number; match?: (r: RequestRecord) => boolean } = {}): void {
    this.faults.fail.push({ remaining: count, status: opts.status ?? 500, match: opts.match });
  }

  /** Open watches (matching) stop sending anything: no events, no bookmarks, no end at their timeout. */
  stallWatches(match: (w: WatchInfo) => boolean = () => true, alsoNew = false): number {
    let n = 0;
    for (const w of this.watches.values()) if (match(w.info)) { w.stalled = true; w.info.stalled = true; n++; }
    this.faults.stallNew = alsoNew;
    return n;
  }

  unstallWatches(): void {
    this.faults.stallNew = false;
    for (const w of this.watches.values()) w.unstall();
  }

  /** Cuts the TCP connections of open watches (matching), as a dying API server or LB would. */
  cutWatches(match: (w: WatchInfo) => boolean = () => true): number {
    let n = 0;
    for (const [id, w] of this.watches) {
      if (!match(w.info)) continue;
      w.close();
      this.watches.delete(id);
      w.res.socket?.destroy();
      n++;
    }
    return n;
  }

  /** Drops the whole change history: watches resuming from any earlier resourceVersion get 410. */
  compact(): void { this.store.compact(); }

  setHistoryLimit(n: number): void { this.store.setHistoryLimit(n); }

  // ---- HTTP -------------------------------------------------------------------------

  private sendJson(res: http.ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' });
    res.end(text);
  }

  private sendStatus(res: http.ServerResponse, e: StatusError): void {
    this.sendJson(res, e.code, statusObject(e.code, e.reason, e.message, e.details));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const q = url.searchParams;
    const rec: RequestRecord = { at: Date.now(), method: req.method ?? 'GET', verb: (req.method ?? 'get').toLowerCase(), resource: url.pathname, code: 0, path: `${url.pathname}${url.search}` };
    const done = (code: number) => { rec.code = code; this.record(rec); };
    try {
      if (this.faults.delayMs > 0) await sleep(this.faults.delayMs);
      const p = url.pathname.replace(/\/+$/, '') || '/';
      if (['/version', '/healthz', '/livez', '/readyz'].includes(p)) {
        done(200);
        if (p === '/version') return this.sendJson(res, 200, { major: '1', minor: '32', gitVersion: 'v1.32.0-tcpscope-test', gitCommit: '', gitTreeState: 'clean', buildDate: '2025-01-01T00:00:00Z', goVersion: 'go1.23', compiler: 'gc', platform: 'linux/amd64' });
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        return void res.end('ok');
      }
      const who = this.authenticate(req);
      rec.user = who?.user;
      const info = this.parsePath(p, req.method ?? 'GET', q);
      if (info && info !== 'discovery') {
        Object.assign(rec, { verb: info.verb, resource: resourceKey(info.def), namespace: info.namespace, name: info.name });
        if (q.get('fieldSelector')) rec.fieldSelector = q.get('fieldSelector')!;
        if (q.get('labelSelector')) rec.labelSelector = q.get('labelSelector')!;
        if (q.has('resourceVersion')) rec.resourceVersion = q.get('resourceVersion')!;
        if (q.has('limit')) rec.limit = q.get('limit')!;
        if (q.get('continue')) rec.continued = true;
      }
      if (!who) throw new StatusError(401, 'Unauthorized', 'Unauthorized');
      const fault = this.faults.fail.find((f) => f.remaining > 0 && (!f.match || f.match(rec)));
      if (fault && !p.startsWith('/_tcpscope')) {
        fault.remaining--;
        this.faults.fail = this.faults.fail.filter((f) => f.remaining > 0);
        throw new StatusError(fault.status, fault.status === 500 ? 'InternalError' : fault.status === 503 ? 'ServiceUnavailable' : 'InternalError', `Internal error occurred: injected fault (${fault.status})`);
      }
      if (p.startsWith('/_tcpscope/')) return this.handleAdmin(p, q, who, res, done);
      if (info === 'discovery') { done(200); return this.discovery(p, res); }
      if (!info) throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
      this.authorize(who, info);
      return await this.serve(info, q, req, res, who, done);
    } catch (err) {
      const e = err instanceof StatusError ? err
        : err instanceof SelectorError ? new StatusError(400, 'BadRequest', err.message)
        : new StatusError(500, 'InternalError', `Internal error occurred: ${err instanceof Error ? err.message : String(err)}`);
      done(e.code);
      if (!res.headersSent) this.sendStatus(res, e);
      else res.end();
    }
  }

  private authenticate(req: http.IncomingMessage): TokenIdentity | undefined {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    return m ? this.tokens.get(m[1]!) : undefined;
  }

  private authorize(who: TokenIdentity, info: RequestInfo): void {
    if (this.allowed(who, info.verb, info.def.resource, info.namespace)) return;
    const group = info.def.group;
    const scope = info.namespace !== undefined ? `in the namespace "${info.namespace}"` : 'at the cluster scope';
    const qualified = group ? `${info.def.resource}.${group}` : info.def.resource; // as the real server names it
    const what = info.name ? `${qualified} "${info.name}"` : qualified;
    throw new StatusError(403, 'Forbidden',
      `${what} is forbidden: User "${who.user}" cannot ${info.verb} resource "${info.def.resource}" in API group "${group}" ${scope}`,
      { ...(info.name ? { name: info.name } : {}), ...(group ? { group } : {}), kind: info.def.resource });
  }

  private allowed(who: TokenIdentity, verb: string, resource: string, namespace: string | undefined): boolean {
    if (who.rules === 'all') return true;
    return who.rules.some((r) => (r.verbs.includes('*') || r.verbs.includes(verb))
      && (r.resources.includes('*') || r.resources.includes(resource))
      && (!r.namespaces || (namespace !== undefined && r.namespaces.includes(namespace))));
  }

  /** Request info from the path, 'discovery', or undefined for an unknown path. */
  private parsePath(p: string, method: string, q: URLSearchParams): RequestInfo | 'discovery' | undefined {
    const seg = p.split('/').filter(Boolean);
    let group: string, version: string, rest: string[];
    if (seg[0] === 'api') {
      if (seg.length <= 2) return 'discovery';
      group = ''; version = seg[1]!; rest = seg.slice(2);
    } else if (seg[0] === 'apis') {
      if (seg.length <= 3) return 'discovery';
      group = seg[1]!; version = seg[2]!; rest = seg.slice(3);
    } else return undefined;
    let legacyWatch = false;
    if (rest[0] === 'watch') { legacyWatch = true; rest = rest.slice(1); }
    let namespace: string | undefined, resource: string, name: string | undefined, sub: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = rest[1]; resource = rest[2]!; name = rest[3]; sub = rest[4];
    } else {
      resource = rest[0]!; name = rest[1]; sub = rest[2];
    }
    const def = findResource(group, version, resource);
    if (!def) return undefined;
    if (!def.namespaced && namespace !== undefined) return undefined;
    const watch = legacyWatch || q.get('watch') === 'true' || q.get('watch') === '1';
    const m = method.toUpperCase();
    const verb = m === 'GET' ? (watch ? 'watch' : name ? 'get' : 'list')
      : m === 'POST' ? 'create' : m === 'PUT' ? 'update' : m === 'PATCH' ? 'patch'
      : m === 'DELETE' ? (name ? 'delete' : 'deletecollection') : m.toLowerCase();
    return { verb, def, namespace, name, subresource: sub };
  }

  private discovery(p: string, res: http.ServerResponse): void {
    if (p === '/api') return this.sendJson(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `${this.opts.host}:${this._port}` }] });
    const groups = [...new Set(RESOURCES.filter((d) => d.group).map((d) => `${d.group}/${d.version}`))];
    if (p === '/apis') {
      return this.sendJson(res, 200, {
        kind: 'APIGroupList', apiVersion: 'v1',
        groups: groups.map((gv) => {
          const [name, version] = gv.split('/') as [string, string];
          return { name, versions: [{ groupVersion: gv, version }], preferredVersion: { groupVersion: gv, version } };
        }),
      });
    }
    const seg = p.split('/').filter(Boolean);
    const gv = seg[0] === 'api' ? seg[1]! : `${seg[1]}/${seg[2] ?? ''}`;
    const defs = RESOURCES.filter((d) => apiVersionOf(d) === gv);
    if (!defs.length) return this.sendStatus(res, new StatusError(404, 'NotFound', 'the server could not find the requested resource'));
    this.sendJson(res, 200, {
      kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv,
      resources: defs.map((d) => ({ name: d.resource, singularName: d.kind.toLowerCase(), namespaced: d.namespaced, kind: d.kind, verbs: d.verbs, ...(d.shortNames ? { shortNames: d.shortNames } : {}) })),
    });
  }

  private async readBody(req: http.IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString();
    if (!text) return undefined;
    try {
      return JSON.parse(text);
    } catch {
      throw new StatusError(400, 'BadRequest', `the body of the request was in an unknown format - accepted media types include: application/json`);
    }
  }

  private async serve(info: RequestInfo, q: URLSearchParams, req: http.IncomingMessage, res: http.ServerResponse, who: TokenIdentity, done: (code: number) => void): Promise<void> {
    const { def } = info;
    const resKey = resourceKey(def);
    const key = info.name ? (def.namespaced ? `${info.namespace}/${info.name}` : info.name) : '';
    const notFound = () => new StatusError(404, 'NotFound', `${def.resource}${def.group ? `.${def.group}` : ''} "${info.name}" not found`, { name: info.name, ...(def.group ? { group: def.group } : {}), kind: def.resource });
    switch (info.verb) {
      case 'list': return this.serveList(info, q, res, done);
      case 'watch': return this.serveWatch(info, q, res, who, done);
      case 'get': {
        const o = this.store.get(resKey, key);
        if (!o) throw notFound();
        done(200);
        return this.sendJson(res, 200, withKind(def, o));
      }
      case 'create': {
        const body = (await this.readBody(req)) as KObject;
        if (def.resource === 'tokenreviews') { done(201); return this.sendJson(res, 201, this.tokenReview(body)); }
        const obj = this.normalise(def, body);
        if (info.namespace) obj.metadata.namespace = info.namespace;
        if (this.store.get(resKey, objectKey(obj))) throw new StatusError(409, 'AlreadyExists', `${def.resource} "${obj.metadata.name}" already exists`, { name: obj.metadata.name, kind: def.resource });
        const created = this.store.create(resKey, obj);
        done(201);
        return this.sendJson(res, 201, withKind(def, created));
      }
      case 'update': case 'patch': {
        const cur = this.store.get(resKey, key);
        if (!cur) throw notFound();
        const body = (await this.readBody(req)) as KObject;
        let next: KObject;
        if (info.verb === 'patch') {
          const ct = String(req.headers['content-type'] ?? '');
          if (ct.includes('json-patch+json')) throw new StatusError(415, 'UnsupportedMediaType', 'json patch is not supported by the test API server; use a merge patch');
          next = mergePatch(cur, body) as KObject;
        } else {
          next = this.normalise(def, body);
          const rv = next.metadata.resourceVersion;
          if (rv && rv !== cur.metadata.resourceVersion) {
            throw new StatusError(409, 'Conflict', `Operation cannot be fulfilled on ${def.resource}${def.group ? `.${def.group}` : ''} "${info.name}": the object has been modified; please apply your changes to the latest version and try again`, { name: info.name, kind: def.resource });
          }
          if (info.subresource === 'status') next = { ...cur, status: next.status };
        }
        next.metadata = { ...next.metadata, name: info.name, ...(def.namespaced ? { namespace: info.namespace } : {}) };
        const updated = this.store.update(resKey, next);
        done(200);
        return this.sendJson(res, 200, withKind(def, updated));
      }
      case 'delete': {
        const cur = this.store.get(resKey, key);
        if (!cur) throw notFound();
        const body = (await this.readBody(req).catch(() => undefined)) as { gracePeriodSeconds?: number } | undefined;
        const g = q.get('gracePeriodSeconds') ?? body?.gracePeriodSeconds;
        const gracePeriodSeconds = g === undefined || g === null ? undefined : Number(g);
        const out = this.delete(def.resource, info.namespace, info.name!, { gracePeriodSeconds, ...(gracePeriodSeconds === 0 ? { graceMs: 0 } : {}) });
        done(200);
        return this.sendJson(res, 200, withKind(def, out ?? cur));
      }
      default:
        throw new StatusError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
    }
  }

  private selection(info: RequestInfo, q: URLSearchParams): (o: KObject) => boolean {
    const labels: LabelRequirement[] = parseLabelSelector(q.get('labelSelector'));
    const fields = compileFieldSelector(info.def.resource, parseFieldSelector(q.get('fieldSelector')));
    const ns = info.namespace;
    return (o) => (ns === undefined || o.metadata.namespace === ns) && fields(o) && matchLabels(labels, o.metadata.labels);
  }

  private parseRv(text: string | null, what = 'resourceVersion'): number | undefined {
    if (text === null || text === '') return undefined;
    if (!/^\d+$/.test(text)) throw new StatusError(400, 'BadRequest', `${what}: Invalid value: "${text}": must be a non-negative integer`);
    return Number(text);
  }

  private serveList(info: RequestInfo, q: URLSearchParams, res: http.ServerResponse, done: (code: number) => void): void {
    const def = info.def;
    const resKey = resourceKey(def);
    const match = this.selection(info, q);
    const limitText = q.get('limit');
    const limit = limitText ? Number(limitText) : 0;
    if (limitText && (!Number.isInteger(limit) || limit < 0)) throw new StatusError(400, 'BadRequest', `limit: Invalid value: "${limitText}"`);
    let snapRv = this.store.resourceVersion;
    let startAfter = '';
    const cont = q.get('continue');
    const rv = this.parseRv(q.get('resourceVersion'));
    const rvMatch = q.get('resourceVersionMatch');
    if (rvMatch && !['Exact', 'NotOlderThan'].includes(rvMatch)) throw new StatusError(400, 'BadRequest', `resourceVersionMatch: Unsupported value: "${rvMatch}": supported values: "Exact", "NotOlderThan"`);
    if (rvMatch && rv === undefined) throw new StatusError(422, 'Invalid', `resourceVersionMatch is forbidden unless resourceVersion is provided`);
    if (cont) {
      if (rv !== undefined) throw new StatusError(422, 'Invalid', 'specifying resource version is not allowed when using continue');
      let token: { rv?: number; start?: string };
      try {
        token = JSON.parse(Buffer.from(cont, 'base64').toString());
      } catch {
        throw new StatusError(400, 'BadRequest', 'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
      }
      if (typeof token.rv !== 'number' || typeof token.start !== 'string') throw new StatusError(400, 'BadRequest', 'continue key is not valid: invalid start key');
      if (token.rv < this.store.oldestWatchableRv) {
        throw new StatusError(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.');
      }
      snapRv = token.rv;
      startAfter = token.start.replace(/\u0000$/, '');
    } else if (rv !== undefined && rv > 0) {
      if (rv > this.store.resourceVersion) {
        throw new StatusError(504, 'Timeout', `Too large resource version: ${rv}, current: ${this.store.resourceVersion}`, { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }], retryAfterSeconds: 1 });
      }
      if (rvMatch === 'Exact' || (rvMatch === undefined && limit > 0)) {
        if (rv < this.store.oldestWatchableRv) throw new StatusError(410, 'Expired', `too old resource version: ${rv} (${this.store.oldestWatchableRv})`);
        snapRv = rv;
      }
    }
    let items: Array<[string, KObject]>;
    try {
      items = this.store.snapshot(resKey, snapRv);
    } catch (err) {
      if (err instanceof ExpiredError) throw new StatusError(410, 'Expired', err.message);
      throw err;
    }
    let i = 0;
    if (startAfter) {
      let lo = 0, hi = items.length;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (items[mid]![0] <= startAfter) lo = mid + 1; else hi = mid; }
      i = lo;
    }
    const out: KObject[] = [];
    for (; i < items.length && (limit === 0 || out.length < limit); i++) if (match(items[i]![1])) out.push(items[i]![1]);
    const metadata: Record<string, unknown> = { resourceVersion: String(snapRv) };
    if (limit > 0 && i < items.length) {
      metadata.continue = Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: snapRv, start: `${out.length ? objectKey(out[out.length - 1]!) : startAfter}\u0000` })).toString('base64');
      if (!q.get('labelSelector') && !q.get('fieldSelector') && !info.namespace) metadata.remainingItemCount = items.length - i;
    }
    done(200);
    const head = `{"kind":"${def.kind}List","apiVersion":"${apiVersionOf(def)}","metadata":${JSON.stringify(metadata)},"items":[`;
    const body = head + out.map((o) => JSON.stringify(o)).join(',') + ']}';
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-cache, private' });
    res.end(body);
  }

  private serveWatch(info: RequestInfo, q: URLSearchParams, res: http.ServerResponse, who: TokenIdentity, done: (code: number) => void): void {
    const def = info.def;
    const resKey = resourceKey(def);
    const match = this.selection(info, q);
    const rvText = q.get('resourceVersion');
    const rv = this.parseRv(rvText);
    const bookmarks = q.get('allowWatchBookmarks') === 'true' || q.get('allowWatchBookmarks') === '1';
    const sendInitial = q.get('sendInitialEvents') === 'true';
    if (sendInitial && (q.get('resourceVersionMatch') !== 'NotOlderThan' || !bookmarks)) {
      throw new StatusError(422, 'Invalid', `sendInitialEvents requires setting resourceVersionMatch to NotOlderThan and allowWatchBookmarks to true`);
    }
    const timeoutText = q.get('timeoutSeconds');
    const timeoutSec = timeoutText ? Number(timeoutText) : this.opts.defaultWatchTimeoutSec * (1 + Math.random());
    if (!Number.isFinite(timeoutSec) || timeoutSec < 0) throw new StatusError(400, 'BadRequest', `timeoutSeconds: Invalid value: "${timeoutText}"`);
    done(200);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
    res.flushHeaders();
    const id = this.nextWatchId++;
    const winfo: WatchInfo = {
      id, resource: resKey, namespace: info.namespace, fieldSelector: q.get('fieldSelector') || undefined, labelSelector: q.get('labelSelector') || undefined,
      user: who.user, startedAt: Date.now(), sent: 0, stalled: false,
    };
    const w = new WatchStream(id, def, res, winfo, match);
    // Once authorised and the resourceVersion parsed, the real server reports a too old
    // resourceVersion as an ERROR event on a 200 stream (cacher: newErrWatcher), then ends it.
    let replay: Change[] | undefined;
    if (rv !== undefined && rv > 0 && !sendInitial) {
      try {
        replay = this.store.changesSince(resKey, rv);
      } catch (err) {
        if (!(err instanceof ExpiredError)) throw err;
        res.end(`{"type":"ERROR","object":${JSON.stringify(statusObject(410, 'Expired', err.message))}}\n`);
        return;
      }
    }
    this.watches.set(id, w);
    res.on('close', () => {
      w.close();
      this.watches.delete(id);
    });
    if (replay) {
      for (const c of replay) w.deliver(c);
    } else {
      // no resourceVersion, "0", or sendInitialEvents: the current state as ADDED events first
      for (const [, o] of this.store.snapshot(resKey, this.store.resourceVersion)) if (match(o)) w.write(eventLine(def, 'ADDED', o));
      if (sendInitial) w.write(this.bookmarkLine(def, true));
    }
    if (this.faults.stallNew) { w.stalled = true; winfo.stalled = true; }
    if (bookmarks) w.every(this.opts.bookmarkIntervalMs, () => { if (!w.stalled) w.write(this.bookmarkLine(def, false)); });
    w.later(timeoutSec * 1000, () => {
      this.watches.delete(id);
      w.end();
    });
  }

  /** A BOOKMARK: only kind, apiVersion and metadata.resourceVersion, as the real server sends. */
  private bookmarkLine(def: ResourceDef, initialEventsEnd: boolean): string {
    const metadata: Record<string, unknown> = { resourceVersion: String(this.store.resourceVersion), creationTimestamp: null };
    if (initialEventsEnd) metadata.annotations = { 'k8s.io/initial-events-end': 'true' };
    return `{"type":"BOOKMARK","object":${JSON.stringify({ kind: def.kind, apiVersion: apiVersionOf(def), metadata })}}\n`;
  }

  private tokenReview(body: KObject): unknown {
    const spec = (body?.spec ?? {}) as { token?: string; audiences?: string[] };
    if (typeof spec.token !== 'string') throw new StatusError(422, 'Invalid', 'TokenReview.authentication.k8s.io "" is invalid: spec.token: Required value');
    const id = this.tokens.get(spec.token);
    const wanted = spec.audiences?.length ? spec.audiences : this.opts.apiAudiences;
    const base = { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: null }, spec };
    if (!id) return { ...base, status: { user: {}, error: '[invalid bearer token, square/go-jose: error in cryptographic primitive]' } };
    const has = id.audiences ?? this.opts.apiAudiences;
    const audiences = wanted.filter((a) => has.includes(a));
    if (!audiences.length) {
      return { ...base, status: { user: {}, error: `[invalid bearer token, token audiences ${JSON.stringify(has)} is invalid for the target audiences ${JSON.stringify(wanted)}]` } };
    }
    return { ...base, status: { authenticated: true, user: { username: id.user, uid: id.uid ?? '', groups: id.groups ?? ['system:authenticated'] }, audiences } };
  }

  private handleAdmin(p: string, q: URLSearchParams, who: TokenIdentity, res: http.ServerResponse, done: (code: number) => void): void {
    if (who.rules !== 'all') throw new StatusError(403, 'Forbidden', `User "${who.user}" cannot use the test server's control endpoints`);
    done(200);
    switch (p) {
      case '/_tcpscope/stats': return this.sendJson(res, 200, { resourceVersion: this.store.resourceVersion, requests: this.requestCounts(), openWatches: this.openWatches() });
      case '/_tcpscope/cut': return this.sendJson(res, 200, { cut: this.cutWatches() });
      case '/_tcpscope/stall': return this.sendJson(res, 200, q.get('on') === '0' ? (this.unstallWatches(), { stalled: 0 }) : { stalled: this.stallWatches(() => true, q.get('new') === '1') });
      case '/_tcpscope/delay': this.setDelay(Number(q.get('ms') ?? 0)); return this.sendJson(res, 200, { delayMs: Number(q.get('ms') ?? 0) });
      case '/_tcpscope/fail': this.failRequests(Number(q.get('n') ?? 1), { status: Number(q.get('status') ?? 500) }); return this.sendJson(res, 200, { ok: true });
      case '/_tcpscope/compact': this.compact(); return this.sendJson(res, 200, { compactedTo: this.store.resourceVersion });
      default: throw new StatusError(404, 'NotFound', 'no such control endpoint');
    }
  }
}
