// Builders for the objects tests and the demo put into the test API server: pods with IPs,
// owners and containers; services; nodes; workload objects. Real field names and shapes.
import { randomUUID } from 'node:crypto';
import type { KObject } from './selectors';

export interface PodSpec {
  name: string;
  namespace?: string;
  node?: string;
  ip?: string;
  /** Dual-stack: every address (status.podIPs); the first is status.podIP unless `ip` is set. */
  ips?: string[];
  uid?: string;
  labels?: Record<string, string>;
  owner?: { kind: string; name: string; uid?: string; apiVersion?: string };
  containers?: Array<{ name: string; id?: string; ports?: number[] }>;
  initContainers?: Array<{ name: string; id?: string }>;
  hostNetwork?: boolean;
  phase?: string;
}

export function pod(p: PodSpec): KObject {
  const ips = p.ips ?? (p.ip ? [p.ip] : []);
  const containers = p.containers ?? [{ name: 'main' }];
  const status = (c: { name: string; id?: string }, init: boolean) => ({
    name: c.name, image: 'busybox:1.36', imageID: '', ready: !init, restartCount: 0, started: !init,
    containerID: c.id ? (c.id.includes('://') ? c.id : `containerd://${c.id}`) : undefined,
    state: init ? { terminated: { exitCode: 0, reason: 'Completed' } } : { running: { startedAt: '2025-01-01T00:00:00Z' } },
  });
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name: p.name, namespace: p.namespace ?? 'default', uid: p.uid ?? randomUUID(), labels: p.labels ?? {},
      ...(p.owner ? { ownerReferences: [{ apiVersion: p.owner.apiVersion ?? ownerApiVersion(p.owner.kind), kind: p.owner.kind, name: p.owner.name, uid: p.owner.uid ?? randomUUID(), controller: true, blockOwnerDeletion: true }] } : {}),
    },
    spec: {
      ...(p.node ? { nodeName: p.node } : {}),
      ...(p.hostNetwork ? { hostNetwork: true } : {}),
      terminationGracePeriodSeconds: 30,
      containers: containers.map((c) => ({ name: c.name, image: 'busybox:1.36', ...(c.ports ? { ports: c.ports.map((port) => ({ containerPort: port, protocol: 'TCP' })) } : {}) })),
      ...(p.initContainers ? { initContainers: p.initContainers.map((c) => ({ name: c.name, image: 'busybox:1.36' })) } : {}),
    },
    status: {
      phase: p.phase ?? (p.node ? 'Running' : 'Pending'),
      ...(ips.length ? { podIP: p.ip ?? ips[0], podIPs: ips.map((ip) => ({ ip })) } : {}),
      ...(p.hostNetwork && ips.length ? { hostIP: ips[0] } : {}),
      containerStatuses: containers.map((c) => status(c, false)),
      ...(p.initContainers ? { initContainerStatuses: p.initContainers.map((c) => status(c, true)) } : {}),
    },
  };
}

export function ownerApiVersion(kind: string): string {
  return ['ReplicaSet', 'Deployment', 'StatefulSet', 'DaemonSet'].includes(kind) ? 'apps/v1'
    : ['Job', 'CronJob'].includes(kind) ? 'batch/v1' : 'v1';
}

export function node(name: string, internalIPs: string[], externalIPs: string[] = []): KObject {
  return {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name, uid: randomUUID(), labels: { 'kubernetes.io/hostname': name } },
    spec: {},
    status: { addresses: [...internalIPs.map((a) => ({ type: 'InternalIP', address: a })), ...externalIPs.map((a) => ({ type: 'ExternalIP', address: a })), { type: 'Hostname', address: name }] },
  };
}

export function service(name: string, namespace: string, clusterIPs: string[], selector: Record<string, string> = {}): KObject {
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name, namespace, uid: randomUUID() },
    spec: { clusterIP: clusterIPs[0] ?? 'None', clusterIPs: clusterIPs.length ? clusterIPs : ['None'], selector, ports: [{ port: 80, protocol: 'TCP' }], type: 'ClusterIP' },
  };
}

/** A workload object (ReplicaSet, Job, ...) with an optional controller owner. */
export function workload(kind: string, name: string, namespace: string, owner?: { kind: string; name: string }): KObject {
  return {
    apiVersion: ownerApiVersion(kind), kind,
    metadata: {
      name, namespace, uid: randomUUID(),
      ...(owner ? { ownerReferences: [{ apiVersion: ownerApiVersion(owner.kind), kind: owner.kind, name: owner.name, uid: randomUUID(), controller: true }] } : {}),
    },
    spec: {},
  };
}

export function namespace(name: string): KObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, uid: randomUUID() }, spec: {}, status: { phase: 'Active' } };
}
