// Owner references resolve to workloads along the chains Kubernetes builds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OwnerIndex, workloadOf } from '../../collector/k8s/owners';
import { trimOwner, trimPod } from '../../collector/k8s/trim';
import { pod, workload } from '../kube-apiserver/fixtures';

const owners = new OwnerIndex(60_000_000);
owners.set(trimOwner('ReplicaSet')(workload('ReplicaSet', 'web-6d4cf56db6', 'shop', { kind: 'Deployment', name: 'web' })));
owners.set(trimOwner('ReplicaSet')(workload('ReplicaSet', 'bare-rs', 'shop')));
owners.set(trimOwner('Job')(workload('Job', 'backup-28930140', 'ops', { kind: 'CronJob', name: 'backup' })));
owners.set(trimOwner('Job')(workload('Job', 'migrate', 'ops')));

const of = (ns: string, owner?: { kind: string; name: string }) => workloadOf(trimPod(pod({ name: 'p-1', namespace: ns, node: 'n', owner })), owners);

test('ReplicaSet -> Deployment and Job -> CronJob', () => {
  assert.deepEqual(of('shop', { kind: 'ReplicaSet', name: 'web-6d4cf56db6' }), { kind: 'Deployment', name: 'web' });
  assert.deepEqual(of('ops', { kind: 'Job', name: 'backup-28930140' }), { kind: 'CronJob', name: 'backup' });
});

test('a ReplicaSet or Job without a controller is the workload itself', () => {
  assert.deepEqual(of('shop', { kind: 'ReplicaSet', name: 'bare-rs' }), { kind: 'ReplicaSet', name: 'bare-rs' });
  assert.deepEqual(of('ops', { kind: 'Job', name: 'migrate' }), { kind: 'Job', name: 'migrate' });
});

test('StatefulSet, DaemonSet and other controllers are the workload; a bare pod is its own', () => {
  assert.deepEqual(of('shop', { kind: 'StatefulSet', name: 'db' }), { kind: 'StatefulSet', name: 'db' });
  assert.deepEqual(of('kube-system', { kind: 'DaemonSet', name: 'tcpscope-agent' }), { kind: 'DaemonSet', name: 'tcpscope-agent' });
  assert.deepEqual(of('kube-system', { kind: 'Node', name: 'node-1' }), { kind: 'Node', name: 'node-1' }, 'static (mirror) pods');
  assert.deepEqual(of('default'), { kind: 'Pod', name: 'p-1' });
});

test('an owner not (yet) seen is not guessed from its name', () => {
  assert.deepEqual(of('shop', { kind: 'ReplicaSet', name: 'api-7f9c8d-unknown' }), { kind: 'ReplicaSet', name: 'api-7f9c8d-unknown' });
  assert.deepEqual(of('other-ns', { kind: 'ReplicaSet', name: 'web-6d4cf56db6' }), { kind: 'ReplicaSet', name: 'web-6d4cf56db6' }, 'owners are per namespace');
});

test('a deleted owner answers until the retention ends', () => {
  const ix = new OwnerIndex(10);
  const rs = trimOwner('ReplicaSet')(workload('ReplicaSet', 'w-1', 'a', { kind: 'Deployment', name: 'w' }));
  ix.set(rs);
  ix.delete(rs, 100);
  ix.prune(105);
  assert.equal(ix.get('ReplicaSet', 'a', 'w-1')?.owner?.name, 'w');
  ix.prune(111);
  assert.equal(ix.get('ReplicaSet', 'a', 'w-1'), undefined);
});

test('only the controller reference counts when there are several owners', () => {
  const raw = pod({ name: 'x', node: 'n' });
  raw.metadata.ownerReferences = [
    { apiVersion: 'v1', kind: 'ConfigMap', name: 'not-me', uid: 'u1' },
    { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'me', uid: 'u2', controller: true },
  ];
  assert.deepEqual(workloadOf(trimPod(raw), owners), { kind: 'StatefulSet', name: 'me' });
});
