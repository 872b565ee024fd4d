// client-node informers, unmodified, and our agent and collector watches against the test
// API server: through 410 Gone, cut and stalled streams, watch timeouts, pagination,
// server errors and a token without rights. No root needed: processes on loopback.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CoreV1Api, makeInformer, type V1Pod } from '@kubernetes/client-node';
import { KubeApiServer } from '../kube-apiserver/server';
import { kubeConfigFor } from '../kube-apiserver/kubeconfig';
import { node, pod, service, workload } from '../kube-apiserver/fixtures';
import { NodePodWatch } from '../../agent/k8s/node-pod-watch';
import { ClusterWatch } from '../../collector/k8s/cluster-watch';

const ADMIN = 'admin';
let s: KubeApiServer;
const cleanups: Array<() => Promise<unknown> | unknown> = [];

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

before(async () => {
  s = await new KubeApiServer({
    tokens: [
      { token: ADMIN, user: 'admin', rules: 'all' },
      { token: 'no-rights', user: 'system:serviceaccount:tcpscope:agent', rules: [{ verbs: ['get'], resources: ['configmaps'] }] },
    ],
    bookmarkIntervalMs: 500,
    podTerminationMs: 300,
  }).start();
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
  await s.stop();
});

test('a plain client-node makeInformer re-lists after 410 Gone and ends with the right set', async () => {
  for (let i = 0; i < 5; i++) s.create('pods', pod({ name: `plain-${i}`, namespace: 'plain', node: 'node-a', ip: `10.10.0.${i}` }));
  const kc = kubeConfigFor(s.url, ADMIN);
  const core = kc.makeApiClient(CoreV1Api);
  const inf = makeInformer<V1Pod>(kc, '/api/v1/namespaces/plain/pods', () => core.listNamespacedPod({ namespace: 'plain' }));
  // A ListWatch stops on any error except 410 (a cut stream is one): restart it, as
  // client-node's documentation says to.
  const errors: unknown[] = [];
  let stopped = false;
  inf.on('error', (e) => {
    errors.push(e);
    setTimeout(() => { if (!stopped) void inf.start(); }, 100);
  });
  await inf.start();
  cleanups.push(() => { stopped = true; return inf.stop(); });
  await until('initial 5 pods', () => inf.list('plain').length === 5);
  s.resetAccounting();
  // While the stream is cut, pods change and the history is compacted: resuming is impossible.
  s.setHistoryLimit(1);
  s.cutWatches((w) => w.namespace === 'plain');
  s.delete('pods', 'plain', 'plain-0', { graceMs: 0 });
  s.delete('pods', 'plain', 'plain-1', { graceMs: 0 });
  s.create('pods', pod({ name: 'plain-new', namespace: 'plain', node: 'node-a' }));
  s.compact();
  await until('re-listed set', () => inf.list('plain').map((p) => p.metadata!.name).sort().join() === 'plain-2,plain-3,plain-4,plain-new');
  const verbs = s.requests((r) => r.namespace === 'plain').map((r) => r.verb);
  assert.ok(verbs.includes('list'), `a re-list happened: ${verbs.join()}`);
  await until('watching again', () => s.openWatches().some((w) => w.namespace === 'plain'));
  s.setHistoryLimit(10_000);
});

test('the collector index follows the cluster through 410 Gone, cut streams and pagination', async () => {
  s.create('nodes', node('node-1', ['192.168.0.1']));
  s.create('replicasets', workload('ReplicaSet', 'web-abc', 'shop', { kind: 'Deployment', name: 'web' }));
  s.create('services', service('web', 'shop', ['10.96.0.10']));
  for (let i = 0; i < 1200; i++) s.create('pods', pod({ name: `bulk-${i}`, namespace: 'bulk', node: `node-${i % 5}`, ip: `10.50.${i >> 8}.${i & 255}` }));
  s.create('pods', pod({ name: 'web-abc-1', namespace: 'shop', node: 'node-1', ip: '10.20.0.1', owner: { kind: 'ReplicaSet', name: 'web-abc' } }));
  s.resetAccounting();
  const cw = new ClusterWatch({ kubeConfig: kubeConfigFor(s.url, ADMIN), pageSize: 500, watchTimeoutSec: 30, backoffMaxMs: 1000 });
  cw.start();
  cleanups.push(() => cw.stop());
  assert.equal(await cw.waitSynced(10_000), true);
  const podLists = s.requests((r) => r.resource === 'pods' && r.verb === 'list' && r.namespace === undefined);
  assert.equal(podLists.length, 3, '1200+ pods in pages of 500');
  assert.ok(podLists.every((r) => r.limit === '500'));
  assert.equal(podLists.filter((r) => r.continued).length, 2);
  const now = Date.now() * 1000;
  assert.deepEqual(cw.index.resolve('10.20.0.1', now).workload, { kind: 'Deployment', name: 'web' });
  assert.equal(cw.index.resolve('10.96.0.10', now).kind, 'service');
  assert.equal(cw.index.resolve('192.168.0.1', now).kind, 'node');
  assert.equal(cw.index.resolve('10.50.4.175', now).name, 'bulk-1199');

  // 410: streams cut, changes made, history compacted -> re-list; the index ends right.
  const before = cw.status().find((x) => x.name === 'pods')!.lists;
  s.cutWatches();
  s.delete('pods', 'bulk', 'bulk-7', { graceMs: 0 });
  s.create('pods', pod({ name: 'reuser', namespace: 'bulk', node: 'node-2', ip: '10.50.0.7' })); // bulk-7's IP, reused
  s.compact();
  await until('pods re-listed', () => cw.status().find((x) => x.name === 'pods')!.lists > before);
  await until('reuser seen', () => cw.index.resolve('10.50.0.7', Date.now() * 1000 + 1000).name === 'reuser');
  const t = Date.now() * 1000;
  assert.equal(cw.index.podByUid(s.get('pods', 'bulk', 'bulk-8')!.metadata.uid!)?.metadata.name, 'bulk-8');
  assert.ok(cw.index.stats().deletedPods >= 1, 'bulk-7 is kept as deleted');
  assert.equal(cw.index.stats().pods, s.list('pods').length, 'the index holds exactly the live pods');
  // during the blind window of the re-list nobody is named for the reused IP
  assert.equal(cw.index.resolve('10.50.0.7', t - 50_000).kind, 'unknown');

  // cut streams without compaction: resume from the last resourceVersion, no re-list
  const lists = cw.status().find((x) => x.name === 'pods')!.lists;
  s.cutWatches();
  s.create('pods', pod({ name: 'after-cut', namespace: 'bulk', node: 'node-3', ip: '10.60.0.1' }));
  await until('after-cut seen', () => cw.index.resolve('10.60.0.1', Date.now() * 1000 + 1000).name === 'after-cut');
  assert.equal(cw.status().find((x) => x.name === 'pods')!.lists, lists, 'resumed the watch, no re-list');
});

test('a stalled watch is noticed after its timeout and re-opened; timeoutSeconds is on every watch', async () => {
  const kc = kubeConfigFor(s.url, ADMIN);
  const w = new NodePodWatch({ nodeName: 'node-stall', kubeConfig: kc, watchTimeoutSec: 1, stallGraceMs: 500 });
  w.start();
  cleanups.push(() => w.stop());
  assert.equal(await w.waitSynced(5000), true);
  await until('watch open', () => s.openWatches().some((x) => x.fieldSelector === 'spec.nodeName=node-stall'));
  s.stallWatches((x) => x.fieldSelector === 'spec.nodeName=node-stall');
  s.create('pods', pod({ name: 'during-stall', node: 'node-stall', ip: '10.70.0.1' }));
  await until('pod seen after the stall', () => w.index.byIp('10.70.0.1', Date.now() * 1000) !== undefined, 8000);
  assert.ok(w.status().stalls >= 1, 'the watchdog fired');
  const watches = s.requests((r) => r.verb === 'watch' && r.fieldSelector === 'spec.nodeName=node-stall');
  assert.ok(watches.length >= 2);
  s.unstallWatches();
  // the server ends each watch at timeoutSeconds=1; the informer re-watches from its resourceVersion
  const n = s.requests((r) => r.verb === 'watch' && r.fieldSelector === 'spec.nodeName=node-stall').length;
  await new Promise((r) => setTimeout(r, 2500));
  assert.ok(s.requests((r) => r.verb === 'watch' && r.fieldSelector === 'spec.nodeName=node-stall').length >= n + 2, 'watches re-opened after each timeout');
  assert.equal(w.status().lists, 1, 'no re-list needed');
});

test('the agent watches only its node (field selector on the wire) and sees the graceful deletion flow', async () => {
  s.create('pods', pod({ name: 'mine', namespace: 'shop', node: 'node-x', ip: '10.80.0.1', containers: [{ name: 'app', id: 'f'.repeat(64) }, { name: 'proxy', id: 'e'.repeat(64) }], initContainers: [{ name: 'init', id: 'd'.repeat(64) }] }));
  s.create('pods', pod({ name: 'not-mine', namespace: 'shop', node: 'node-y', ip: '10.80.0.2' }));
  s.resetAccounting();
  const w = new NodePodWatch({ nodeName: 'node-x', kubeConfig: kubeConfigFor(s.url, ADMIN), watchTimeoutSec: 60 });
  w.start();
  cleanups.push(() => w.stop());
  assert.equal(await w.waitSynced(5000), true);
  await until('watch open', () => s.openWatches().some((x) => x.fieldSelector === 'spec.nodeName=node-x'));
  assert.deepEqual(w.index.pods().map((p) => p.name), ['mine']);
  const reqs = s.requests((r) => r.resource === 'pods');
  assert.ok(reqs.length >= 2);
  for (const r of reqs) {
    assert.equal(r.fieldSelector, 'spec.nodeName=node-x', `${r.verb} ${r.path}`);
    assert.match(r.path, /fieldSelector=spec\.nodeName%3Dnode-x/);
  }
  assert.ok(reqs.some((r) => r.verb === 'watch' && /allowWatchBookmarks=true/.test(r.path) && /timeoutSeconds=60/.test(r.path)));
  const uid = s.get('pods', 'shop', 'mine')!.metadata.uid!;
  assert.equal(w.index.container(uid, 'e'.repeat(64))?.name, 'proxy');
  assert.equal(w.index.container(uid, 'd'.repeat(64))?.init, true);
  s.delete('pods', 'shop', 'mine'); // graceful: MODIFIED with deletionTimestamp, DELETED 300 ms later
  await until('terminating', () => w.index.byPodUid(uid)?.terminatingUs !== undefined);
  assert.equal(w.index.byPodUid(uid)?.deletedUs, undefined);
  assert.equal(w.index.byIp('10.80.0.1', Date.now() * 1000)?.name, 'mine', 'keeps its IP while terminating');
  await until('deleted', () => w.index.byPodUid(uid)?.deletedUs !== undefined);
  assert.equal(w.index.byPodUid(uid)?.name, 'mine', 'kept after deletion for late events');
});

test('a token without rights: a clear error, retried with backoff, no crash, lookups still answer', async () => {
  const messages: string[] = [];
  const w = new NodePodWatch({ nodeName: 'node-z', kubeConfig: kubeConfigFor(s.url, 'no-rights'), backoffMaxMs: 400, onError: (m) => messages.push(m) });
  w.start();
  cleanups.push(() => w.stop());
  assert.equal(await w.waitSynced(1500), false);
  await until('retries', () => w.status().restarts >= 2);
  assert.match(w.status().lastError!, /403 pods is forbidden: User "system:serviceaccount:tcpscope:agent" cannot list resource "pods" in API group "" at the cluster scope/);
  assert.ok(messages.some((m) => m.includes('forbidden')));
  assert.equal(w.index.byIp('10.0.0.1', Date.now() * 1000), undefined);

  const unknown = new NodePodWatch({ nodeName: 'node-z', kubeConfig: kubeConfigFor(s.url, 'who-am-i'), backoffMaxMs: 400 });
  unknown.start();
  cleanups.push(() => unknown.stop());
  await until('401 seen', () => /401 Unauthorized/.test(unknown.status().lastError ?? ''));
});

test('server errors and an unreachable server: lookups never wait; the watch catches up', async () => {
  s.failRequests(3, { status: 500, match: (r) => r.fieldSelector === 'spec.nodeName=node-err' });
  s.create('pods', pod({ name: 'err-pod', node: 'node-err', ip: '10.90.0.1' }));
  const w = new NodePodWatch({ nodeName: 'node-err', kubeConfig: kubeConfigFor(s.url, ADMIN), backoffMaxMs: 300 });
  w.start();
  cleanups.push(() => w.stop());
  const t0 = process.hrtime.bigint();
  assert.equal(w.index.byIp('10.90.0.1', Date.now() * 1000), undefined);
  assert.ok(process.hrtime.bigint() - t0 < 5_000_000n, 'a lookup is synchronous');
  assert.equal(await w.waitSynced(5000), true);
  assert.ok(w.status().restarts >= 3);
  assert.equal(w.index.byIp('10.90.0.1', Date.now() * 1000)?.name, 'err-pod');

  const dead = new ClusterWatch({ kubeConfig: kubeConfigFor('http://127.0.0.1:9', ADMIN), backoffMaxMs: 300 });
  dead.start();
  cleanups.push(() => dead.stop());
  assert.equal(await dead.waitSynced(800), false);
  assert.equal(dead.index.resolve('10.90.0.1', Date.now() * 1000).reason, 'not-synced');
  assert.match(dead.status()[0]!.lastError ?? '', /ECONNREFUSED|connect/);
});
