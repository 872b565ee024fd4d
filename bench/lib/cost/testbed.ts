// The cost benchmark's network: a client and a server network namespace ("tcpsb-<pid>-...",
// apart from the tests' "tcps-" ones) joined by a veth pair, addressed from 198.18.0.0/15
// only, with the veth offloads switchable per profile (64 KB sessions run with MTU 1500 and
// TSO/GSO/GRO off, so every segment is a packet). remove() is synchronous so signal handlers
// can call it; stale namespaces of dead bench runs are removed at creation.
import { execFileSync } from 'node:child_process';

import { listNamespaces, removeStaleNamespaces as removeStaleNamespacesWithPrefix } from '../../../test/lib/netns';

export const BED_PREFIX = 'tcpsb-';

export interface Testbed {
  clientNs: string;
  serverNs: string;
  clientAddr: string;   // 198.x.y.1
  serverAddr: string;   // 198.x.y.2
  clientDev: string;
  serverDev: string;
  /** Offloads on (the kernel's defaults) or off (tso, gso, gro) on both veth ends; needs ethtool. */
  setOffloads(on: boolean): void;
  /** `ethtool -k` of the client end, the lines that matter (for the log). */
  offloadState(): string;
  remove(): void;
}

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(e.stderr ?? '').trim() || e.message}`);
  }
}



/** Deletes BED_PREFIX namespaces whose creating process is gone (test/lib/netns.ts does it for any prefix). */
export function removeStaleBeds(): string[] {
  return removeStaleNamespacesWithPrefix(BED_PREFIX);
}

/** A /24 of 198.18.0.0/15 that no live namespace uses (so nobody else's traffic mixes with ours). */
function freeSubnet(): [number, number] {
  const used = new Set<string>();
  for (const ns of listNamespaces()) {
    try {
      const out = run('ip', ['-n', ns, '-4', '-o', 'addr', 'show']);
      for (const m of out.matchAll(/inet 198\.(18|19)\.(\d+)\./g)) used.add(`${m[1]}.${m[2]}`);
    } catch { /* going away */ }
  }
  for (let i = 0; i < 200; i++) {
    const second = Math.random() < 0.5 ? 18 : 19;
    const third = 1 + Math.floor(Math.random() * 254);
    if (!used.has(`${second}.${third}`)) return [second, third];
  }
  throw new Error('no free /24 in 198.18.0.0/15 for the cost benchmark');
}

let serial = 0;

export function createTestbed(): Testbed {
  removeStaleBeds();
  const id = `${BED_PREFIX}${process.pid}-${++serial}`;
  const clientNs = `${id}-c`, serverNs = `${id}-s`;
  const [second, third] = freeSubnet();
  const clientAddr = `198.${second}.${third}.1`, serverAddr = `198.${second}.${third}.2`;
  const clientDev = 'veth0', serverDev = 'veth1';
  let removed = false;
  const remove = () => {
    if (removed) return;
    removed = true;
    for (const ns of [clientNs, serverNs]) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch { /* not there */ }
    }
  };
  try {
    for (const ns of [clientNs, serverNs]) {
      run('ip', ['netns', 'add', ns]);
      run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    run('ip', ['-n', clientNs, 'link', 'add', clientDev, 'type', 'veth', 'peer', 'name', serverDev, 'netns', serverNs]);
    for (const [ns, dev, addr] of [[clientNs, clientDev, clientAddr], [serverNs, serverDev, serverAddr]] as const) {
      run('ip', ['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev]);
      run('ip', ['-n', ns, 'link', 'set', dev, 'mtu', '1500', 'up']);
    }
    // The client reuses ports quickly (it closes second, so it keeps no TIME_WAIT): the
    // widest range keeps a reused port's server-side TIME_WAIT old. The server keeps the
    // TIME_WAITs; a bound keeps their later expiry work small (beyond it they are skipped).
    run('ip', ['netns', 'exec', clientNs, 'sysctl', '-q', '-w', 'net.ipv4.ip_local_port_range=1024 65535']);
    run('ip', ['netns', 'exec', serverNs, 'sysctl', '-q', '-w', 'net.ipv4.tcp_max_tw_buckets=32768']);
  } catch (err) {
    remove();
    throw err;
  }
  const both: Array<[string, string]> = [[clientNs, clientDev], [serverNs, serverDev]];
  return {
    clientNs, serverNs, clientAddr, serverAddr, clientDev, serverDev,
    setOffloads(on) {
      const v = on ? 'on' : 'off';
      for (const [ns, dev] of both) run('ip', ['netns', 'exec', ns, 'ethtool', '-K', dev, 'tso', v, 'gso', v, 'gro', v]);
    },
    offloadState() {
      const out = run('ip', ['netns', 'exec', clientNs, 'ethtool', '-k', clientDev]);
      return out.split('\n').filter((l) => /^(tcp-segmentation-offload|generic-segmentation-offload|generic-receive-offload):/.test(l))
        .map((l) => l.replace(/\s+/g, ' ').trim()).join(', ');
    },
    remove,
  };
}
