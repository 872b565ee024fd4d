// The resources the test API server serves, with the facts discovery and paths need:
// group/version, plural, kind, scope. Mirrors what a real v1.32 server lists for them.

export interface ResourceDef {
  group: string; // '' for the core group
  version: string;
  resource: string; // plural, as in the path
  kind: string;
  namespaced: boolean;
  shortNames?: string[];
  verbs: string[];
}

const RW = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export const RESOURCES: ResourceDef[] = [
  { group: '', version: 'v1', resource: 'pods', kind: 'Pod', namespaced: true, shortNames: ['po'], verbs: RW },
  { group: '', version: 'v1', resource: 'services', kind: 'Service', namespaced: true, shortNames: ['svc'], verbs: RW },
  { group: '', version: 'v1', resource: 'nodes', kind: 'Node', namespaced: false, shortNames: ['no'], verbs: RW },
  { group: '', version: 'v1', resource: 'namespaces', kind: 'Namespace', namespaced: false, shortNames: ['ns'], verbs: RW },
  { group: 'apps', version: 'v1', resource: 'replicasets', kind: 'ReplicaSet', namespaced: true, shortNames: ['rs'], verbs: RW },
  { group: 'apps', version: 'v1', resource: 'deployments', kind: 'Deployment', namespaced: true, shortNames: ['deploy'], verbs: RW },
  { group: 'apps', version: 'v1', resource: 'statefulsets', kind: 'StatefulSet', namespaced: true, shortNames: ['sts'], verbs: RW },
  { group: 'apps', version: 'v1', resource: 'daemonsets', kind: 'DaemonSet', namespaced: true, shortNames: ['ds'], verbs: RW },
  { group: 'batch', version: 'v1', resource: 'jobs', kind: 'Job', namespaced: true, verbs: RW },
  { group: 'batch', version: 'v1', resource: 'cronjobs', kind: 'CronJob', namespaced: true, shortNames: ['cj'], verbs: RW },
  { group: 'authentication.k8s.io', version: 'v1', resource: 'tokenreviews', kind: 'TokenReview', namespaced: false, verbs: ['create'] },
];

export function apiVersionOf(d: ResourceDef): string {
  return d.group ? `${d.group}/${d.version}` : d.version;
}

/** 'pods', 'apps/deployments': the key a resource is stored and counted under. */
export function resourceKey(d: ResourceDef): string {
  return d.group ? `${d.group}/${d.resource}` : d.resource;
}

export function findResource(group: string, version: string, resource: string): ResourceDef | undefined {
  return RESOURCES.find((d) => d.group === group && d.version === version && d.resource === resource);
}

/** By plural ('pods', 'deployments') or kind ('Pod', 'Deployment'). */
export function resourceByName(name: string): ResourceDef {
  const d = RESOURCES.find((r) => r.resource === name || r.kind === name || resourceKey(r) === name);
  if (!d) throw new Error(`unknown resource "${name}"`);
  return d;
}
