// Hot spots on the real kernel: fake pods of two nodes (network namespaces, kubelet-style
// cgroups, registered in the test API server), two agents and a collector; loss on ONE
// path only (frontend on node-a -> db on node-b). `tcpscope hotspots --by pod` must rank
// frontend first with the network-path finding, `--by node-pair` node-a -> node-b first,
// and `--by workload` the frontend Deployment.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, type TestContext } from 'node:test';
import { KubeApiServer } from '../kube-apiserver/server';
import { node, pod, workload } from '../kube-apiserver/fixtures';
import { createFakeCluster, type FakeCluster, type FakeNode, type FakePod } from '../lib/fake-pods';
import { kernelTest } from '../lib/kernel';
import { runWorkloadClient, startWorkloadServer, type WorkloadServer } from '../lib/netns';
import { CLI, freePort, type Proc, startProc } from '../lib/procs';

const NS = 'shop';
const TOKEN = 'tcps-hotspots-test';
const procs: Proc[] = [];
const servers: WorkloadServer[] = [];
let api: KubeApiServer | undefined;
let cluster: FakeCluster | undefined;
let tmp: string | undefined;
async function stopAll(): Promise<void> {
  for (const s of servers.splice(0)) await s.stop().catch(() => undefined);
  for (const p of procs.splice(0)) await p.kill('SIGTERM');
  await api?.stop();
  api = undefined;
  await cluster?.cleanup();
  cluster = undefined;
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  tmp = undefined;
}
after(stopAll);

function cli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => execFile(process.execPath, [CLI, ...args], { timeout: 30_000 }, (err, out, errOut) => (err ? reject(new Error(`${args.join(' ')}: ${errOut || err.message}`)) : resolve(out))));
}
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Row { key: string; retransSegs?: string; retransmitEvents?: string; retransEventSegs?: string; sessions?: string; finding?: string; evidence?: string; states?: Array<{ state: string; events: string }> }

async function scenario(t: TestContext): Promise<void> {
  t.after(stopAll);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tcps-hot-'));
  cluster = await createFakeCluster(t, ['node-a', 'node-b'], { cgroup: 'v2' });
  const [na, nb] = cluster.nodes as [FakeNode, FakeNode];
  api = await new KubeApiServer({ tokens: [{ token: TOKEN, user: 'admin', rules: 'all' }] }).start();
  for (const n of [na, nb]) {
    const o = node(n.name, [n.addr4, n.addr6]);
    o.spec = { podCIDR: n.podCidr4, podCIDRs: [n.podCidr4, n.podCidr6] };
    api.create('nodes', o);
  }
  api.create('replicasets', workload('ReplicaSet', 'frontend-7d9f8b', NS, { kind: 'Deployment', name: 'frontend' }));
  api.create('replicasets', workload('ReplicaSet', 'cache-5c6b7d', NS, { kind: 'Deployment', name: 'cache' }));
  const add = async (n: FakeNode, name: string, owner: { kind: string; name: string }): Promise<FakePod> => {
    const p = await cluster!.addPod(n, name);
    api!.create('pods', pod({ name, namespace: NS, node: n.name, uid: p.uid, owner, labels: { app: owner.name }, containers: [{ name: 'app', id: p.containerId }], ips: [p.addr4, p.addr6] }));
    return p;
  };
  const frontend = await add(na, 'frontend-7d9f8b-k2x9p', { kind: 'ReplicaSet', name: 'frontend-7d9f8b' });
  const cache = await add(na, 'cache-5c6b7d-q8w4z', { kind: 'ReplicaSet', name: 'cache-5c6b7d' });
  const db = await add(nb, 'db-0', { kind: 'StatefulSet', name: 'db' });

  const kubeconfig = path.join(tmp, 'kubeconfig');
  fs.writeFileSync(kubeconfig, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'test',
    clusters: [{ name: 'test', cluster: { server: api.url, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'test', user: { token: TOKEN } }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'test' } }],
  }));
  const env = { KUBECONFIG: kubeconfig };
  const [ingest, query, http] = [await freePort(), await freePort(), await freePort()];
  const collector = startProc(['collector', '--kubernetes', 'true', '--grpc-listen', `127.0.0.1:${ingest}`, '--query-listen', `127.0.0.1:${query}`, '--http-listen', `127.0.0.1:${http}`], env);
  procs.push(collector);
  await collector.waitFor(/collector: ingest/);
  const agents = [na, nb].map((n) => {
    const a = startProc(['agent', '--kubernetes', 'true', '--node-name', n.name, '--scope', 'pods', '--collector', `127.0.0.1:${ingest}`, '--batch-flush-ms', '200'], env);
    procs.push(a);
    return a;
  });
  await Promise.all(agents.map((a) => a.waitFor(/agent: tracing/, 60_000)));
  const watchesOpen = () => {
    const w = api!.openWatches();
    return [na, nb].every((n) => w.some((x) => x.resource === 'pods' && x.fieldSelector === `spec.nodeName=${n.name}`)) && w.filter((x) => !x.fieldSelector).length >= 5;
  };
  for (let i = 0; i < 200 && !watchesOpen(); i++) await sleep(100);
  assert.ok(watchesOpen(), 'agents and collector watch the API server');
  await sleep(1000);

  // one lossy path (frontend@node-a -> db@node-b:17101), two clean ones
  servers.push(await startWorkloadServer(db, db.addr4, [17101, 17102]));
  servers.push(await startWorkloadServer(cache, cache.addr4, [17111]));
  await db.drop({ dport: 17101 }, 20); // high: under load GRO makes few, large packets to drop
  await Promise.all([
    runWorkloadClient(frontend, { raddr: db.addr4, rport: 17101, conns: 6, upBytes: 300_000, downBytes: 1000, closer: 'client', concurrency: 2 }),
    runWorkloadClient(cache, { raddr: db.addr4, rport: 17102, conns: 6, upBytes: 300_000, downBytes: 1000, closer: 'client', concurrency: 2 }),
    runWorkloadClient(frontend, { raddr: cache.addr4, rport: 17111, conns: 6, upBytes: 50_000, downBytes: 50_000, closer: 'alternate' }),
  ]);
  const lossySegs = await frontend.retransSegs();

  // wait for the 18 client sessions of frontend and cache to arrive
  const q = ['--collector', `127.0.0.1:${query}`, '--since', '10m', '-o', 'json'];
  let rows: Row[] = [];
  for (let i = 0; i < 60; i++) {
    rows = (JSON.parse(await cli(['hotspots', '--by', 'pod', ...q])) as { rows?: Row[] }).rows ?? [];
    const top = rows.find((r) => r.key === `${NS}/frontend-7d9f8b-k2x9p`);
    if (top && Math.max(Number(top.retransSegs ?? 0), Number(top.retransEventSegs ?? 0)) >= lossySegs && Number(top.sessions ?? 0) >= 12) break;
    await sleep(500);
  }
  process.stdout.write(`# hotspots --by pod: ${JSON.stringify(rows.map((r) => [r.key, r.retransSegs, r.retransEventSegs, r.finding]))}; frontend namespace TcpRetransSegs ${lossySegs}\n`);
  assert.ok(lossySegs > 0, 'the lossy path retransmitted');
  assert.equal(rows[0]?.key, `${NS}/frontend-7d9f8b-k2x9p`, 'frontend ranks first');
  assert.equal(Number(rows[0]!.retransSegs ?? 0), lossySegs, 'its closed sessions\' retransmitted segments are the kernel\'s count');
  assert.match(rows[0]!.finding ?? '', /network path/);
  assert.match(rows[0]!.evidence ?? '', /in ESTABLISHED/);
  const others = rows.slice(1).reduce((s, r) => s + Math.max(Number(r.retransSegs ?? 0), Number(r.retransEventSegs ?? 0)), 0);
  assert.ok(others * 4 <= lossySegs, `the clean paths retransmit little if at all (${others} vs ${lossySegs})`);

  const pairs = (JSON.parse(await cli(['hotspots', '--by', 'node-pair', ...q])) as { rows?: Row[] }).rows ?? [];
  assert.equal(pairs[0]?.key, 'node-a -> node-b', `node pairs: ${JSON.stringify(pairs.map((r) => r.key))}`);
  const wl = (JSON.parse(await cli(['hotspots', '--by', 'workload', ...q])) as { rows?: Row[] }).rows ?? [];
  assert.equal(wl[0]?.key, `${NS}/Deployment/frontend`);
  const remote = (JSON.parse(await cli(['hotspots', '--by', 'remote', ...q])) as { rows?: Row[] }).rows ?? [];
  assert.equal(remote[0]?.key, `${NS}/db-0`, 'the remote end named as a pod');

  // following a pod: while someone watches it, its agent adds a per-session program for
  // the pod's sockets; each session is shown with its process, and counted once in the flows
  const flowsOf = async () => (JSON.parse(await cli(['flows', '--pod', `${NS}/cache-5c6b7d-q8w4z`, ...q])) as { flows?: Array<{ local: { pod: string }; servicePort: number; sessions?: string }> }).flows ?? [];
  const cacheServed = async () => (await flowsOf()).filter((f) => f.local.pod === 'cache-5c6b7d-q8w4z' && f.servicePort === 17111).reduce((n, f) => n + Number(f.sessions ?? 0), 0);
  const servedBefore = await cacheServed();
  const follow = startProc(['observe', '--pod', `${NS}/frontend-7d9f8b-k2x9p`, '--follow', '--for', '40s', '--type', 'life', '-o', 'json', '--collector', `127.0.0.1:${query}`]);
  procs.push(follow);
  await agents[0]!.waitFor(/per-session program for followed pods attached/, 30_000);
  await runWorkloadClient(frontend, { raddr: cache.addr4, rport: 17111, conns: 4, upBytes: 1000, downBytes: 2000, closer: 'client' });
  const detail = () => follow.stdout.filter(Boolean).map((l) => JSON.parse(l) as { type: string; comm?: string; pid?: number; local: { pod: string }; remote: { port?: number } })
    .filter((e) => e.type === 'EVENT_TYPE_LIFE' && e.local.pod === 'frontend-7d9f8b-k2x9p' && e.remote.port === 17111);
  for (let i = 0; i < 40 && detail().length < 4; i++) await sleep(250);
  assert.equal(detail().length, 4, `one event per session of the followed pod: ${follow.stdout.length} lines`);
  assert.ok(detail().every((e) => e.comm === 'node' && (e.pid ?? 0) > 0), 'with the process that opened it');
  for (let i = 0; i < 40 && (await cacheServed()) < servedBefore + 4; i++) await sleep(250);
  await sleep(1500);
  assert.equal(await cacheServed(), servedBefore + 4, 'the flow sums count each session once: the detail is not aggregated again');
  await follow.kill('SIGINT');
  await agents[0]!.waitFor(/follow lease ended|per-session events off/, 15_000).catch(() => undefined);
}

kernelTest('hotspots rank the pod, workload, node pair and remote of the one lossy path first, with the network-path finding', (t) => scenario(t), 150_000);
