// CgroupMap: a socket's cgroup id (the inode of its cgroup v2 directory, as the kernel
// reports sk->sk_cgrp_data.cgroup->kn->id) -> the pod and container that directory belongs
// to. Built by walking the cgroup2 mount; rescanned (rate-limited) when an unknown id shows
// up. Cgroup ids are not reused the way netns inodes are, so this is the preferred key, and
// a removed directory's id keeps answering for a while (late closes of a deleted pod's
// sockets, a flow interval that ends after the pod is gone).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { podFromCgroupPath, type CgroupPod } from '../k8s/cgroup';

/** The cgroup2 mount point, from a mountinfo text (hybrid hosts have it at /sys/fs/cgroup/unified). */
export function cgroup2Mount(mountinfo: string): string | undefined {
  for (const line of mountinfo.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    if (post.split(' ')[0] === 'cgroup2') return pre.split(' ')[4];
  }
  return undefined;
}

export class CgroupMap {
  private byId = new Map<number, CgroupPod>();
  /** Ids whose directory a scan no longer found, with when: kept for goneRetentionMs. */
  private gone = new Map<number, number>();
  private lastScanMs = 0;
  scans = 0;

  constructor(readonly root: string, private readonly minRescanMs = 1000, private readonly maxDepth = 8, private readonly goneRetentionMs = 120_000) {}

  /** The pod (and container) of a cgroup id, or undefined. An unknown id may trigger a rescan. */
  lookup(id: number): CgroupPod | undefined {
    const hit = this.byId.get(id);
    if (hit || id <= 1) return hit;
    if (Date.now() - this.lastScanMs >= this.minRescanMs) {
      this.scan();
      return this.byId.get(id);
    }
    return undefined;
  }

  /** Walks the cgroup2 tree once, mapping each pod cgroup directory's inode to its pod. */
  scan(): void {
    this.lastScanMs = Date.now();
    this.scans++;
    const next = new Map<number, CgroupPod>();
    const walk = (dir: string, rel: string, depth: number) => {
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        if (!e.isDirectory()) continue;
        const full = path.join(dir, e.name);
        const relPath = `${rel}/${e.name}`;
        const pod = podFromCgroupPath(relPath);
        if (pod) {
          try {
            next.set(fs.statSync(full).ino, pod);
          } catch {
            /* gone meanwhile */
          }
        }
        if (depth < this.maxDepth) walk(full, relPath, depth + 1);
      }
    };
    walk(this.root, '', 0);
    const now = Date.now();
    for (const [id, pod] of this.byId) {
      if (next.has(id)) continue;
      const since = this.gone.get(id) ?? now;
      if (now - since > this.goneRetentionMs) {
        this.gone.delete(id);
        continue;
      }
      this.gone.set(id, since);
      next.set(id, pod);
    }
    for (const id of this.gone.keys()) if (!this.byId.has(id)) this.gone.delete(id);
    this.byId = next;
  }

  /** The cgroup ids of a pod's directories (the pod's and its containers'), present at the last scan. */
  idsOf(podUid: string): number[] {
    const ids: number[] = [];
    for (const [id, p] of this.byId) if (p.podUid === podUid && !this.gone.has(id)) ids.push(id);
    return ids;
  }

  get size(): number {
    return this.byId.size;
  }
}
