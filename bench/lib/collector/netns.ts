// Two network namespaces joined by a veth pair for the freshness benchmark's real TCP
// sessions: "tcpsf-<pid>-<n>-c" (198.18.N.1) and "-s" (198.18.N.2), addresses only from
// 198.18.0.0/15, N a /24 no namespace on the machine uses. Namespaces left by a dead run
// (its pid gone) are removed first; cleanup() removes ours and kills what runs inside, and
// runs on exit too.
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';

import { listNamespaces, removeStaleNamespaces as removeStaleNamespacesWithPrefix } from '../../../test/lib/netns';

export const NS_PREFIX = 'tcpsf-';

export interface NetnsHost {
  ns: string;
  addr: string;
  spawn(cmd: string, args: string[]): ChildProcess;
}

export interface NetnsPair {
  client: NetnsHost;
  server: NetnsHost;
  cleanup(): Promise<void>;
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => execFile(cmd, args, { timeout: 20_000 }, (err, out, errOut) =>
    (err ? reject(new Error(`${cmd} ${args.join(' ')}: ${String(errOut).trim() || err.message}`)) : resolve(out))));
}



/** Deletes NS_PREFIX namespaces whose creating process is gone (test/lib/netns.ts does it for any prefix). */
export function removeStaleNamespaces(): void {
  removeStaleNamespacesWithPrefix(NS_PREFIX);
}

/** A /24 of 198.18.0.0/15 that no namespace (ours or anyone's) and not the host use. */
async function freeSubnet(): Promise<number> {
  const used = new Set<number>();
  const scan = (out: string) => {
    for (const m of out.matchAll(/inet 198\.(18|19)\.(\d+)\./g)) used.add((m[1] === '19' ? 256 : 0) + Number(m[2]));
  };
  scan(await run('ip', ['-4', '-o', 'addr', 'show']).catch(() => ''));
  for (const ns of listNamespaces()) scan(await run('ip', ['-n', ns, '-4', '-o', 'addr', 'show']).catch(() => ''));
  for (let i = 0; i < 200; i++) {
    const n = 1 + Math.floor(Math.random() * 510);
    if (!used.has(n)) return n;
  }
  throw new Error('no free /24 in 198.18.0.0/15');
}

let counter = 0;
const pairs = new Set<() => void>();
process.on('exit', () => {
  for (const c of pairs) c();
});

export async function createNetnsPair(): Promise<NetnsPair> {
  removeStaleNamespaces();
  const id = `${NS_PREFIX}${process.pid}-${++counter}`;
  const subnet = await freeSubnet();
  const prefix = `198.${subnet >= 256 ? 19 : 18}.${subnet % 256}`;
  const names = [`${id}-c`, `${id}-s`];
  const children = new Set<ChildProcess>();
  let cleaned = false;
  const killAll = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };
  // on exit, synchronously: the children and the namespaces
  const onExit = () => {
    killAll();
    for (const ns of names) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch { /* not there */ }
    }
  };
  pairs.add(onExit);
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    pairs.delete(onExit);
    killAll();
    for (const ns of names) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
  };
  const host = (ns: string, addr: string): NetnsHost => ({
    ns, addr,
    spawn(cmd, args) {
      const c = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.add(c);
      c.on('exit', () => children.delete(c));
      return c;
    },
  });
  const client = host(names[0]!, `${prefix}.1`);
  const server = host(names[1]!, `${prefix}.2`);
  try {
    for (const ns of names) {
      await run('ip', ['netns', 'add', ns]);
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    await run('ip', ['-n', client.ns, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1', 'netns', server.ns]);
    for (const [h, dev] of [[client, 'veth0'], [server, 'veth1']] as const) {
      await run('ip', ['-n', h.ns, 'addr', 'add', `${h.addr}/24`, 'dev', dev]);
      await run('ip', ['-n', h.ns, 'link', 'set', dev, 'up']);
    }
  } catch (err) {
    await cleanup();
    throw err;
  }
  return { client, server, cleanup };
}
