// Following a pod: the collector tells every agent stream which pods are followed (a lease,
// renewed while anyone watches, ended when the last watcher leaves); the agent on the pod's
// node starts one per-session program filtered to the followed pods' cgroups, restarts it
// when that set changes, and stops it when the leases end.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProgramOptions } from '../../agent/bpftrace/program';
import type { CgroupMap } from '../../agent/attribute/cgroup-map';
import type { NetnsMap } from '../../agent/attribute/netns-map';
import { type FollowRunner, PodFollower } from '../../agent/follow/pod-follower';
import { LocalPodIndex } from '../../agent/k8s/local-pod-index';
import type { TraceRecord } from '../../agent/records';
import { FollowRequests } from '../../collector/follow/follow-requests';
import { makeLogger } from '../../common/log';
import type { FollowRequest } from '../../gen/tcpscope/v1/ingest';

test('the collector broadcasts a follow once, renews it to new streams, and ends it when the last watcher leaves', () => {
  const f = new FollowRequests(30_000);
  const a: FollowRequest[][] = [];
  const b: FollowRequest[][] = [];
  const detachA = f.attach((x) => a.push(x));
  const stop1 = f.follow('shop/web-1');
  const stop2 = f.follow('shop/web-1');
  assert.deepEqual(a, [[{ namespace: 'shop', name: 'web-1', leaseMs: 30_000 }]], 'one request for two watchers');
  f.attach((x) => b.push(x));
  assert.deepEqual(b, [[{ namespace: 'shop', name: 'web-1', leaseMs: 30_000 }]], 'a stream that connects later hears it at once');
  stop1();
  stop1();
  assert.equal(a.length, 1, 'still watched by one');
  detachA();
  stop2();
  assert.deepEqual(b.at(-1), [{ namespace: 'shop', name: 'web-1', leaseMs: 0 }], 'the last watcher leaving ends the lease');
  assert.equal(a.length, 1, 'a detached stream hears nothing');
  assert.equal(f.followed.size, 0);
  assert.doesNotThrow(() => f.follow('not-a-pod')());
  f.stop();
});

test('the agent runs one per-session program for its followed pods, filtered by their cgroups, and stops it when the leases end', async () => {
  const index = new LocalPodIndex();
  const pod = (uid: string, name: string) => ({ metadata: { uid, namespace: 'shop', name }, node: 'n1', hostNetwork: false, ips: [], phase: 'Running', containers: [], createdUs: 1 });
  index.set(pod('u1', 'web-1') as never);
  index.set(pod('u2', 'web-2') as never);
  index.set(pod('u3', 'v1-only') as never);
  const cgroups = { idsOf: (uid: string) => (uid === 'u1' ? [101, 102] : uid === 'u2' ? [201] : []) } as unknown as CgroupMap;
  const netns = { inodesOf: (uid: string) => (uid === 'u3' ? [4026532999] : []) } as unknown as NetnsMap;
  const started: ProgramOptions[] = [];
  let running = 0;
  const runners: Array<(r: TraceRecord) => void> = [];
  const makeRunner = (program: ProgramOptions): FollowRunner => ({
    onRecord: (fn) => runners.push(fn),
    start: async () => { started.push(program); running++; },
    stop: async () => { running--; },
  });
  const f = new PodFollower({ index, cgroups, netns, log: makeLogger('test', 'silent'), makeRunner, maxPods: 2 });
  const sessions: string[] = [];
  f.onSession((r) => sessions.push(r.laddr));
  const settle = () => new Promise((r) => setTimeout(r, 20));

  f.request('shop', 'elsewhere', 30_000);   // not on this node: ignored
  await settle();
  assert.equal(started.length, 0);
  f.request('shop', 'web-1', 30_000);
  await settle();
  assert.deepEqual(started.at(-1), { kind: 'life', includeUnborn: true, cgroupIds: [101, 102], netnsInodes: [] });
  f.request('shop', 'web-1', 30_000);      // a renewal changes nothing
  await settle();
  assert.equal(started.length, 1);
  f.request('shop', 'v1-only', 30_000);    // no cgroup v2 directories: its network namespace
  await settle();
  assert.deepEqual(started.at(-1), { kind: 'life', includeUnborn: true, cgroupIds: [101, 102], netnsInodes: [4026532999] });
  assert.equal(running, 1, 'one program at a time');
  f.request('shop', 'web-2', 30_000);      // over the limit of 2 followed pods
  await settle();
  assert.equal(f.counters.refused, 1);
  runners.at(-1)!({ kind: 'session', laddr: '198.18.0.1' } as TraceRecord);
  runners.at(-1)!({ kind: 'retransmit' } as TraceRecord);
  assert.deepEqual(sessions, ['198.18.0.1'], 'sessions only');
  f.request('shop', 'web-1', 0);
  f.request('shop', 'v1-only', 0);
  await settle();
  assert.equal(running, 0, 'no follower left: the program stops');
  assert.deepEqual(f.followed, []);
  await f.stop();
});
