// What a file path inside a rendered container is: which volume mount holds it, and where its
// content comes from (a key of a Secret the chart renders or cert-manager fills, a projected
// ServiceAccount token, a host path, a writable emptyDir or claim). Used by the policy checks
// and by the chart-and-code test, which puts real files where the manifests point.
import type { K8sObject, Rendered } from './renderer';

export type FileSource =
  | { kind: 'secret'; secretName: string; key: string; data?: string; fromCertManager?: K8sObject }
  | { kind: 'token'; audience: string }
  | { kind: 'hostPath'; hostPath: string }
  | { kind: 'emptyDir' | 'pvc'; claim?: string };

export interface MountedFile { mountPath: string; readOnly: boolean; volume: string; source: FileSource }

export function containerOf(workload: K8sObject, name?: string): any {
  const cs = workload.spec.template.spec.containers as any[];
  return name ? cs.find((c) => c.name === name) : cs[0];
}

export function envOf(container: any): Map<string, { value?: string; fieldRef?: string }> {
  const out = new Map<string, { value?: string; fieldRef?: string }>();
  for (const e of container.env ?? []) out.set(e.name, e.valueFrom?.fieldRef ? { fieldRef: e.valueFrom.fieldRef.fieldPath } : { value: e.value });
  return out;
}

/** The file at `file` in `container` of `workload`, traced to its source; throws when nothing provides it. */
export function resolveFile(r: Rendered, workload: K8sObject, container: any, file: string): MountedFile {
  const mounts = (container.volumeMounts ?? []) as Array<{ name: string; mountPath: string; readOnly?: boolean; subPath?: string }>;
  const m = mounts
    .filter((v) => file === v.mountPath || file.startsWith(`${v.mountPath.replace(/\/$/, '')}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  if (!m) throw new Error(`${workload.metadata.name}/${container.name}: no volume is mounted at ${file}`);
  const rel = file.slice(m.mountPath.replace(/\/$/, '').length + 1);
  const vol = (workload.spec.template.spec.volumes as any[]).find((v) => v.name === m.name);
  if (!vol) throw new Error(`${workload.metadata.name}: volumeMount ${m.name} has no volume`);
  const base = { mountPath: m.mountPath, readOnly: !!m.readOnly, volume: m.name };
  if (vol.secret && rel === '') return { ...base, source: { kind: 'secret', secretName: vol.secret.secretName, key: '' } };
  if (vol.secret) {
    let key = rel;
    if (vol.secret.items) {
      const item = (vol.secret.items as Array<{ key: string; path: string }>).find((i) => i.path === rel);
      if (!item) throw new Error(`${workload.metadata.name}: secret volume ${m.name} projects no item at ${rel} (${file})`);
      key = item.key;
    }
    const secretName: string = vol.secret.secretName;
    const secret = r.objects.map((o) => o.object).find((o) => o.kind === 'Secret' && o.metadata.name === secretName);
    if (secret) {
      const data = secret.data?.[key];
      if (data === undefined) throw new Error(`Secret ${secretName} has no key ${key} (mounted at ${file})`);
      return { ...base, source: { kind: 'secret', secretName, key, data: Buffer.from(data, 'base64').toString('utf8') } };
    }
    const cert = r.objects.map((o) => o.object).find((o) => o.kind === 'Certificate' && o.spec.secretName === secretName);
    if (cert && ['tls.crt', 'tls.key', 'ca.crt'].includes(key)) return { ...base, source: { kind: 'secret', secretName, key, fromCertManager: cert } };
    throw new Error(`${file}: neither a rendered Secret nor a cert-manager Certificate provides Secret ${secretName}`);
  }
  if (vol.projected && rel === '') {
    const sa = (vol.projected.sources as any[]).find((s) => s.serviceAccountToken);
    if (sa) return { ...base, source: { kind: 'token', audience: sa.serviceAccountToken.audience } };
  }
  if (vol.projected) {
    const src = (vol.projected.sources as any[]).find((s) => s.serviceAccountToken?.path === rel);
    if (!src) throw new Error(`${file}: projected volume ${m.name} has no ${rel}`);
    return { ...base, source: { kind: 'token', audience: src.serviceAccountToken.audience } };
  }
  if (vol.hostPath) return { ...base, source: { kind: 'hostPath', hostPath: `${vol.hostPath.path}/${rel}`.replace(/\/$/, '') } };
  if (vol.emptyDir) return { ...base, source: { kind: 'emptyDir' } };
  if (vol.persistentVolumeClaim) return { ...base, source: { kind: 'pvc', claim: vol.persistentVolumeClaim.claimName } };
  throw new Error(`${file}: volume ${m.name} is of an unexpected type`);
}
