// Kubernetes objects cut down to what attribution needs (memory: 50k pods must stay small),
// checked once here at the edge. Accepts raw watch JSON and client-node's typed objects
// (whose timestamps are Date objects). A malformed object throws MalformedObjectError.

import { bytesToIp, ipToBytes } from '../../common/addr';

export class MalformedObjectError extends Error {}

export interface Meta {
  name: string;
  namespace?: string;
  uid: string;
  resourceVersion?: string;
}

export interface ContainerRef {
  name: string;
  /** Runtime id without the "containerd://" prefix; empty until the container started. */
  id: string;
  init: boolean;
}

export interface PodInfo {
  metadata: Meta & { namespace: string };
  node: string;
  /** status.podIPs (dual-stack), else status.podIP; empty before the pod has an address. */
  ips: string[];
  hostNetwork: boolean;
  phase: string;
  createdUs: number;
  /** metadata.deletionTimestamp (the deadline) in µs, when the pod is terminating. */
  deletionUs?: number;
  /** The controlling owner reference. */
  owner?: { kind: string; name: string };
  containers?: ContainerRef[];
  /** containerPort -> container name, only for pods with several containers. */
  ports?: Array<[number, string]>;
}

export interface ServiceInfo {
  metadata: Meta & { namespace: string };
  clusterIPs: string[];
  createdUs: number;
}

export interface NodeInfo {
  metadata: Meta;
  internalIPs: string[];
  externalIPs: string[];
  podCIDRs: string[];
  createdUs: number;
}

/** A ReplicaSet or Job: only who controls it. */
export interface OwnerInfo {
  metadata: Meta & { namespace: string };
  kind: 'ReplicaSet' | 'Job';
  owner?: { kind: string; name: string };
}

// Repeated strings (namespaces, nodes, owner names) share one copy.
const interned = new Map<string, string>();
export function intern(s: string): string {
  const hit = interned.get(s);
  if (hit !== undefined) return hit;
  if (interned.size > 200_000) interned.clear();
  interned.set(s, s);
  return s;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function str(v: unknown, what: string, required = true): string {
  if (typeof v === 'string' && (v !== '' || !required)) return v;
  if (v === undefined && !required) return '';
  throw new MalformedObjectError(`${what} must be a${required ? ' non-empty' : ''} string, got ${JSON.stringify(v)}`);
}

/** metav1.Time (RFC 3339 string or Date) in µs since the epoch; `fallback` when absent. */
export function timeUs(v: unknown, what: string, fallback?: number): number {
  if ((v === undefined || v === null) && fallback !== undefined) return fallback;
  const ms = v instanceof Date ? v.getTime() : typeof v === 'string' ? Date.parse(v) : NaN;
  if (!Number.isFinite(ms)) throw new MalformedObjectError(`${what} is not a time: ${JSON.stringify(v)}`);
  return ms * 1000;
}

function meta(o: unknown, kind: string, namespaced: boolean): Meta & { namespace: string } {
  if (!isObj(o) || !isObj(o.metadata)) throw new MalformedObjectError(`${kind} without metadata`);
  const m = o.metadata;
  const name = str(m.name, `${kind} metadata.name`);
  return {
    name,
    namespace: namespaced ? intern(str(m.namespace, `${kind} ${name} metadata.namespace`)) : '',
    uid: str(m.uid, `${kind} ${name} metadata.uid`),
    resourceVersion: typeof m.resourceVersion === 'string' ? m.resourceVersion : undefined,
  };
}

function controller(o: Obj): { kind: string; name: string } | undefined {
  const refs = (o.metadata as Obj).ownerReferences;
  if (!Array.isArray(refs)) return undefined;
  const c = refs.find((r) => isObj(r) && r.controller === true) ?? (refs.length === 1 ? refs[0] : undefined);
  if (!isObj(c) || typeof c.kind !== 'string' || typeof c.name !== 'string') return undefined;
  return { kind: intern(c.kind), name: intern(c.name) };
}

function ipList(list: unknown, what: string): string[] {
  if (!Array.isArray(list)) return [];
  return list.map((x, i) => normaliseIp(str(isObj(x) ? x.ip : x, `${what}[${i}]`)));
}

/** One text form per address: lower case, IPv4-mapped IPv6 as plain IPv4. */
export function normaliseIp(ip: string): string {
  if (!ip.includes(':')) return ip;
  const l = ip.toLowerCase();
  if (l.startsWith('::ffff:') && l.includes('.')) return l.slice(7);
  try {
    return bytesToIp(ipToBytes(l)); // RFC 5952 form, as Kubernetes and ntop() print it
  } catch {
    return l;
  }
}

export function trimPod(raw: unknown, opts: { containers?: boolean } = {}): PodInfo {
  const m = meta(raw, 'Pod', true);
  const o = raw as Obj;
  const spec = isObj(o.spec) ? o.spec : {};
  const status = isObj(o.status) ? o.status : {};
  let ips = ipList(status.podIPs, `Pod ${m.name} status.podIPs`);
  if (!ips.length && typeof status.podIP === 'string' && status.podIP) ips = [normaliseIp(status.podIP)];
  const md = o.metadata as Obj;
  const pod: PodInfo = {
    metadata: m,
    node: intern(str(spec.nodeName, `Pod ${m.name} spec.nodeName`, false)),
    ips,
    hostNetwork: spec.hostNetwork === true,
    phase: intern(str(status.phase, `Pod ${m.name} status.phase`, false)),
    createdUs: timeUs(md.creationTimestamp, `Pod ${m.name} metadata.creationTimestamp`, 0),
  };
  if (md.deletionTimestamp !== undefined && md.deletionTimestamp !== null) pod.deletionUs = timeUs(md.deletionTimestamp, `Pod ${m.name} metadata.deletionTimestamp`);
  const owner = controller(o);
  if (owner) pod.owner = owner;
  const specContainers = Array.isArray(spec.containers) ? spec.containers.filter(isObj) : [];
  if (specContainers.length > 1) {
    const ports: Array<[number, string]> = [];
    for (const c of specContainers) {
      if (!Array.isArray(c.ports)) continue;
      for (const p of c.ports) if (isObj(p) && typeof p.containerPort === 'number' && typeof c.name === 'string') ports.push([p.containerPort, intern(c.name)]);
    }
    if (ports.length) pod.ports = ports;
  }
  if (opts.containers) {
    const refs: ContainerRef[] = [];
    const add = (list: unknown, init: boolean) => {
      if (!Array.isArray(list)) return;
      for (const s of list) {
        if (!isObj(s) || typeof s.name !== 'string') continue;
        const id = typeof s.containerID === 'string' ? s.containerID.replace(/^[a-z-]+:\/\//, '') : '';
        refs.push({ name: s.name, id, init });
      }
    };
    add(status.initContainerStatuses, true);
    add(status.containerStatuses, false);
    add(status.ephemeralContainerStatuses, false);
    pod.containers = refs;
  }
  return pod;
}

export function trimService(raw: unknown): ServiceInfo {
  const m = meta(raw, 'Service', true);
  const o = raw as Obj;
  const spec = isObj(o.spec) ? o.spec : {};
  let ips = Array.isArray(spec.clusterIPs) ? spec.clusterIPs.filter((x): x is string => typeof x === 'string') : [];
  if (!ips.length && typeof spec.clusterIP === 'string') ips = [spec.clusterIP];
  return {
    metadata: m,
    clusterIPs: ips.filter((ip) => ip && ip !== 'None').map(normaliseIp),
    createdUs: timeUs((o.metadata as Obj).creationTimestamp, `Service ${m.name} metadata.creationTimestamp`, 0),
  };
}

export function trimNode(raw: unknown): NodeInfo {
  const m = meta(raw, 'Node', false);
  const o = raw as Obj;
  const status = isObj(o.status) ? o.status : {};
  const spec = isObj(o.spec) ? o.spec : {};
  const addrs = Array.isArray(status.addresses) ? status.addresses.filter(isObj) : [];
  const of = (type: string) => addrs.filter((a) => a.type === type && typeof a.address === 'string').map((a) => normaliseIp(a.address as string));
  const cidrs = Array.isArray(spec.podCIDRs) ? spec.podCIDRs.filter((x): x is string => typeof x === 'string')
    : typeof spec.podCIDR === 'string' ? [spec.podCIDR] : [];
  return {
    metadata: { name: m.name, uid: m.uid, resourceVersion: m.resourceVersion },
    internalIPs: of('InternalIP'), externalIPs: of('ExternalIP'), podCIDRs: cidrs,
    createdUs: timeUs((o.metadata as Obj).creationTimestamp, `Node ${m.name} metadata.creationTimestamp`, 0),
  };
}

export function trimOwner(kind: 'ReplicaSet' | 'Job'): (raw: unknown) => OwnerInfo {
  return (raw) => {
    const m = meta(raw, kind, true);
    const owner = controller(raw as Obj);
    return { metadata: m, kind, ...(owner ? { owner } : {}) };
  };
}
