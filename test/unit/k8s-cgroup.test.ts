// Pod UID and container id from /proc/<pid>/cgroup, for the cgroup drivers and runtimes
// found on real nodes; container ids to names through the pod's container statuses.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CgroupMap } from '../../agent/attribute/cgroup-map';
import { podFromCgroupFile, podFromCgroupPath, parseCgroupFile } from '../../agent/k8s/cgroup';
import { LocalPodIndex, containerName } from '../../agent/k8s/local-pod-index';
import { trimPod } from '../../collector/k8s/trim';
import { pod } from '../kube-apiserver/fixtures';

const UID = '3f1c2a4e-9b7d-4c2e-8a1f-0123456789ab';
const UID_ = UID.replace(/-/g, '_');
const CID = 'a'.repeat(8) + '0123456789abcdef0123456789abcdef0123456789abcdef01234567';

test('systemd driver, cgroup v2, containerd', () => {
  const text = `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${CID}.scope\n`;
  assert.deepEqual(podFromCgroupFile(text), { podUid: UID, qos: 'burstable', containerId: CID, runtime: 'containerd' });
});

test('systemd driver: guaranteed and besteffort pods, CRI-O and Docker scopes', () => {
  assert.deepEqual(podFromCgroupPath(`/kubepods.slice/kubepods-pod${UID_}.slice/crio-${CID}.scope`), { podUid: UID, qos: 'guaranteed', containerId: CID, runtime: 'crio' });
  assert.deepEqual(podFromCgroupPath(`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/docker-${CID}.scope`), { podUid: UID, qos: 'besteffort', containerId: CID, runtime: 'docker' });
});

test('cgroupfs driver, cgroup v1 lines with controllers', () => {
  const text = [
    `12:pids:/kubepods/burstable/pod${UID}/${CID}`,
    `11:memory:/kubepods/burstable/pod${UID}/${CID}`,
    '1:name=systemd:/kubepods/burstable/pod' + UID + '/' + CID,
    '',
  ].join('\n');
  assert.equal(parseCgroupFile(text).length, 3);
  assert.deepEqual(parseCgroupFile(text)[0]!.controllers, ['pids']);
  assert.deepEqual(podFromCgroupFile(text), { podUid: UID, qos: 'burstable', containerId: CID, runtime: 'unknown' });
  assert.deepEqual(podFromCgroupPath(`/kubepods/pod${UID}/${CID}`), { podUid: UID, qos: 'guaranteed', containerId: CID, runtime: 'unknown' });
});

test('nested under a kind/docker node, and the pod cgroup itself without a container', () => {
  assert.deepEqual(podFromCgroupPath(`/docker/${'b'.repeat(64)}/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${UID_}.slice/cri-containerd-${CID}.scope`),
    { podUid: UID, qos: 'besteffort', containerId: CID, runtime: 'containerd' });
  assert.deepEqual(podFromCgroupPath(`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice`), { podUid: UID, qos: 'burstable' });
});

test('the CRI-O monitor (conmon) is the pod, not a container; host processes are no pod', () => {
  assert.deepEqual(podFromCgroupPath(`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-conmon-${CID}.scope`), { podUid: UID, qos: 'burstable' });
  assert.equal(podFromCgroupFile('0::/system.slice/containerd.service\n'), undefined);
  assert.equal(podFromCgroupFile('0::/user.slice/user-0.slice/session-1.scope\n'), undefined);
  assert.equal(podFromCgroupFile('garbage\n\n'), undefined);
});

test('container ids map to names through containerStatuses, init containers included', () => {
  const raw = pod({
    name: 'web-1', node: 'n1', ip: '10.0.0.9', uid: UID,
    containers: [{ name: 'app', id: `containerd://${CID}` }, { name: 'sidecar', id: 'cri-o://' + 'c'.repeat(64) }],
    initContainers: [{ name: 'init-db', id: 'd'.repeat(64) }],
  });
  const p = trimPod(raw, { containers: true });
  assert.equal(containerName(p.containers!, CID)?.name, 'app');
  assert.equal(containerName(p.containers!, `containerd://${CID}`)?.name, 'app');
  assert.equal(containerName(p.containers!, 'c'.repeat(12))?.name, 'sidecar', 'a 12-character short id');
  assert.deepEqual(containerName(p.containers!, 'd'.repeat(64)), { name: 'init-db', id: 'd'.repeat(64), init: true });
  assert.equal(containerName(p.containers!, 'e'.repeat(64)), undefined, 'the sandbox (pause) container is no named container');
  const ix = new LocalPodIndex();
  ix.set(p);
  const cg = podFromCgroupPath(`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${CID}.scope`)!;
  assert.equal(ix.byPodUid(cg.podUid)?.name, 'web-1');
  assert.equal(ix.container(cg.podUid, cg.containerId!)?.name, 'app');
});

test('the local index keeps a deleted pod for its last events and its IP until DELETED', () => {
  const S = 1_000_000, T0 = 1_700_000_000 * S;
  const now = { t: T0 };
  const ix = new LocalPodIndex({ retentionMs: 10_000, nowUs: () => now.t });
  const raw = pod({ name: 'a', node: 'n1', ip: '10.0.0.3', uid: UID });
  raw.metadata.creationTimestamp = new Date((T0 - 60 * S) / 1000).toISOString();
  ix.set(trimPod(raw, { containers: true }), T0 - 60 * S);
  ix.markSynced(T0 - 60 * S);
  const terminating = trimPod({ ...raw, metadata: { ...raw.metadata, deletionTimestamp: new Date((T0 + 30 * S) / 1000).toISOString() } }, { containers: true });
  ix.set(terminating, T0);
  assert.equal(ix.byIp('10.0.0.3', T0 + S)?.name, 'a');
  assert.equal(ix.byPodUid(UID)?.terminatingUs, T0);
  ix.delete(terminating, T0 + 2 * S);
  now.t = T0 + 5 * S;
  assert.equal(ix.byIp('10.0.0.3', T0 + S)?.name, 'a', 'a late event from its last seconds');
  assert.equal(ix.byIp('10.0.0.3', T0 + 3 * S), undefined, 'after DELETED nobody holds it');
  assert.equal(ix.byPodUid(UID)?.deletedUs, T0 + 2 * S);
  ix.prune(T0 + 13 * S);
  assert.equal(ix.byPodUid(UID), undefined, 'forgotten after the retention');
  assert.equal(ix.pods().length, 0);
});

test('a removed cgroup directory keeps naming its pod for the retention, then is forgotten', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tcpscope-cgroup-'));
  try {
    const dir = path.join(root, 'kubepods.slice', 'kubepods-burstable.slice', `kubepods-burstable-pod${UID_}.slice`, `cri-containerd-${CID}.scope`);
    fs.mkdirSync(dir, { recursive: true });
    const id = fs.statSync(dir).ino;
    const keep = new CgroupMap(root, 0, 8, 60_000);
    const forget = new CgroupMap(root, 0, 8, -1);
    keep.scan();
    forget.scan();
    assert.equal(keep.lookup(id)?.podUid, UID);
    assert.deepEqual(keep.idsOf(UID).includes(id), true);
    fs.rmdirSync(dir);
    keep.scan();
    forget.scan();
    assert.equal(keep.lookup(id)?.podUid, UID, 'late closes of a deleted container still name its pod');
    assert.equal(keep.idsOf(UID).includes(id), false, 'but a followed pod is not filtered by a directory that is gone');
    assert.equal(forget.lookup(id), undefined, 'after the retention it is forgotten');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
