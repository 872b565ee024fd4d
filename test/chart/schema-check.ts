// Checks one rendered object against the Kubernetes schemas: kubernetes-models validates
// types, required fields and formats (core kinds, cert-manager, Prometheus Operator); the
// field lists of @kubernetes/client-node's models catch unknown fields (a misspelt or
// misplaced key that kubectl would reject or silently drop).
import * as path from 'node:path';
import type { K8sObject } from './renderer';

const modelPackages: Record<string, string> = {
  'cert-manager.io': '@kubernetes-models/cert-manager',
  'monitoring.coreos.com': '@kubernetes-models/prometheus-operator',
};

/** kubernetes-models' validate(): throws with the failing paths. */
export function validateSchema(o: K8sObject): void {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  const pkg = modelPackages[group] ?? 'kubernetes-models';
  const mod = path.posix.join(pkg, group, version, o.kind);
  let Model: any;
  try {
    Model = require(mod)[o.kind];
  } catch (err) {
    throw new Error(`no schema for ${o.apiVersion} ${o.kind} (${mod}): ${(err as Error).message}`);
  }
  if (!Model) throw new Error(`no model ${o.kind} in ${mod}`);
  try {
    new Model(o).validate();
  } catch (err) {
    throw new Error(`${o.kind}/${o.metadata.name}: ${(err as Error).message}`);
  }
}

let k8s: Record<string, any> | undefined;

/** Paths of fields the Kubernetes API does not define (core API groups only). */
export function unknownFields(o: K8sObject): string[] {
  if (o.apiVersion.includes('.') && !o.apiVersion.includes('.k8s.io')) return [];
  k8s ??= require('@kubernetes/client-node') as Record<string, any>;
  const version = o.apiVersion.split('/').pop()!;
  const type = `${version[0].toUpperCase()}${version.slice(1)}${o.kind}`;
  if (!k8s[type]?.getAttributeTypeMap) return [`(no client-node model ${type})`];
  return walk(o, type, o.kind);
}

function walk(value: unknown, type: string, at: string): string[] {
  if (value === null || value === undefined) return [];
  let m = /^Array<(.+)>$/.exec(type);
  if (m && Array.isArray(value)) return value.flatMap((v, i) => walk(v, m![1], `${at}[${i}]`));
  m = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (m && typeof value === 'object') return Object.entries(value as object).flatMap(([k, v]) => walk(v, m![1], `${at}.${k}`));
  const model = k8s![type];
  if (!model?.getAttributeTypeMap || typeof value !== 'object') return [];
  const known = new Map<string, string>((model.getAttributeTypeMap() as Array<{ baseName: string; type: string }>).map((a) => [a.baseName, a.type]));
  const out: string[] = [];
  for (const [k, v] of Object.entries(value as object)) {
    const t = known.get(k);
    if (t === undefined) out.push(`${at}.${k}`);
    else out.push(...walk(v, t, `${at}.${k}`));
  }
  return out;
}
