// Runs programs from a built image's filesystem without a container engine: `podman image
// mount` gives the (read-only) root; a private mount namespace (unshare -m) binds the host's
// /proc, /sys and /dev into it, adds tmpfs where a pod would have writable volumes, and
// chroots. The mounts vanish with the namespace, even when a test fails.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

export const repoRoot = path.resolve(__dirname, '..', '..', '..');
export const AGENT_IMAGE = `${process.env.TCPSCOPE_IMAGE_PREFIX ?? 'localhost/tcpscope'}-agent:${process.env.TCPSCOPE_IMAGE_TAG ?? 'dev'}`;
export const COLLECTOR_IMAGE = `${process.env.TCPSCOPE_IMAGE_PREFIX ?? 'localhost/tcpscope'}-collector:${process.env.TCPSCOPE_IMAGE_TAG ?? 'dev'}`;

/** Why images cannot be built and run here, or null. */
export function imageSkipReason(): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'needs root (debootstrap, podman build, chroot, bpftrace)';
  return null;
}

export interface BuildResult { target: string; image: string; seconds: number; cached: boolean }

/** scripts/image-build.sh (base via debootstrap, then the images; cached by input hash). */
export function buildImages(targets: string[]): BuildResult[] {
  const out = execFileSync('bash', [path.join(repoRoot, 'scripts', 'image-build.sh'), ...targets], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 20 * 60_000 });
  return out.trim().split('\n').filter((l) => /^\S+ \S+ \d+ (built|cached)$/.test(l)).map((l) => {
    const [target, image, seconds, how] = l.split(' ');
    return { target, image, seconds: Number(seconds), cached: how === 'cached' };
  });
}

export function imageSizeBytes(image: string): number {
  return Number(execFileSync('podman', ['image', 'inspect', '--format', '{{.Size}}', image], { encoding: 'utf8' }).trim());
}

export function mountImage(image: string): string {
  return execFileSync('podman', ['image', 'mount', image], { encoding: 'utf8' }).trim();
}

export function unmountImage(image: string): void {
  spawnSync('podman', ['image', 'unmount', image], { stdio: 'ignore' });
}

export interface RunOptions {
  env?: Record<string, string>;
  /** user:group to run as (chroot --userspec) */
  user?: string;
  /** tmpfs mounts inside the root: path -> mount options (e.g. uid=65532) */
  tmpfs?: Record<string, string>;
  /** capabilities the program keeps (bounding set, e.g. ['sys_admin']); default all of root's */
  capabilities?: string[];
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Starts argv inside the image root; stdout/stderr piped. */
export function runInImage(root: string, argv: string[], opts: RunOptions = {}): ChildProcess {
  const lines = ['set -e'];
  for (const d of ['proc', 'sys', 'dev']) lines.push(`mount --rbind /${d} ${q(`${root}/${d}`)}`);
  for (const [p, o] of Object.entries(opts.tmpfs ?? { '/tmp': 'mode=1777' })) lines.push(`mount -t tmpfs -o ${q(o || 'mode=1777')} tmpfs ${q(root + p)}`);
  const env = Object.entries({ PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/tmp', ...opts.env }).map(([k, v]) => q(`${k}=${v}`));
  const inner = [...(opts.capabilities ? ['setpriv', `--bounding-set=-all,${opts.capabilities.map((c) => `+${c}`).join(',')}`, '--'] : []), 'env', '-i', ...env, ...argv.map(q)];
  // setpriv runs inside the root (util-linux is in the image): chroot itself needs CAP_SYS_CHROOT
  lines.push(`exec chroot ${opts.user ? `--userspec=${opts.user} ` : ''}${q(root)} ${inner.join(' ')}`);
  return spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', lines.join('\n')], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs to completion; output and exit code. */
export function runInImageSync(root: string, argv: string[], opts: RunOptions = {}, timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = runInImage(root, argv, opts);
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d) => (stdout += d));
    p.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
