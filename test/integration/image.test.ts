// The container images, built here with podman (--isolation chroot) from a debootstrapped
// bookworm base (scripts/image-base.sh, scripts/image-build.sh), and run from their own
// filesystems in a chroot with the host's /proc, /sys and /dev: bpftrace and the agent trace
// a loopback TCP session from inside the agent image with only the chart's capabilities; the
// collector runs as its non-root user on the read-only image root, writing only to tmpfs.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type RunningCollector, startCollector } from '../../collector/collector';
import { collectorSettings, loadConfig } from '../../common/config';
import { makeLogger } from '../../common/log';
import { AGENT_IMAGE, buildImages, COLLECTOR_IMAGE, imageSizeBytes, imageSkipReason, mountImage, repoRoot, runInImage, runInImageSync, unmountImage, type BuildResult } from '../image/image-root';

const skip = imageSkipReason();
if (skip && process.env.CI === 'true') test('images can be built and run', () => { throw new Error(`image tests cannot run in CI: ${skip}`); });

/** The agent's capabilities as the chart grants them (values.yaml agent.capabilities), for setpriv. */
function chartCapabilities(): string[] {
  const values = fs.readFileSync(path.join(repoRoot, 'charts', 'tcpscope', 'values.yaml'), 'utf8');
  const m = /^ {2}capabilities: \[(.*)\]$/m.exec(values);
  assert.ok(m, 'values.yaml agent.capabilities');
  return m[1].split(',').map((c) => c.trim().toLowerCase());
}

/** A loopback TCP server and one client session to it, closed; resolves with the server's port. */
async function loopbackSession(): Promise<number> {
  const server = net.createServer((s) => s.end('hello'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const c = net.connect(port, '127.0.0.1');
  c.resume();
  await once(c, 'close');
  server.close();
  return port;
}

async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  s.close();
  return port;
}

/** Collects a child's output; resolves when `pattern` shows up (or rejects on exit/timeout). */
function waitFor(p: ReturnType<typeof runInImage>, pattern: RegExp, ms: number): Promise<string> & { output: () => string } {
  let out = '';
  const output = () => out;
  const pr = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; output:\n${out}`)), ms);
    const on = (d: Buffer) => {
      out += d;
      if (pattern.test(out)) { clearTimeout(timer); resolve(out); }
    };
    p.stdout!.on('data', on);
    p.stderr!.on('data', on);
    p.on('close', (code) => { clearTimeout(timer); if (!pattern.test(out)) reject(new Error(`exited ${code} before ${pattern}; output:\n${out}`)); });
  });
  return Object.assign(pr, { output });
}

describe('container images', { skip: skip ?? false, timeout: 20 * 60_000 }, () => {
  let builds: BuildResult[] = [];
  let agentRoot = '';
  let collectorRoot = '';
  const children: Array<ReturnType<typeof runInImage>> = [];

  before(() => {
    builds = buildImages(['agent', 'collector']);
    agentRoot = mountImage(AGENT_IMAGE);
    collectorRoot = mountImage(COLLECTOR_IMAGE);
  }, { timeout: 20 * 60_000 });

  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    if (agentRoot) unmountImage(AGENT_IMAGE);
    if (collectorRoot) unmountImage(COLLECTOR_IMAGE);
  });

  test('both images build; sizes and build times', (t) => {
    assert.deepEqual(builds.map((b) => b.target), ['agent', 'collector']);
    for (const b of builds) t.diagnostic(`${b.image}: ${(imageSizeBytes(b.image) / 1e6).toFixed(0)} MB, ${b.cached ? 'unchanged (cached)' : `built in ${b.seconds} s`}`);
  });

  test('agent image: node 20, bpftrace and the tcpscope CLI; no build tools or TypeScript sources', async () => {
    const node = await runInImageSync(agentRoot, ['node', '--version']);
    assert.match(node.stdout, /^v20\./, node.stderr);
    const bt = await runInImageSync(agentRoot, ['bpftrace', '--version']);
    assert.match(bt.stdout, /^bpftrace v0\./, bt.stderr);
    const cli = await runInImageSync(agentRoot, ['tcpscope', '--version']);
    assert.equal(cli.stdout.trim(), require(path.join(repoRoot, 'package.json')).version, cli.stderr);
    for (const absent of ['usr/local/bin/npm', 'opt/npm', 'app/node_modules/typescript', 'app/node_modules/ts-proto', 'app/agent/agent.ts', 'app/src', 'usr/bin/gcc'])
      assert.ok(!fs.existsSync(path.join(agentRoot, absent)), `${absent} must not be in the agent image`);
    assert.ok(!fs.existsSync(path.join(collectorRoot, 'usr/bin/bpftrace')), 'the collector image has no bpftrace');
  });

  test('agent image: bpftrace traces a loopback TCP session (socket netns via BTF) with only the chart\'s capabilities', async (t) => {
    const caps = chartCapabilities();
    t.diagnostic(`capabilities: ${caps.join(', ')}`);
    const prog = [
      'tracepoint:sock:inet_sock_set_state / args->newstate == 7 /',
      '{ $sk = (struct sock *)args->skaddr; printf("close %d %d netns=%u\\n", args->sport, args->dport, $sk->__sk_common.skc_net.net->ns.inum); }',
    ].join('\n');
    const p = runInImage(agentRoot, ['bpftrace', '-B', 'line', '-e', prog], { capabilities: caps });
    children.push(p);
    await waitFor(p, /Attaching 1 probe/, 60_000);
    const port = await loopbackSession();
    const out = await waitFor(p, new RegExp(`close (${port} \\d+|\\d+ ${port}) netns=\\d+`), 15_000);
    p.kill('SIGINT');
    const netns = fs.readlinkSync('/proc/self/ns/net').replace(/\D/g, '');
    assert.match(out, new RegExp(`netns=${netns}`), 'the socket\'s network namespace, read through BTF');
  });

  test('agent image: `tcpscope trace life --json` prints the session', async (t) => {
    const help = await runInImageSync(agentRoot, ['tcpscope', 'trace', 'life', '--help']);
    if (help.code !== 0 || !/--json/.test(help.stdout)) return t.skip('`tcpscope trace life --json` is not in this build yet');
    const p = runInImage(agentRoot, ['tcpscope', 'trace', 'life', '--json', '--duration', '20'], { capabilities: chartCapabilities() });
    children.push(p);
    let out = '';
    p.stdout!.on('data', (d) => (out += d));
    p.stderr!.on('data', (d) => (out += d));
    // sessions until one of ours is printed (bpftrace takes a moment to attach)
    const ports: number[] = [];
    const mine = () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((e) => ports.includes(Number(e.rport)) || ports.includes(Number(e.lport)));
    const end = Date.now() + 25_000;
    while (!mine()) {
      if (Date.now() > end || p.exitCode !== null) throw new Error(`none of our sessions (ports ${ports.join(', ')}) was printed:\n${out.slice(-3000)}`);
      ports.push(await loopbackSession());
      await new Promise((r) => setTimeout(r, 500));
    }
    const e = mine()!;
    assert.equal(e.laddr, '127.0.0.1');
    assert.equal(e.raddr, '127.0.0.1');
    p.kill('SIGINT');
  });

  test('agent image: the agent starts and its session events reach a collector', async (t) => {
    const help = await runInImageSync(agentRoot, ['tcpscope', 'agent', '--help']);
    if (help.code !== 0) return t.skip('`tcpscope agent` is not in this build yet');
    let collector: RunningCollector | undefined;
    try {
      collector = await startCollector(loadConfig(collectorSettings, { grpcListen: '127.0.0.1:0', queryListen: '127.0.0.1:0', httpListen: '127.0.0.1:0' }, {}), { log: makeLogger('collector', 'silent') });
      const p = runInImage(agentRoot, ['tcpscope', 'agent'], {
        capabilities: chartCapabilities(),
        env: { NODE_NAME: 'image-test-node', TCPSCOPE_COLLECTOR: collector.grpcAddress, TCPSCOPE_BATCH_FLUSH_MS: '100' },
      });
      children.push(p);
      const log = waitFor(p, /$^/, 120_000); // collects output for the failure message
      log.catch(() => undefined);
      const end = Date.now() + 90_000;
      while (collector.state.eventsTotal() === 0) {
        const notYet = /bpftrace trace source is not wired yet/.exec(log.output());
        if (notYet) return t.skip(`tcpscope agent: ${notYet[0]}`);
        if (Date.now() > end || p.exitCode !== null) throw new Error(`no events from the agent in the image; agent output:\n${log.output()}`);
        await loopbackSession();
        await new Promise((r) => setTimeout(r, 1000));
      }
      p.kill('SIGTERM');
    } finally {
      await collector?.close();
    }
  });

  /** The collector from its image as uid 65532, tmpfs at /tmp and /var/lib/tcpscope only. */
  async function collectorInImage(extraEnv: Record<string, string>) {
    const [grpc, http, query] = [await freePort(), await freePort(), await freePort()];
    const p = runInImage(collectorRoot, ['tcpscope', 'collector'], {
      user: '65532:65532',
      tmpfs: { '/tmp': 'mode=1777', '/var/lib/tcpscope': 'uid=65532,gid=65532,mode=0700' },
      env: { TCPSCOPE_GRPC_LISTEN: `127.0.0.1:${grpc}`, TCPSCOPE_HTTP_LISTEN: `127.0.0.1:${http}`, TCPSCOPE_QUERY_LISTEN: `127.0.0.1:${query}`, ...extraEnv },
    });
    children.push(p);
    // ready when /healthz answers; output kept for failure messages
    const log = waitFor(p, /$^/, 120_000);
    log.catch(() => undefined);
    const started = Object.assign((async () => {
      const end = Date.now() + 30_000;
      for (;;) {
        if (p.exitCode !== null) throw new Error(`collector exited ${p.exitCode}:\n${log.output()}`);
        if (Date.now() > end) throw new Error(`collector not healthy after 30 s:\n${log.output()}`);
        try {
          if ((await fetch(`http://127.0.0.1:${http}/healthz`)).ok) return;
        } catch { /* not listening yet */ }
        await new Promise((r) => setTimeout(r, 200));
      }
    })(), { output: log.output });
    const stop = async () => {
      if (p.exitCode === null) p.kill('SIGTERM');
      const [code] = p.exitCode === null ? await once(p, 'close') : [p.exitCode];
      return code as number | null;
    };
    return { p, http, started, stop };
  }

  test('collector image: runs as uid 65532 on the read-only image root', async () => {
    assert.throws(() => fs.writeFileSync(path.join(collectorRoot, 'probe'), ''), /EROFS|read-only/i, 'the image root is mounted read-only');
    const c = await collectorInImage({});
    await c.started;
    assert.equal((await fetch(`http://127.0.0.1:${c.http}/healthz`)).status, 200);
    const ui = await fetch(`http://127.0.0.1:${c.http}/`);
    assert.equal(ui.status, 200, 'the web UI is in the image');
    assert.match(ui.headers.get('content-type') ?? '', /html/);
    const status = await (await fetch(`http://127.0.0.1:${c.http}/api/v1/status`)).json() as Record<string, unknown>;
    assert.equal(typeof status, 'object');
    // unshare, sh, chroot and env all exec: the child's pid is the collector's
    assert.match(fs.readFileSync(`/proc/${c.p.pid}/cmdline`, 'utf8'), /tcpscope\0collector/);
    const uids = [/^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${c.p.pid}/status`, 'utf8'))![1]];
    assert.deepEqual(uids, ['65532'], 'the collector process runs as uid 65532');
    const code = await c.stop();
    assert.ok(code === 0 || code === 143 || code === null, `collector exit ${code}: ${c.started.output()}`);
  });

  test('collector image: its store opens on the data volume (TCPSCOPE_DATA_DIR) with the root read-only', async (t) => {
    const c = await collectorInImage({ TCPSCOPE_DATA_DIR: '/var/lib/tcpscope' });
    try {
      await c.started;
    } catch (err) {
      const m = /embedded store is not available in this build[^\n]*/.exec(c.started.output());
      if (m) return t.skip(`collector: ${m[0]}`);
      throw err;
    }
    assert.equal((await fetch(`http://127.0.0.1:${c.http}/healthz`)).status, 200);
    // the tmpfs is in the collector's mount namespace: look through its root
    const files = fs.readdirSync(`/proc/${c.p.pid}/root/var/lib/tcpscope`);
    assert.ok(files.length > 0, 'the store is on the data volume');
    const code = await c.stop();
    assert.ok(code === 0 || code === 143 || code === null, `collector exit ${code}: ${c.started.output()}`);
  });
});
