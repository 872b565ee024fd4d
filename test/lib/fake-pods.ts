// Fake Kubernetes pods on the real kernel, for attribution tests: each node is a network
// namespace with a bridge (cni0), each pod a namespace on its node's bridge with a cgroup v2
// directory laid out as the kubelet's cgroupfs driver does (.../kubepods/burstable/pod<uid>/
// <64-hex container id>), a "pause" process holding the sandbox and the pod's processes
// started inside its container cgroup. Addresses only from 198.18.0.0/15 and 2001:db8::/32;
// every name starts with "tcps-"; namespaces, links, nft rules, processes and cgroup
// directories are removed by cleanup(), which runs when the test ends, failed or not.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import { cgroup2Mount } from '../../agent/attribute/cgroup-map';
import { NS_PREFIX, removeStaleNamespaces, type Host } from './netns';

function run(cmd: string, args: string[], timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface FakeNode {
  name: string;
  ns: string;
  /** The node's InternalIP (on the link between the nodes). */
  addr4: string;
  addr6: string;
  podCidr4: string;
  podCidr6: string;
}

export interface FakePod extends Host {
  name: string;
  node: FakeNode;
  uid: string;
  /** The main container's runtime id (64 hex): its cgroup directory's name. */
  containerId: string;
  /** The pod's cgroup directory (…/kubepods/burstable/pod<uid>). */
  cgroupDir: string;
  /** The network namespace inode (as the kernel reports skc_net.net->ns.inum). */
  netnsInode: number;
  /** eth0's MAC address (a pod reusing this pod's addresses gets it too, so no neighbour cache goes stale). */
  mac: string;
  /** Drops `percent`% of the TCP segments with payload arriving in this pod (INPUT hook) for dport or sport. */
  drop(match: { dport?: number; sport?: number }, percent: number): Promise<void>;
  /** TcpRetransSegs of the pod's namespace. */
  retransSegs(): Promise<number>;
  /** Kills the pod's processes, deletes its namespace (and veth) and its cgroup directories. */
  teardown(): Promise<void>;
}

/**
 * 'v2': pod processes in cgroup v2 directories (sockets carry the pod's cgroup id).
 * 'v1': only in a cgroup v1 hierarchy (pids), as on a kubelet with the cgroup v1 driver:
 * their cgroup v2 is the root, so sockets carry no pod cgroup and attribution goes by netns.
 */
export type CgroupVersion = 'v1' | 'v2';

export interface FakeCluster {
  nodes: FakeNode[];
  /**
   * A pod on `node`; `reuse` gives it the addresses of that (torn down) pod; `netnsOf` asks
   * for that torn-down pod's network-namespace inode (best effort, for up to 5 s: check
   * netnsInode for the outcome).
   */
  addPod(node: FakeNode, name: string, opts?: { reuse?: FakePod; netnsOf?: FakePod }): Promise<FakePod>;
  cleanup(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Where pod cgroups go: the cgroup2 mount (hybrid hosts: /sys/fs/cgroup/unified), or for 'v1' the pids hierarchy. */
function cgroupRoot(version: CgroupVersion): string {
  const mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  if (version === 'v2') {
    const root = cgroup2Mount(mountinfo);
    if (!root) throw new Error('no cgroup2 mount on this host: fake pods with cgroup v2 need one (hybrid is fine)');
    return root;
  }
  for (const line of mountinfo.split('\n')) {
    const [pre, post] = line.split(' - ');
    const f = post?.split(' ');
    if (pre && f?.[0] === 'cgroup' && f[2]?.split(',').includes('pids')) return pre.split(' ')[4]!;
  }
  throw new Error('no cgroup v1 pids hierarchy on this host: fake pods with cgroup v1 need one');
}

/** Kills every process in a cgroup directory tree and removes the directories, deepest first. */
async function removeCgroupTree(dir: string): Promise<void> {
  if (!fs.existsSync(dir)) return;
  const dirs: string[] = [];
  const walk = (d: string) => {
    dirs.push(d);
    for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
  };
  walk(dir);
  for (let attempt = 0; attempt < 50; attempt++) {
    let busy = false;
    for (const d of dirs) {
      let pids: number[] = [];
      try {
        pids = fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
      } catch { /* gone */ }
      for (const pid of pids) {
        busy = true;
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone meanwhile */ }
      }
    }
    if (!busy) break;
    await sleep(50);
  }
  for (const d of dirs.reverse()) {
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        fs.rmdirSync(d);
        break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') break;
        if (code !== 'EBUSY' || attempt === 49) throw err;
        await sleep(50);
      }
    }
  }
}

/** Removes tcps-<pid>-* cgroup trees whose creating process is gone (left by crashed runs). */
export async function removeStaleCgroups(root: string): Promise<string[]> {
  const removed: string[] = [];
  for (const e of fs.readdirSync(root)) {
    const pid = Number(/^tcps-(\d+)-/.exec(e)?.[1]);
    if (!pid || alive(pid)) continue;
    await removeCgroupTree(path.join(root, e)).catch(() => undefined);
    removed.push(e);
  }
  return removed;
}

/** A /24 of 198.18.0.0/15 that no live tcps- namespace uses (as test/lib/netns.ts picks them). */
async function freeSubnet(): Promise<number> {
  const used = new Set<number>();
  let names: string[] = [];
  try { names = fs.readdirSync('/run/netns'); } catch { /* none yet */ }
  for (const ns of names.filter((n) => n.startsWith(NS_PREFIX))) {
    try {
      const out = await run('ip', ['-n', ns, '-4', '-o', 'addr', 'show']);
      for (const m of out.matchAll(/inet 198\.(18|19)\.(\d+)\./g)) used.add((m[1] === '19' ? 256 : 0) + Number(m[2]));
    } catch { /* namespace going away */ }
  }
  for (let i = 0; i < 100; i++) {
    const n = 1 + Math.floor(Math.random() * 510);
    if (!used.has(n)) return n;
  }
  throw new Error('no free 198.18.0.0/15 subnet for fake pods');
}

function netnsInode(ns: string): number {
  return fs.statSync(`/run/netns/${ns}`).ino;
}

let counter = 0;

/**
 * Two (or more) nodes joined by a veth link; node i has InternalIP 198.18.N.(i+1) and the pod
 * CIDR 198.18.N.(64*(i+1))/26 (bridge gateway .+1), IPv6 2001:db8:S::(i+1) and
 * 2001:db8:S:(i+1)::/64 for its pods; routes between the pod CIDRs through the nodes.
 */
export async function createFakeCluster(t: TestContext | undefined, nodeNames: string[], opts: { cgroup?: CgroupVersion } = {}): Promise<FakeCluster> {
  if (nodeNames.length < 1 || nodeNames.length > 3) throw new Error('1 to 3 fake nodes');
  removeStaleNamespaces();
  const root = cgroupRoot(opts.cgroup ?? 'v2');
  for (const v of ['v1', 'v2'] as const) {
    try {
      await removeStaleCgroups(cgroupRoot(v));
    } catch { /* no such hierarchy here */ }
  }
  const id = `${NS_PREFIX}${process.pid}-k${++counter}`;
  const subnet = await freeSubnet();
  const third = subnet % 256, second = subnet >= 256 ? 19 : 18;
  const v4 = (last: number) => `198.${second}.${third}.${last}`;
  const hex = subnet.toString(16);
  const cgTop = path.join(root, id);
  const namespaces = new Set<string>();
  const children = new Set<ChildProcess>();
  const pods = new Set<FakePod>();
  let cleaned = false;

  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await removeCgroupTree(cgTop).catch(() => undefined);
    for (const ns of namespaces) await run('ip', ['netns', 'del', ns]).catch(() => undefined); // links and nft rules go with them
  };
  t?.after(cleanup);

  const nodes: FakeNode[] = nodeNames.map((name, i) => ({
    name, ns: `${id}-n${i}`, addr4: v4(i + 1), addr6: `2001:db8:${hex}::${i + 1}`,
    podCidr4: `${v4(64 * (i + 1))}/26`, podCidr6: `2001:db8:${hex}:${i + 1}::/64`,
  }));
  const nextHost = new Map<FakeNode, number>(nodes.map((n) => [n, 2]));

  try {
    fs.mkdirSync(path.join(cgTop, 'kubepods', 'burstable'), { recursive: true });
    for (const [i, n] of nodes.entries()) {
      await run('ip', ['netns', 'add', n.ns]);
      namespaces.add(n.ns);
      await run('ip', ['-n', n.ns, 'link', 'set', 'lo', 'up']);
      await run('ip', ['netns', 'exec', n.ns, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
      await run('ip', ['-n', n.ns, 'link', 'add', 'cni0', 'type', 'bridge']);
      await run('ip', ['-n', n.ns, 'addr', 'add', `${v4(64 * (i + 1) + 1)}/26`, 'dev', 'cni0']);
      await run('ip', ['-n', n.ns, 'addr', 'add', `2001:db8:${hex}:${i + 1}::1/64`, 'dev', 'cni0', 'nodad']);
      await run('ip', ['-n', n.ns, 'link', 'set', 'cni0', 'up']);
    }
    // the node link: a bridge "fabric" in node 0 with one veth per other node (2 nodes: one veth pair)
    for (const [i, n] of nodes.entries()) {
      if (i === 0) {
        await run('ip', ['-n', n.ns, 'link', 'add', 'fabric', 'type', 'bridge']);
        await run('ip', ['-n', n.ns, 'addr', 'add', `${n.addr4}/26`, 'dev', 'fabric']);
        await run('ip', ['-n', n.ns, 'addr', 'add', `${n.addr6}/64`, 'dev', 'fabric', 'nodad']);
        await run('ip', ['-n', n.ns, 'link', 'set', 'fabric', 'up']);
        continue;
      }
      await run('ip', ['-n', nodes[0]!.ns, 'link', 'add', `node${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n.ns]);
      await run('ip', ['-n', nodes[0]!.ns, 'link', 'set', `node${i}`, 'master', 'fabric', 'up']);
      await run('ip', ['-n', n.ns, 'addr', 'add', `${n.addr4}/26`, 'dev', 'eth0']);
      await run('ip', ['-n', n.ns, 'addr', 'add', `${n.addr6}/64`, 'dev', 'eth0', 'nodad']);
      await run('ip', ['-n', n.ns, 'link', 'set', 'eth0', 'up']);
    }
    for (const n of nodes) {
      for (const o of nodes) {
        if (o === n) continue;
        await run('ip', ['-n', n.ns, 'route', 'add', o.podCidr4, 'via', o.addr4]);
        await run('ip', ['-n', n.ns, '-6', 'route', 'add', o.podCidr6, 'via', o.addr6]);
      }
    }
  } catch (err) {
    await cleanup();
    throw err;
  }

  const nsRun = (ns: string, procs: string, cmd: string, args: string[]) =>
    // join the cgroup first (outside: `ip netns exec` remounts /sys, hiding the cgroup mount), then enter the namespace
    ['sh', ['-c', 'echo $$ > "$1" && shift && exec ip netns exec "$@"', 'sh', procs, ns, cmd, ...args]] as const;

  const addPod = async (node: FakeNode, name: string, opts: { reuse?: FakePod; netnsOf?: FakePod } = {}): Promise<FakePod> => {
    if (cleaned) throw new Error('fake cluster already cleaned up');
    const i = nodes.indexOf(node);
    let host: number;
    if (opts.reuse) {
      if (opts.reuse.node !== node) throw new Error('an address is reused on its own node (pod CIDRs are per node)');
      host = Number(opts.reuse.addr4.split('.')[3]) - 64 * (i + 1);
    } else {
      host = nextHost.get(node)!;
      if (host > 60) throw new Error(`no addresses left on ${node.name}`);
      nextHost.set(node, host + 1);
    }
    const podNs = `${id}-p${i}-${host}-${randomBytes(2).toString('hex')}`;
    const uid = randomUUID();
    const containerId = randomBytes(32).toString('hex');
    const sandboxId = randomBytes(32).toString('hex');
    const cgroupDir = path.join(cgTop, 'kubepods', 'burstable', `pod${uid}`);
    const addr4 = v4(64 * (i + 1) + host);
    const addr6 = `2001:db8:${hex}:${i + 1}::${host}`;
    const link = `tp${i}x${host}${randomBytes(2).toString('hex')}`.slice(0, 15);
    await run('ip', ['netns', 'add', podNs]);
    namespaces.add(podNs);
    // inodes are allocated lowest free first, and a deleted namespace is freed asynchronously
    // (about a second here): retry for a while; other namespaces made meanwhile on this
    // machine may take it first
    for (const until = Date.now() + 5000; opts.netnsOf && netnsInode(podNs) !== opts.netnsOf.netnsInode && Date.now() < until;) {
      await run('ip', ['netns', 'del', podNs]);
      await sleep(250);
      await run('ip', ['netns', 'add', podNs]);
    }
    await run('ip', ['-n', podNs, 'link', 'set', 'lo', 'up']);
    await run('ip', ['-n', node.ns, 'link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', podNs]);
    await run('ip', ['-n', node.ns, 'link', 'set', link, 'master', 'cni0', 'up']);
    if (opts.reuse) await run('ip', ['-n', podNs, 'link', 'set', 'eth0', 'address', opts.reuse.mac]);
    const mac = JSON.parse(await run('ip', ['-j', '-n', podNs, 'link', 'show', 'eth0']))[0].address as string;
    await run('ip', ['-n', podNs, 'addr', 'add', `${addr4}/26`, 'dev', 'eth0']);
    await run('ip', ['-n', podNs, 'addr', 'add', `${addr6}/64`, 'dev', 'eth0', 'nodad']);
    await run('ip', ['-n', podNs, 'link', 'set', 'eth0', 'up']);
    await run('ip', ['-n', podNs, 'route', 'add', 'default', 'via', v4(64 * (i + 1) + 1)]);
    await run('ip', ['-n', podNs, '-6', 'route', 'add', 'default', 'via', `2001:db8:${hex}:${i + 1}::1`]);
    for (const c of [sandboxId, containerId]) fs.mkdirSync(path.join(cgroupDir, c), { recursive: true });
    const procs = path.join(cgroupDir, containerId, 'cgroup.procs');

    const start = (cmd: string, args: string[], procsFile = procs): ChildProcess => {
      const [c, a] = nsRun(podNs, procsFile, cmd, args);
      const child = spawn(c, [...a], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.add(child);
      child.on('exit', () => children.delete(child));
      return child;
    };
    // the sandbox ("pause"): keeps a process of the pod in its namespace, as the kubelet's sandbox does
    const pause = start('sleep', ['1000000'], path.join(cgroupDir, sandboxId, 'cgroup.procs'));
    pause.stdout!.resume();
    pause.stderr!.resume();
    let down = false;
    const p: FakePod = {
      name, node, uid, containerId, cgroupDir, ns: podNs, addr4, addr6, netnsInode: netnsInode(podNs), mac,
      exec: (cmd, args, o) => {
        const [c, a] = nsRun(podNs, procs, cmd, args);
        return run(c, [...a], o?.timeoutMs);
      },
      spawn: (cmd, args) => start(cmd, args),
      async drop(match, percent) {
        if (!(percent >= 0 && percent <= 100)) throw new Error(`drop percent must be 0..100, got ${percent}`);
        const what = [match.dport ? `tcp dport ${match.dport}` : '', match.sport ? `tcp sport ${match.sport}` : ''].filter(Boolean).join(' ');
        if (!what) throw new Error('drop needs a dport or an sport');
        // only segments with payload (meta length > 200), so handshakes and FINs get through
        const rules = `table inet tcps_loss_${match.dport ?? 0}_${match.sport ?? 0} {
  chain input {
    type filter hook input priority 0; policy accept;
    ${what} meta length > 200 numgen random mod 100 < ${percent} counter drop
  }
}
`;
        await new Promise<void>((resolve, reject) => {
          const c = spawn('ip', ['netns', 'exec', podNs, 'nft', '-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
          let err = '';
          c.stderr!.on('data', (d) => (err += d));
          c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`nft in ${podNs}: ${err.trim()}`))));
          c.stdin!.end(rules);
        });
      },
      async retransSegs() {
        const snmp = await run('ip', ['netns', 'exec', podNs, 'cat', '/proc/net/snmp']);
        const tcp = snmp.split('\n').filter((l) => l.startsWith('Tcp:'));
        const names = tcp[0]?.split(/\s+/) ?? [], values = tcp[1]?.split(/\s+/) ?? [];
        const k = names.indexOf('RetransSegs');
        if (k < 0) throw new Error(`no RetransSegs in /proc/net/snmp of ${podNs}`);
        return Number(values[k]);
      },
      async teardown() {
        if (down) return;
        down = true;
        await removeCgroupTree(cgroupDir);
        await run('ip', ['netns', 'del', podNs]);
        namespaces.delete(podNs);
        pods.delete(p);
      },
    };
    pods.add(p);
    return p;
  };

  return { nodes, addPod, cleanup };
}
