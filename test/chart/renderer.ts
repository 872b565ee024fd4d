// Renders charts/tcpscope for the chart tests without helm: builds test/chart/render (Go,
// text/template + sprig, Debian's libraries in GOPATH mode) once per source version, then
// runs it for a values file. Objects come back as parsed JSON, with NOTES.txt and the
// merged values.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const repoRoot = path.resolve(__dirname, '..', '..', '..');
export const chartDir = path.join(repoRoot, 'charts', 'tcpscope');
export const valuesDir = path.join(repoRoot, 'test', 'chart', 'values');
const renderSrc = path.join(repoRoot, 'test', 'chart', 'render');

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: any;
}
export interface Rendered {
  objects: Array<{ template: string; object: K8sObject }>;
  notes: string;
  values: Record<string, any>;
}

const goEnv = (cache: string) => ({ ...process.env, GO111MODULE: 'off', GOPATH: '/usr/share/gocode', GOCACHE: path.join(cache, 'go-build'), GOFLAGS: '' });

function cacheDir(): string {
  const want = process.env.TCPSCOPE_IMAGE_CACHE ?? '/var/cache/tcpscope';
  try {
    fs.mkdirSync(want, { recursive: true });
    fs.accessSync(want, fs.constants.W_OK);
    return want;
  } catch {
    const d = path.join(os.tmpdir(), 'tcpscope-cache');
    fs.mkdirSync(d, { recursive: true });
    return d;
  }
}

/** Why the renderer cannot be built here, or null. Installs Go and the libraries when root. */
export function rendererSkipReason(): string | null {
  if (process.getuid?.() === 0) {
    const r = spawnSync('bash', [path.join(repoRoot, 'scripts', 'image-deps.sh')], { encoding: 'utf8' });
    if (r.status !== 0) return `scripts/image-deps.sh failed: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`;
  }
  if (spawnSync('go', ['version']).status !== 0) return 'Go is not installed (run scripts/image-deps.sh as root)';
  if (!fs.existsSync('/usr/share/gocode/src/github.com/Masterminds/sprig')) return 'golang-github-masterminds-sprig-dev is not installed (run scripts/image-deps.sh as root)';
  return null;
}

let binary: string | undefined;

/** Builds the renderer (cached by the hash of its source). */
export function buildRenderer(): string {
  if (binary) return binary;
  const src = fs.readFileSync(path.join(renderSrc, 'main.go'));
  const hash = createHash('sha256').update(src).digest('hex').slice(0, 16);
  const cache = cacheDir();
  const out = path.join(cache, `chart-render-${hash}`);
  if (!fs.existsSync(out)) {
    const tmp = `${out}.${process.pid}`;
    execFileSync('go', ['build', '-o', tmp, '.'], { cwd: renderSrc, env: goEnv(cache), stdio: ['ignore', 'ignore', 'pipe'] });
    fs.renameSync(tmp, out);
  }
  binary = out;
  return out;
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  kubeVersion?: string;
  apiVersions?: string[];
}

/** Renders with values.yaml plus the given values files (paths, or names under test/chart/values). */
export function render(valueFiles: string[] = [], opts: RenderOptions = {}): Rendered {
  const r = tryRender(valueFiles, opts);
  if ('error' in r) throw new Error(r.error);
  return r;
}

export function tryRender(valueFiles: string[] = [], opts: RenderOptions = {}): Rendered | { error: string } {
  const args = ['-chart', chartDir, '-release', opts.release ?? 'tcpscope', '-namespace', opts.namespace ?? 'observability'];
  if (opts.kubeVersion) args.push('-kube-version', opts.kubeVersion);
  if (opts.apiVersions) args.push('-api-versions', opts.apiVersions.join(','));
  for (const f of valueFiles) args.push('-f', path.isAbsolute(f) ? f : path.join(valuesDir, f));
  const r = spawnSync(buildRenderer(), args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) return { error: r.stderr.trim() || `renderer exited with ${r.status}` };
  return JSON.parse(r.stdout) as Rendered;
}

/** The one object of a kind (and name suffix), or an error naming what was there. */
export function one(r: Rendered, kind: string, nameSuffix = ''): K8sObject {
  const found = r.objects.map((o) => o.object).filter((o) => o.kind === kind && o.metadata.name.endsWith(nameSuffix));
  if (found.length !== 1) throw new Error(`expected one ${kind} *${nameSuffix}, found ${found.map((o) => o.metadata.name).join(', ') || 'none'}`);
  return found[0];
}

export function all(r: Rendered, kind: string): K8sObject[] {
  return r.objects.map((o) => o.object).filter((o) => o.kind === kind);
}
