// A node's worth of pods for the agent benchmarks, without a cluster or a kernel: a cgroup v2
// tree laid out as the kubelet's systemd driver makes it, a /proc with each pod's sandbox
// netns link and cgroup file, and the agent's LocalPodIndex holding the same pods, so the
// real SocketAttributor (CgroupMap, NetnsMap, LocalPodIndex) runs unchanged. Everything
// lives in one temporary directory that close() removes.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CgroupMap } from '../../../agent/attribute/cgroup-map';
import { NetnsMap } from '../../../agent/attribute/netns-map';
import { SocketAttributor } from '../../../agent/attribute/socket-attributor';
import { LocalPodIndex } from '../../../agent/k8s/local-pod-index';
import { trimPod } from '../../../collector/k8s/trim';
import { pod as podObject } from '../../../test/kube-apiserver/fixtures';

export interface FakePodModel {
  uid: string;
  name: string;
  namespace: string;
  ip: string;
  /** The pod sandbox's network-namespace inode (as the kernel would report it). */
  netns: number;
  /** The main container's cgroup directory inode: the socket's cgroup id. */
  cgroupId: number;
  containerId: string;
}

export interface FakeNode {
  name: string;
  ip: string;
  pods: FakePodModel[];
  /** A host process's cgroup (kubelet.service): known to no pod. */
  hostCgroupId: number;
  hostNetns: number;
  attributor: SocketAttributor;
  close(): void;
}

const HOST_NETNS = 4026531840;

export function createFakeNode(podCount: number, nodeName = 'node-1'): FakeNode {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcpscope-bench-node-'));
  const cgroupRoot = path.join(dir, 'cgroup');
  const procRoot = path.join(dir, 'proc');
  const burstable = path.join(cgroupRoot, 'kubepods.slice', 'kubepods-burstable.slice');
  fs.mkdirSync(burstable, { recursive: true });
  const hostCg = path.join(cgroupRoot, 'system.slice', 'kubelet.service');
  fs.mkdirSync(hostCg, { recursive: true });
  fs.mkdirSync(path.join(procRoot, '1', 'ns'), { recursive: true });
  fs.symlinkSync(`net:[${HOST_NETNS}]`, path.join(procRoot, '1', 'ns', 'net'));
  fs.writeFileSync(path.join(procRoot, '1', 'cgroup'), '0::/init.scope\n');

  const index = new LocalPodIndex({ retentionMs: 120_000 });
  const pods: FakePodModel[] = [];
  for (let i = 0; i < podCount; i++) {
    const uid = randomUUID();
    const containerId = randomUUID().replace(/-/g, '') + randomUUID().replace(/-/g, '');
    const podSlice = `kubepods-burstable-pod${uid.replace(/-/g, '_')}.slice`;
    const containerDir = path.join(burstable, podSlice, `cri-containerd-${containerId}.scope`);
    fs.mkdirSync(containerDir, { recursive: true });
    const netns = 4026532000 + i;
    const pid = String(1000 + i);
    fs.mkdirSync(path.join(procRoot, pid, 'ns'), { recursive: true });
    fs.symlinkSync(`net:[${netns}]`, path.join(procRoot, pid, 'ns', 'net'));
    fs.writeFileSync(path.join(procRoot, pid, 'cgroup'), `0::/kubepods.slice/kubepods-burstable.slice/${podSlice}/cri-containerd-${containerId}.scope\n`);
    const name = `app-${i % 20}-5d4f8b-${i.toString(36).padStart(5, 'x')}`;
    const namespace = `ns-${i % 10}`;
    const ip = `10.244.${(i + 2) >> 8}.${(i + 2) & 255}`;
    const raw = podObject({ name, namespace, uid, node: nodeName, ip, owner: { kind: 'ReplicaSet', name: `app-${i % 20}-5d4f8b` }, containers: [{ name: 'app', id: containerId }] });
    (raw.metadata as Record<string, unknown>).creationTimestamp = new Date(Date.now() - 3600_000).toISOString();
    index.set(trimPod(raw, { containers: true }));
    pods.push({ uid, name, namespace, ip, netns, cgroupId: fs.statSync(containerDir).ino, containerId });
  }
  index.markSynced();
  const cgroups = new CgroupMap(cgroupRoot);
  const netns = new NetnsMap(procRoot);
  cgroups.scan();
  netns.scan();
  if (cgroups.size < podCount) throw new Error(`fake node: the cgroup map found ${cgroups.size} of ${podCount} pod cgroups`);
  return {
    name: nodeName, ip: '192.168.10.11', pods, hostCgroupId: fs.statSync(hostCg).ino, hostNetns: HOST_NETNS,
    attributor: new SocketAttributor(index, cgroups, netns),
    close: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
