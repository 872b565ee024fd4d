// Real networks for kernel tests: two test hosts in network namespaces (names "tcps-...")
// joined by a veth pair, addressed only from 198.18.0.0/15 and 2001:db8::/32, with helpers
// to run commands inside, drop packets on a port with nftables, read the kernel's TCP
// counters, and run the known-bytes workload (test/lib/workload.ts). Cleanup always runs.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import type { TestContext } from 'node:test';

export const NS_PREFIX = 'tcps-';
const WORKLOAD = path.join(__dirname, 'workload.js');

export interface Host {
  ns: string;
  addr4: string;   // 198.18.x.y
  addr6: string;   // 2001:db8:x::y
  /** Runs a command in this namespace; rejects with its stderr on a non-zero exit. */
  exec(cmd: string, args: string[], opts?: { timeoutMs?: number }): Promise<string>;
  /** Starts a long-running command in this namespace (killed by cleanup). */
  spawn(cmd: string, args: string[]): ChildProcess;
}

export interface TestNet {
  client: Host;
  server: Host;
  /** Drops `percent`% of the TCP segments with payload arriving at `host` for local port `port` (its INPUT hook). */
  dropOnInput(host: Host, port: number, percent: number): Promise<void>;
  /** TcpRetransSegs of the namespace (/proc/net/snmp, read inside it). */
  retransSegs(host: Host): Promise<number>;
  cleanup(): Promise<void>;
}

function run(cmd: string, args: string[], timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

/** Names of the network namespaces `ip netns` knows. */
export function listNamespaces(): string[] {
  try {
    return readdirSync('/run/netns');
  } catch {
    return [];
  }
}

/** The process exists (EPERM: it exists, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Deletes namespaces named `<prefix><pid>-...` whose creating process is gone (left by
 * crashed runs): tests use tcps-, the benchmarks their own prefixes.
 */
export function removeStaleNamespaces(prefix = NS_PREFIX): string[] {
  const removed: string[] = [];
  for (const ns of listNamespaces()) {
    if (!ns.startsWith(prefix)) continue;
    const pid = Number(/^(\d+)-/.exec(ns.slice(prefix.length))?.[1]);
    if (pid && processAlive(pid)) continue;
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      removed.push(ns);
    } catch { /* gone meanwhile */ }
  }
  return removed;
}

/** A /24 (of 198.18.0.0/15) that no live tcps- namespace uses, so parallel test files never see each other's traffic. */
async function freeSubnet(): Promise<number> {
  const used = new Set<number>();
  for (const ns of listNamespaces().filter((n) => n.startsWith(NS_PREFIX))) {
    try {
      const out = await run('ip', ['-n', ns, '-4', '-o', 'addr', 'show']);
      for (const m of out.matchAll(/inet 198\.(18|19)\.(\d+)\./g)) used.add((m[1] === '19' ? 256 : 0) + Number(m[2]));
    } catch { /* namespace going away */ }
  }
  for (let i = 0; i < 100; i++) {
    const n = 1 + Math.floor(Math.random() * 510);
    if (!used.has(n)) return n;
  }
  throw new Error('no free 198.18.0.0/15 subnet for a test network');
}

let counter = 0;

/**
 * Two hosts ("client" and "server") joined by veth: 198.18.N.1 / 198.18.N.2 (or 198.19.*),
 * 2001:db8:N::1 / ::2. Registers cleanup with the test context when given (runs even when
 * the test fails); call cleanup() yourself otherwise.
 */
export interface TestNetOptions {
  /** gso_max_segs of both veth ends; 1 = one segment per skb (no GSO batching). Default: the kernel's. */
  gsoMaxSegs?: number;
}

export async function createTestNet(t?: TestContext, opts: TestNetOptions = {}): Promise<TestNet> {
  removeStaleNamespaces();
  const id = `${NS_PREFIX}${process.pid}-${++counter}`;
  const subnet = await freeSubnet();
  const third = subnet % 256, second = subnet >= 256 ? 19 : 18;
  const children = new Set<ChildProcess>();
  const names = [`${id}-c`, `${id}-s`];
  let cleaned = false;

  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const ns of names) await run('ip', ['netns', 'del', ns]).catch(() => undefined); // nft rules go with the namespace
  };
  t?.after(cleanup);

  const host = (ns: string, last: number): Host => ({
    ns,
    addr4: `198.${second}.${third}.${last}`,
    addr6: `2001:db8:${subnet.toString(16)}::${last}`,
    exec: (cmd, args, opts) => run('ip', ['netns', 'exec', ns, cmd, ...args], opts?.timeoutMs),
    spawn(cmd, args) {
      const c = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.add(c);
      c.on('exit', () => children.delete(c));
      return c;
    },
  });
  const client = host(names[0]!, 1);
  const server = host(names[1]!, 2);
  try {
    for (const ns of names) {
      await run('ip', ['netns', 'add', ns]);
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    await run('ip', ['-n', client.ns, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1', 'netns', server.ns]);
    for (const [h, dev] of [[client, 'veth0'], [server, 'veth1']] as const) {
      await run('ip', ['-n', h.ns, 'addr', 'add', `${h.addr4}/24`, 'dev', dev]);
      await run('ip', ['-n', h.ns, 'addr', 'add', `${h.addr6}/64`, 'dev', dev, 'nodad']);
      if (opts.gsoMaxSegs) await run('ip', ['-n', h.ns, 'link', 'set', dev, 'gso_max_segs', String(opts.gsoMaxSegs)]);
      await run('ip', ['-n', h.ns, 'link', 'set', dev, 'up']);
    }
  } catch (err) {
    await cleanup();
    throw err;
  }

  return {
    client,
    server,
    async dropOnInput(h, port, percent) {
      if (!(percent >= 0 && percent <= 100)) throw new Error(`drop percent must be 0..100, got ${percent}`);
      // only segments with payload (meta length > 200: bigger than any header-only segment),
      // so handshakes and FINs get through and the retransmits are data in ESTABLISHED
      const rules = `table inet tcps_loss {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport ${port} meta length > 200 numgen random mod 100 < ${percent} counter drop
  }
}
`;
      await new Promise<void>((resolve, reject) => {
        const c = spawn('ip', ['netns', 'exec', h.ns, 'nft', '-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
        let err = '';
        c.stderr!.on('data', (d) => (err += d));
        c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`nft in ${h.ns}: ${err.trim()}`))));
        c.stdin!.end(rules);
      });
    },
    async retransSegs(h) {
      const snmp = await h.exec('cat', ['/proc/net/snmp']);
      const tcp = snmp.split('\n').filter((l) => l.startsWith('Tcp:'));
      if (tcp.length < 2) throw new Error(`no Tcp lines in /proc/net/snmp of ${h.ns}`);
      const names = tcp[0]!.split(/\s+/), values = tcp[1]!.split(/\s+/);
      const i = names.indexOf('RetransSegs');
      if (i < 0) throw new Error('RetransSegs missing from /proc/net/snmp');
      return Number(values[i]);
    },
    cleanup,
  };
}

// ---- the workload: known connections with known byte counts ------------------------------

export interface WorkloadConn {
  laddr: string;
  lport: number;
  raddr: string;
  rport: number;
  txBytes: number;   // payload the client sent (8-byte header included)
  rxBytes: number;   // payload the client received
  closer: 'client' | 'server';
}

export interface WorkloadServer {
  ports: number[];
  stop(): Promise<void>;
}

/** Starts the workload server in `h` on each port (addr: h.addr4 or h.addr6). Resolves once it listens. */
export async function startWorkloadServer(h: Host, addr: string, ports: number[]): Promise<WorkloadServer> {
  const c = h.spawn(process.execPath, [WORKLOAD, 'server', addr, ports.join(',')]);
  let err = '';
  c.stderr!.on('data', (d) => (err += d));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    c.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('listening')) resolve();
    });
    c.on('exit', (code) => reject(new Error(`workload server exited (${code}): ${err.trim()}`)));
  });
  return {
    ports,
    async stop() {
      if (c.exitCode !== null || c.signalCode !== null) return;
      const done = new Promise((r) => c.on('exit', r));
      c.kill('SIGTERM');
      await done;
    },
  };
}

export interface WorkloadPlan {
  raddr: string;
  rport: number;
  conns: number;
  upBytes: number;     // payload after the 8-byte header
  downBytes: number;
  /** Who closes first; 'alternate' switches per connection. */
  closer?: 'client' | 'server' | 'alternate';
  concurrency?: number;
}

/** Runs the workload client in `h`; resolves with one entry per finished connection. */
export async function runWorkloadClient(h: Host, plan: WorkloadPlan, timeoutMs = 60_000): Promise<WorkloadConn[]> {
  const out = await h.exec(process.execPath, [WORKLOAD, 'client', JSON.stringify(plan)], { timeoutMs });
  return out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as WorkloadConn);
}
