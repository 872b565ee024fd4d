// The test API server speaks the list/watch protocol as the real one does: checked over
// raw HTTP (410 as an ERROR event, bookmarks, pagination, 401/403 Status objects,
// TokenReview) and with kubectl.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { KubeApiServer } from '../kube-apiserver/server';
import { pod } from '../kube-apiserver/fixtures';
import { makeTestPki, type TestPki } from '../lib/certs';

const ADMIN = 'admin-token';
let s: KubeApiServer;

async function get(path: string, token = ADMIN): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const r = await fetch(s.url + path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const text = await r.text();
  return { status: r.status, body: text.trim().split('\n').map((l) => JSON.parse(l)) };
}

before(async () => {
  s = await new KubeApiServer({
    tokens: [
      { token: ADMIN, user: 'admin', rules: 'all' },
      { token: 'ns-reader', user: 'system:serviceaccount:shop:reader', rules: [{ verbs: ['list', 'watch'], resources: ['pods'], namespaces: ['shop'] }], audiences: ['tcpscope'] },
    ],
    bookmarkIntervalMs: 200,
  }).start();
  for (let i = 0; i < 25; i++) s.create('pods', pod({ name: `p${String(i).padStart(2, '0')}`, namespace: i % 2 ? 'shop' : 'default', node: `node-${i % 3}`, ip: `10.0.0.${i + 1}` }));
});
after(() => s.stop());

test('a watch from a compacted resourceVersion gets HTTP 200 and an ERROR event with a 410 Expired Status', async () => {
  const rv = s.store.resourceVersion;
  s.create('pods', pod({ name: 'late', node: 'node-0' }));
  s.compact();
  const r = await get(`/api/v1/pods?watch=true&resourceVersion=${rv}`);
  assert.equal(r.status, 200);
  assert.equal(r.body.length, 1);
  assert.equal(r.body[0].type, 'ERROR');
  assert.deepEqual(r.body[0].object, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${rv} (${rv + 1})`, reason: 'Expired', code: 410 });
  const exact = await get(`/api/v1/pods?resourceVersion=${rv}&resourceVersionMatch=Exact`);
  assert.equal(exact.status, 410);
  assert.equal(exact.body[0].reason, 'Expired');
});

test('watch events replay from a resourceVersion; bookmarks carry only the resourceVersion; timeoutSeconds ends the stream', async () => {
  const rv = s.store.resourceVersion;
  s.create('pods', pod({ name: 'w1', namespace: 'shop', node: 'node-1' }));
  s.modify('pods', 'shop', 'w1', (o) => { o.metadata.labels = { a: 'b' }; });
  s.delete('pods', 'shop', 'w1', { graceMs: 0 });
  const r = await get(`/api/v1/namespaces/shop/pods?watch=1&resourceVersion=${rv}&allowWatchBookmarks=true&timeoutSeconds=1`);
  const types = r.body.map((e: { type: string }) => e.type);
  assert.deepEqual(types.filter((t: string) => t !== 'BOOKMARK'), ['ADDED', 'MODIFIED', 'DELETED']);
  assert.ok(types.includes('BOOKMARK'), 'bookmarks within a second at a 200 ms interval');
  const bm = r.body.find((e: { type: string }) => e.type === 'BOOKMARK').object;
  assert.deepEqual(Object.keys(bm).sort(), ['apiVersion', 'kind', 'metadata']);
  assert.deepEqual(bm.metadata, { resourceVersion: String(s.store.resourceVersion), creationTimestamp: null });
  assert.equal(r.body[0].object.kind, 'Pod');
  assert.equal(Number(r.body[2].object.metadata.resourceVersion), rv + 3);
});

test('sendInitialEvents: the state as ADDED, then a bookmark with k8s.io/initial-events-end', async () => {
  const r = await get('/api/v1/pods?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=0.3&fieldSelector=spec.nodeName%3Dnode-2');
  const added = r.body.filter((e: { type: string }) => e.type === 'ADDED');
  assert.ok(added.length > 0 && added.every((e: { object: { spec: { nodeName: string } } }) => e.object.spec.nodeName === 'node-2'));
  const end = r.body.find((e: { object: { metadata: { annotations?: Record<string, string> } } }) => e.object.metadata.annotations?.['k8s.io/initial-events-end'] === 'true');
  assert.equal(end?.type, 'BOOKMARK');
  assert.equal(r.body.indexOf(end), added.length, 'right after the initial events');
});

test('a selector change turns into ADDED / DELETED for a watch whose selection the object enters or leaves', async () => {
  s.create('pods', pod({ name: 'mover', node: 'node-0', labels: { team: 'a' } }));
  const rv = s.store.resourceVersion;
  s.modify('pods', 'default', 'mover', (o) => { o.metadata.labels = { team: 'b' }; });
  s.modify('pods', 'default', 'mover', (o) => { o.metadata.labels = { team: 'a' }; });
  const r = await get(`/api/v1/pods?watch=1&resourceVersion=${rv}&labelSelector=team%3Da&timeoutSeconds=0.3`);
  assert.deepEqual(r.body.map((e: { type: string }) => e.type), ['DELETED', 'ADDED']);
});

test('limit/continue pages through a consistent snapshot; an expired continue token is 410', async () => {
  const first = await get('/api/v1/pods?limit=10');
  assert.equal(first.body[0].items.length, 10);
  const token = first.body[0].metadata.continue;
  assert.ok(token);
  assert.equal(typeof first.body[0].metadata.remainingItemCount, 'number');
  s.create('pods', pod({ name: 'aaa-after-first-page', node: 'node-0' }));
  const names: string[] = first.body[0].items.map((p: { metadata: { name: string } }) => p.metadata.name);
  let cont = token;
  while (cont) {
    const page = await get(`/api/v1/pods?limit=10&continue=${encodeURIComponent(cont)}`);
    assert.equal(page.status, 200);
    assert.equal(page.body[0].metadata.resourceVersion, first.body[0].metadata.resourceVersion, 'every page is the same snapshot');
    names.push(...page.body[0].items.map((p: { metadata: { name: string } }) => p.metadata.name));
    cont = page.body[0].metadata.continue;
  }
  assert.equal(new Set(names).size, names.length);
  assert.ok(!names.includes('aaa-after-first-page'), 'created after the snapshot');
  s.compact();
  const expired = await get(`/api/v1/pods?limit=10&continue=${encodeURIComponent(token)}`);
  assert.equal(expired.status, 410);
  assert.equal(expired.body[0].reason, 'Expired');
  assert.match(expired.body[0].message, /continue parameter is too old/);
});

test('401 without a known token, 403 with the real message for a token without rights, 400 for bad selectors', async () => {
  const none = await get('/api/v1/pods', '');
  assert.equal(none.status, 401);
  assert.deepEqual(none.body[0], { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
  assert.equal((await get('/api/v1/pods', 'wrong')).status, 401);
  const cluster = await get('/api/v1/pods', 'ns-reader');
  assert.equal(cluster.status, 403);
  assert.equal(cluster.body[0].reason, 'Forbidden');
  assert.equal(cluster.body[0].message, 'pods is forbidden: User "system:serviceaccount:shop:reader" cannot list resource "pods" in API group "" at the cluster scope');
  const other = await get('/api/v1/namespaces/default/pods', 'ns-reader');
  assert.equal(other.body[0].message, 'pods is forbidden: User "system:serviceaccount:shop:reader" cannot list resource "pods" in API group "" in the namespace "default"');
  const apps = await get('/apis/apps/v1/namespaces/shop/deployments?watch=1', 'ns-reader');
  assert.equal(apps.body[0].message, 'deployments.apps is forbidden: User "system:serviceaccount:shop:reader" cannot watch resource "deployments" in API group "apps" in the namespace "shop"');
  assert.equal((await get('/api/v1/namespaces/shop/pods', 'ns-reader')).status, 200);
  const bad = await get('/api/v1/pods?fieldSelector=spec.bogus%3Dx');
  assert.equal(bad.status, 400);
  assert.equal(bad.body[0].message, 'field label not supported: spec.bogus');
});

test('TokenReview answers for ServiceAccount tokens and their audiences', async () => {
  const review = async (token: string, audiences?: string[]) => {
    const r = await fetch(`${s.url}/apis/authentication.k8s.io/v1/tokenreviews`, {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, ...(audiences ? { audiences } : {}) } }),
    });
    assert.equal(r.status, 201);
    return (await r.json()) as { status: { authenticated?: boolean; user: { username?: string }; audiences?: string[]; error?: string } };
  };
  const ok = await review('ns-reader', ['tcpscope']);
  assert.equal(ok.status.authenticated, true);
  assert.equal(ok.status.user.username, 'system:serviceaccount:shop:reader');
  assert.deepEqual(ok.status.audiences, ['tcpscope']);
  const wrongAud = await review('ns-reader', ['other']);
  assert.notEqual(wrongAud.status.authenticated, true);
  assert.match(wrongAud.status.error!, /audiences/);
  assert.notEqual((await review('nope')).status.authenticated, true);
});

test('request accounting counts requests by verb, resource and selectors, and lists open watches', async () => {
  s.resetAccounting();
  const ctl = new AbortController();
  const r = await fetch(`${s.url}/api/v1/pods?watch=1&fieldSelector=spec.nodeName%3Dnode-1`, { headers: { authorization: `Bearer ${ADMIN}` }, signal: ctl.signal });
  assert.equal(r.status, 200);
  await get('/api/v1/pods?labelSelector=app%3Dx');
  assert.deepEqual(s.requestCounts(), { 'list pods labelSelector=app=x': 1, 'watch pods fieldSelector=spec.nodeName=node-1': 1 });
  const open = s.openWatches();
  assert.equal(open.length, 1);
  assert.equal(open[0]!.fieldSelector, 'spec.nodeName=node-1');
  ctl.abort();
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(s.openWatches().length, 0);
});

test('kubectl works against the server (TLS, bearer token)', async (t) => {
  let pki: TestPki;
  try {
    pki = makeTestPki();
  } catch (err) {
    return t.skip(`openssl unavailable: ${String(err)}`);
  }
  const fs = await import('node:fs');
  const tlsServer = await new KubeApiServer({ tokens: [{ token: ADMIN, user: 'admin', rules: 'all' }], tls: { cert: fs.readFileSync(pki.serverCert), key: fs.readFileSync(pki.serverKey) } }).start();
  try {
    tlsServer.create('pods', pod({ name: 'kubectl-sees-me', namespace: 'shop', node: 'node-9', ip: '10.9.9.9' }));
    const run = (args: string[]) => promisify(execFile)('kubectl', ['--server', tlsServer.url, '--certificate-authority', pki.ca, '--token', ADMIN, ...args], { timeout: 20_000 });
    let out: { stdout: string };
    try {
      out = await run(['get', 'pods', '-A', '-o', 'json']);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return t.skip('kubectl not installed');
      throw err;
    }
    const list = JSON.parse(out.stdout);
    assert.deepEqual(list.items.map((p: { metadata: { name: string } }) => p.metadata.name), ['kubectl-sees-me']);
    assert.equal(list.items[0].status.podIP, '10.9.9.9');
    const wide = await run(['get', 'pods', '-n', 'shop', '--field-selector', 'spec.nodeName=node-9', '-o', 'name']);
    assert.equal(wide.stdout.trim(), 'pod/kubectl-sees-me');
    await assert.rejects(promisify(execFile)('kubectl', ['--server', tlsServer.url, '--certificate-authority', pki.ca, '--token', 'bad', 'get', 'pods'], { timeout: 20_000 }), /Unauthorized|logged in/);
  } finally {
    await tlsServer.stop();
    pki.cleanup();
  }
});
