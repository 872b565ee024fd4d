// Runs a rendered container as a local process, as the kubelet would run it: the image's
// ENTRYPOINT (from the Dockerfile stage of that component) mapped to this checkout's build,
// the container's args, and exactly its env. Mounted files become temporary files with the
// content the manifests give them (Secrets' data), host paths stay host paths, writable
// volumes become temp dirs; env values that point into a mount are mapped to the local copy.
// In a private mount namespace the kubelet's ServiceAccount mount and /etc/hosts (the
// cluster DNS name of the collector) are bound in, so nothing else in the env changes.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { containerOf, resolveFile } from './pod-files';
import { repoRoot, type K8sObject, type Rendered } from './renderer';

export const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** ENTRYPOINT of a Dockerfile stage (exec form). */
export function dockerEntrypoint(target: string): string[] {
  const text = fs.readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');
  const stages = text.split(/^FROM /m).slice(1);
  const stage = stages.find((s) => new RegExp(`^\\S+ AS ${target}\\s`, 'i').test(s));
  if (!stage) throw new Error(`Dockerfile has no stage ${target}`);
  const m = /^ENTRYPOINT (\[.*\])$/m.exec(stage);
  if (!m) throw new Error(`Dockerfile stage ${target} has no exec-form ENTRYPOINT`);
  return JSON.parse(m[1]) as string[];
}

export interface LocalPod {
  /** temp dir holding the pod's local files */
  dir: string;
  argv: string[];
  env: Record<string, string>;
  /** mountPath -> local path */
  mounts: Record<string, string>;
  cleanup(): void;
}

export interface LocalPodOptions {
  nodeName: string;
  /** group that may read Secret files and owns writable volumes (the pod's fsGroup) */
  fsGroup?: number;
  /** the ServiceAccount files the kubelet mounts (token, ca.crt, namespace) */
  serviceAccount?: { token: string; caCert: string; namespace: string };
  /** the kubelet's projected ServiceAccount token for an audience */
  projectedToken?: (audience: string) => string;
  /** env the kubelet adds (KUBERNETES_SERVICE_HOST/PORT) */
  kubeletEnv?: Record<string, string>;
}

export function localPod(r: Rendered, workload: K8sObject, containerName: string, opts: LocalPodOptions): LocalPod {
  const c = containerOf(workload, containerName);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `tcpscope-pod-${containerName}-`));
  fs.chmodSync(tmp, 0o755);
  const mounts: Record<string, string> = {};
  let n = 0;
  for (const m of c.volumeMounts as Array<{ name: string; mountPath: string }>) {
    const src = resolveFile(r, workload, c, m.mountPath).source;
    if (src.kind === 'hostPath') {
      mounts[m.mountPath] = src.hostPath;
      continue;
    }
    const dir = path.join(tmp, `vol${n++}-${m.name}`);
    fs.mkdirSync(dir, { mode: 0o755 });
    if (src.kind === 'secret') {
      const vol = (workload.spec.template.spec.volumes as any[]).find((v) => v.name === m.name);
      const secret = r.objects.map((o) => o.object).find((o) => o.kind === 'Secret' && o.metadata.name === vol.secret.secretName);
      if (!secret) throw new Error(`Secret ${vol.secret.secretName} is not rendered (cert-manager?): cannot run it locally`);
      const items: Array<{ key: string; path: string }> = vol.secret.items ?? Object.keys(secret.data).map((k) => ({ key: k, path: k }));
      for (const it of items) {
        const f = path.join(dir, it.path);
        fs.writeFileSync(f, Buffer.from(secret.data[it.key], 'base64'), { mode: vol.secret.defaultMode ?? 0o644 });
        fs.chmodSync(f, vol.secret.defaultMode ?? 0o644);
        if (opts.fsGroup !== undefined) fs.chownSync(f, 0, opts.fsGroup);
      }
    } else if (src.kind === 'token') {
      if (!opts.projectedToken) throw new Error(`${m.mountPath}: a projected ServiceAccount token (audience ${src.audience}) needs opts.projectedToken`);
      const vol = (workload.spec.template.spec.volumes as any[]).find((v) => v.name === m.name);
      for (const s of vol.projected.sources as any[])
        if (s.serviceAccountToken) fs.writeFileSync(path.join(dir, s.serviceAccountToken.path), opts.projectedToken(s.serviceAccountToken.audience), { mode: 0o644 });
    } else if (src.kind === 'emptyDir' || src.kind === 'pvc') {
      if (opts.fsGroup !== undefined) fs.chownSync(dir, 0, opts.fsGroup);
      fs.chmodSync(dir, 0o2775);
    } else {
      throw new Error(`${m.mountPath}: ${src.kind} volumes are not mapped locally`);
    }
    mounts[m.mountPath] = dir;
  }
  const local = (value: string) => {
    const mp = Object.keys(mounts).filter((p) => value === p || value.startsWith(`${p}/`)).sort((a, b) => b.length - a.length)[0];
    return mp ? mounts[mp] + value.slice(mp.length) : value;
  };
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (e.valueFrom) {
      if (e.valueFrom.fieldRef?.fieldPath !== 'spec.nodeName') throw new Error(`${e.name}: only spec.nodeName is mapped locally`);
      env[e.name] = opts.nodeName;
    } else {
      env[e.name] = e.value.startsWith('/') ? local(e.value) : e.value;
    }
  }
  if (opts.serviceAccount) {
    const sa = path.join(tmp, 'serviceaccount');
    fs.mkdirSync(sa, { mode: 0o755 });
    fs.writeFileSync(path.join(sa, 'token'), opts.serviceAccount.token, { mode: 0o644 });
    fs.writeFileSync(path.join(sa, 'ca.crt'), opts.serviceAccount.caCert, { mode: 0o644 });
    fs.writeFileSync(path.join(sa, 'namespace'), opts.serviceAccount.namespace, { mode: 0o644 });
    mounts[SA_DIR] = sa;
  }
  const target = workload.metadata.labels!['app.kubernetes.io/component'];
  const entry = dockerEntrypoint(target);
  if (c.command) throw new Error(`${target}: the chart overrides the image's ENTRYPOINT; map it here`);
  if (entry.join(' ') !== '/usr/local/bin/node /app/dist/cli/main.js') throw new Error(`${target}: unexpected ENTRYPOINT ${entry.join(' ')}`);
  const argv = [process.execPath, path.join(repoRoot, 'dist', 'cli', 'main.js'), ...(c.args ?? [])];
  return { dir: tmp, argv, env: { ...env, ...opts.kubeletEnv }, mounts, cleanup: () => fs.rmSync(tmp, { recursive: true, force: true }) };
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export interface SpawnOptions {
  /** uid:gid to run as (setpriv), e.g. the pod's runAsUser:runAsGroup */
  user?: string;
  /** lines added to /etc/hosts (cluster DNS names -> 127.0.0.1) */
  hosts?: string[];
  /** run this argv instead of the pod's (same env and mounts) */
  argv?: string[];
  /** keep only these capabilities (the container's securityContext.capabilities.add) */
  capabilities?: string[];
}

/** Starts the pod's process in a private mount namespace (needs root). */
export function spawnLocalPod(pod: LocalPod, opts: SpawnOptions = {}): ChildProcess {
  const lines = ['set -e'];
  if (pod.mounts[SA_DIR]) lines.push(`mount --bind ${q(pod.mounts[SA_DIR])} ${q(SA_DIR)}`);
  if (opts.hosts?.length) {
    const hosts = path.join(pod.dir, 'hosts');
    fs.writeFileSync(hosts, `${fs.readFileSync('/etc/hosts', 'utf8').trimEnd()}\n${opts.hosts.join('\n')}\n`, { mode: 0o644 });
    lines.push(`mount --bind ${q(hosts)} /etc/hosts`);
  }
  const [uid, gid] = (opts.user ?? '').split(':');
  const priv = opts.user ? ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--inh-caps=-all', '--'] : [];
  if (opts.capabilities) priv.push('setpriv', `--bounding-set=-all,${opts.capabilities.map((c) => `+${c.toLowerCase()}`).join(',')}`, '--');
  const env = Object.entries({ PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: os.tmpdir(), ...pod.env }).map(([k, v]) => q(`${k}=${v}`));
  lines.push(`exec ${[...priv, 'env', '-i'].join(' ')} ${env.join(' ')} ${(opts.argv ?? pod.argv).map(q).join(' ')}`);
  return spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', lines.join('\n')], { stdio: ['ignore', 'pipe', 'pipe'] });
}
