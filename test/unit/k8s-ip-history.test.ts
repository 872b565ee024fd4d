// The IP history names the pod that held an address at the event's time, through reuse,
// overlaps and late events, and says "unknown" (counted) instead of guessing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IpHistory } from '../../collector/k8s/ip-history';
import { ClusterIndex } from '../../collector/k8s/cluster-index';
import { trimPod, trimNode, trimService } from '../../collector/k8s/trim';
import { pod, node, service } from '../kube-apiserver/fixtures';

const S = 1_000_000; // µs per second
const T0 = 1_700_000_000 * S;

function podAt(name: string, ip: string | string[], createdUs: number, extra: Parameters<typeof pod>[0] extends infer P ? Partial<P> : never = {}) {
  const raw = pod({ name, node: 'n1', ...(Array.isArray(ip) ? { ips: ip } : { ip }), ...extra });
  raw.metadata.creationTimestamp = new Date(Math.floor(createdUs / S) * 1000).toISOString().replace('.000Z', 'Z'); // second precision, as metav1.Time
  return trimPod(raw);
}

function index(now: { t: number }, retentionMs = 60_000) {
  const ix = new ClusterIndex({ retentionMs, nowUs: () => now.t });
  ix.markSynced(T0 - 3600 * S);
  return ix;
}

test('an IP reused within a second goes to the old pod before and the new pod after, never both', () => {
  const now = { t: T0 };
  const ix = index(now);
  const a = podAt('a', '10.0.0.5', T0 - 100 * S);
  ix.setPod(a, T0 - 99 * S);
  ix.deletePod(a, T0 + 0.2 * S); // DELETED seen at +0.2 s
  const b = podAt('b', '10.0.0.5', T0 + 0.5 * S); // created +0.5 s (creationTimestamp has second precision: +0 s)
  ix.setPod(b, T0 + 0.9 * S);
  now.t = T0 + 2 * S;
  assert.equal(ix.resolve('10.0.0.5', T0 - 1 * S).name, 'a');
  assert.equal(ix.resolve('10.0.0.5', T0 + 0.1 * S).kind, 'unknown', 'a was deleted at +0.2 s but b may exist from +0 s: overlap');
  assert.equal(ix.resolve('10.0.0.5', T0 + 0.1 * S).reason, 'ambiguous');
  assert.equal(ix.resolve('10.0.0.5', T0 + 0.3 * S).name, 'b', 'after a was gone only b can hold it');
  assert.equal(ix.resolve('10.0.0.5', T0 + 1.5 * S).name, 'b');
  assert.equal(ix.counters.ambiguous, 2);
});

test('overlapping delete and create: both pods possible during the overlap -> unknown and counted', () => {
  const now = { t: T0 + 60 * S };
  const ix = index(now);
  const a = podAt('old', '10.0.0.7', T0 - 600 * S);
  ix.setPod(a, T0 - 600 * S);
  const terminating = podAt('old', '10.0.0.7', T0 - 600 * S, { uid: a.metadata.uid });
  terminating.deletionUs = T0 + 30 * S;
  ix.setPod(terminating, T0 + 1 * S); // MODIFIED with deletionTimestamp: still holds its IP
  const b = podAt('new', '10.0.0.7', T0 + 5 * S);
  ix.setPod(b, T0 + 6 * S); // the new pod shows the same IP before the old one is DELETED
  ix.deletePod(terminating, T0 + 10 * S);
  assert.equal(ix.resolve('10.0.0.7', T0 + 2 * S).name, 'old', 'terminating pods keep their IP');
  for (const t of [T0 + 5 * S, T0 + 7 * S, T0 + 10 * S]) {
    const r = ix.resolve('10.0.0.7', t);
    assert.deepEqual([r.kind, r.reason], ['unknown', 'ambiguous'], `t=+${(t - T0) / S}s`);
  }
  assert.equal(ix.resolve('10.0.0.7', T0 + 11 * S).name, 'new');
  assert.equal(ix.counters.ambiguous, 3);
  assert.equal(ix.counters.unknown, 3);
  assert.equal(ix.counters.pod, 2);
});

test('late events (queries for past times) get the pod of that time, including deleted pods within the retention', () => {
  const now = { t: T0 };
  const ix = index(now, 120_000);
  const a = podAt('a', '10.1.0.1', T0 - 50 * S);
  ix.setPod(a, T0 - 50 * S);
  ix.deletePod(a, T0 - 20 * S);
  const b = podAt('b', '10.1.0.1', T0 - 10 * S);
  ix.setPod(b, T0 - 9 * S);
  now.t = T0 + 60 * S; // the events below arrive a minute late
  assert.equal(ix.resolve('10.1.0.1', T0 - 30 * S).name, 'a');
  assert.equal(ix.resolve('10.1.0.1', T0 - 15 * S).reason, 'vacant', 'between a and b nobody held it');
  assert.equal(ix.resolve('10.1.0.1', T0 - 5 * S).name, 'b');
  assert.equal(ix.podByUid(a.metadata.uid)?.deletedUs, T0 - 20 * S);
});

test('retention expiry: a deleted pod is forgotten after the retention, and old times are unknown, not external', () => {
  const now = { t: T0 };
  const ix = index(now, 60_000);
  const a = podAt('a', '10.2.0.1', T0 - 30 * S);
  ix.setPod(a, T0 - 30 * S);
  ix.deletePod(a, T0 - 20 * S);
  now.t = T0 + 30 * S;
  ix.prune();
  assert.equal(ix.resolve('10.2.0.1', T0 - 25 * S).name, 'a', 'within the retention');
  now.t = T0 + 61 * S;
  ix.prune();
  assert.equal(ix.podByUid(a.metadata.uid), undefined);
  const r = ix.resolve('10.2.0.1', T0 - 25 * S);
  assert.deepEqual([r.kind, r.reason], ['unknown', 'expired']);
  assert.equal(ix.resolve('10.2.0.1', now.t).kind, 'external', 'now it is an address nobody in the cluster holds');
});

test('before the history is complete, a pod is only named from the time we saw it', () => {
  const h = new IpHistory<string>(60 * S);
  h.claim('10.3.0.1', 'u1', 'p1', T0 - 100 * S, T0);
  assert.equal(h.lookup('10.3.0.1', T0 - 50 * S).kind, 'uncertain', 'some pod deleted before we started may have held it');
  assert.deepEqual(h.lookup('10.3.0.1', T0 + S), { kind: 'owner', owner: 'p1' });
  h.markComplete(T0 - 200 * S);
  assert.deepEqual(h.lookup('10.3.0.1', T0 - 50 * S), { kind: 'owner', owner: 'p1' });
  h.markBlind(T0 - 60 * S, T0 - 40 * S); // a re-list: changes in this window may be missing
  assert.equal(h.lookup('10.3.0.1', T0 - 50 * S).kind, 'uncertain');
  assert.deepEqual(h.lookup('10.3.0.1', T0 - 30 * S), { kind: 'owner', owner: 'p1' });
});

test('services, nodes, hostNetwork pods, dual-stack and IPv6 pods, pod CIDRs and the outside world', () => {
  const now = { t: T0 };
  const ix = index(now);
  const n = node('node-1', ['192.168.1.10', 'fd00::10'], ['203.0.113.10']);
  (n.spec as Record<string, unknown>).podCIDRs = ['10.244.1.0/24', 'fd00:244:1::/64'];
  ix.setNode(trimNode(n), T0 - 100 * S);
  ix.setService(trimService(service('web', 'shop', ['10.96.0.20', 'fd00:96::20'])), T0 - 100 * S);
  const hostPod = trimPod(pod({ name: 'kube-proxy-x', namespace: 'kube-system', node: 'node-1', ip: '192.168.1.10', hostNetwork: true, owner: { kind: 'DaemonSet', name: 'kube-proxy' } }));
  ix.setPod(hostPod, T0 - 100 * S);
  const ds = trimPod(pod({ name: 'api-0', namespace: 'shop', node: 'node-1', ips: ['10.244.1.9', 'fd00:244:1::9'], owner: { kind: 'StatefulSet', name: 'api' } }));
  ix.setPod(ds, T0 - 100 * S);
  assert.deepEqual(ix.resolve('10.96.0.20', T0), { kind: 'service', namespace: 'shop', name: 'web', uid: ix.resolve('fd00:96::20', T0).uid });
  assert.equal(ix.resolve('fd00:96:0::20', T0).name, 'web', 'IPv6 text forms are normalised');
  assert.deepEqual(ix.resolve('192.168.1.10', T0), { kind: 'node', name: 'node-1', node: 'node-1' }, 'a hostNetwork pod shares the node IP: the node');
  assert.equal(ix.resolve('203.0.113.10', T0).kind, 'node');
  assert.equal(ix.resolve('fd00::10', T0).kind, 'node');
  for (const ip of ['10.244.1.9', 'fd00:244:1::9', '::ffff:10.244.1.9']) {
    const r = ix.resolve(ip, T0);
    assert.equal(r.name, 'api-0', ip);
    assert.deepEqual(r.workload, { kind: 'StatefulSet', name: 'api' });
  }
  const unseen = ix.resolve('10.244.1.77', T0);
  assert.deepEqual([unseen.kind, unseen.reason], ['unknown', 'pod-cidr'], 'an unseen address in a pod CIDR is not "external"');
  assert.equal(ix.resolve('8.8.8.8', T0).kind, 'external');
  assert.equal(ix.resolve('2001:4860::8888', T0).kind, 'external');
  assert.equal(ix.resolve('not-an-ip', T0).reason, 'bad-address');
});

test('nothing is named before the first full list, and a terminal pod gives its address back', () => {
  const now = { t: T0 };
  const ix = new ClusterIndex({ nowUs: () => now.t });
  const p = podAt('job-1', '10.5.0.1', T0 - 10 * S);
  ix.setPod(p, T0 - 5 * S);
  assert.equal(ix.resolve('10.5.0.1', T0).reason, 'not-synced');
  ix.markSynced(T0 - 5 * S);
  assert.equal(ix.resolve('10.5.0.1', T0).name, 'job-1');
  ix.setPod({ ...p, phase: 'Succeeded' }, T0 + S);
  assert.equal(ix.resolve('10.5.0.1', T0).name, 'job-1');
  assert.equal(ix.resolve('10.5.0.1', T0 + 2 * S).reason, 'vacant', 'a completed pod keeps status.podIP but no longer holds it');
});
