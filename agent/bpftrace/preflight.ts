// Checks, before bpftrace is started, that this host can run our programs, with one
// specific error per missing piece (bpftrace, root/CAP_SYS_ADMIN, tracefs, BTF, a
// tracepoint), mounts tracefs when root and it is not mounted, and reports the kernel
// features found (the KernelFeatures message of proto/tcpscope/v1/ingest.proto).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { KernelFeatures } from '../../gen/tcpscope/v1/ingest';
import { readTracepointFormat, TRACEFS_ROOTS, type KernelFormats } from './program';

export type PreflightProblem = 'no-bpftrace' | 'not-privileged' | 'no-tracefs' | 'no-btf' | 'no-tracepoint';

export class PreflightError extends Error {
  constructor(readonly problem: PreflightProblem, message: string) {
    super(message);
    this.name = 'PreflightError';
  }
}

export interface PreflightOptions {
  bpftrace?: string;                      // binary (default "bpftrace")
  /** Tracepoints needed, "category:name"; default both of ours. */
  tracepoints?: string[];
  /** For tests: where to look. */
  tracefsRoots?: string[];
  btfPath?: string;
  procStatus?: string;                    // /proc/self/status
  uid?: number;
  /** Mount tracefs when missing and root (default true). */
  mountTracefs?: boolean;
}

export interface Preflight {
  features: KernelFeatures;
  formats: KernelFormats;
  tracefsRoot: string;
  /** We mounted tracefs ourselves. */
  mountedTracefs: boolean;
}

const CAP_SYS_ADMIN = 21n;
export const NEEDED_TRACEPOINTS = ['sock:inet_sock_set_state', 'tcp:tcp_retransmit_skb'];

/** "bpftrace v0.17.0" -> "0.17.0". Throws PreflightError when the binary is missing. */
export function bpftraceVersion(bin = 'bpftrace'): string {
  let out: string;
  try {
    out = execFileSync(bin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new PreflightError('no-bpftrace', `bpftrace is not installed (no "${bin}" on PATH); on Debian/Ubuntu: apt-get install bpftrace (or set TCPSCOPE_BPFTRACE to its path)`);
    throw new PreflightError('no-bpftrace', `"${bin} --version" failed: ${(err as Error).message}`);
  }
  const m = /v?(\d+\.\d+(?:\.\d+)?\S*)/.exec(out);
  return m ? m[1]! : out.trim();
}

function hasCapSysAdmin(statusText: string): boolean {
  const m = /^CapEff:\s*([0-9a-fA-F]+)/m.exec(statusText);
  return m ? ((BigInt(`0x${m[1]}`) >> CAP_SYS_ADMIN) & 1n) === 1n : false;
}

function findTracefs(roots: string[]): string | undefined {
  return roots.find((r) => existsSync(path.join(r, 'events')));
}

/** Runs every check; throws PreflightError naming the first problem and how to fix it. */
export function preflight(opts: PreflightOptions = {}): Preflight {
  const version = bpftraceVersion(opts.bpftrace);

  const uid = opts.uid ?? process.getuid?.() ?? -1;
  let status = '';
  try {
    status = readFileSync(opts.procStatus ?? '/proc/self/status', 'utf8');
  } catch { /* not Linux: caught below */ }
  if (uid !== 0 && !hasCapSysAdmin(status))
    throw new PreflightError('not-privileged', `bpftrace needs root or CAP_SYS_ADMIN (running as uid ${uid} without it): run as root, e.g. sudo tcpscope ...`);

  const roots = opts.tracefsRoots ?? TRACEFS_ROOTS;
  let tracefsRoot = findTracefs(roots);
  let mountedTracefs = false;
  if (!tracefsRoot) {
    const target = roots[0]!;
    if ((opts.mountTracefs ?? true) && uid === 0 && existsSync(target)) {
      try {
        execFileSync('mount', ['-t', 'tracefs', 'tracefs', target], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
        mountedTracefs = true;
      } catch (err) {
        throw new PreflightError('no-tracefs', `tracefs is not mounted and mounting it failed (mount -t tracefs tracefs ${target}: ${((err as { stderr?: Buffer }).stderr ?? '').toString().trim() || (err as Error).message})`);
      }
      tracefsRoot = findTracefs([target]);
    }
    if (!tracefsRoot)
      throw new PreflightError('no-tracefs', `tracefs is not mounted (looked in ${roots.join(', ')}): run "mount -t tracefs tracefs ${target}" as root${uid === 0 ? '' : ' (not root: cannot mount it here)'}`);
  }

  const btfPath = opts.btfPath ?? '/sys/kernel/btf/vmlinux';
  const btf = existsSync(btfPath);
  if (!btf)
    throw new PreflightError('no-btf', `the kernel has no BTF (${btfPath} is missing): the programs read struct tcp_sock and struct sock, which needs a kernel built with CONFIG_DEBUG_INFO_BTF=y`);

  const needed = opts.tracepoints ?? NEEDED_TRACEPOINTS;
  for (const tp of needed) {
    const [cat, name] = tp.split(':') as [string, string];
    if (!existsSync(path.join(tracefsRoot, 'events', cat, name, 'format')))
      throw new PreflightError('no-tracepoint', `tracepoint ${tp} is missing from this kernel (${path.join(tracefsRoot, 'events', cat, name)}); tcpscope needs Linux >= 4.16 for sock:inet_sock_set_state and tcp:tcp_retransmit_skb`);
  }
  let formats: KernelFormats;
  try {
    formats = {
      setState: readTracepointFormat('sock', 'inet_sock_set_state', tracefsRoot),
      retransmit: readTracepointFormat('tcp', 'tcp_retransmit_skb', tracefsRoot),
    };
  } catch (err) {
    throw new PreflightError('no-tracepoint', (err as Error).message);
  }

  return {
    features: {
      kernelRelease: os.release(),
      retransmitErrField: formats.retransmit.fields.has('err'),
      btf,
      tracepoints: needed,
      bpftraceVersion: version,
    },
    formats,
    tracefsRoot,
    mountedTracefs,
  };
}
