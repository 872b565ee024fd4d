// NetnsMap: a socket's network-namespace inode -> the pod whose sandbox owns that
// namespace, found through /proc/<pid>/ns/net of processes whose cgroup path carries the
// pod UID. Netns inodes are reused (a deleted pod's inode went to the next pod within a
// second, measured here), so every mapping is kept with the time it was first seen and a
// lookup takes the owner at the event's time.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { podFromCgroupFile } from '../k8s/cgroup';

interface Tenure {
  podUid: string;
  fromUs: number;
}

export class NetnsMap {
  private readonly tenures = new Map<number, Tenure[]>();
  private hostNetns = 0;
  private lastScanMs = 0;
  scans = 0;

  constructor(readonly procRoot = '/proc', private readonly minRescanMs = 1000) {}

  /** The pod that owned this netns inode at timeUs (the host's namespace belongs to no pod). */
  lookup(inode: number, timeUs: number): string | undefined {
    if (!inode || inode === this.hostNetns) return undefined;
    let t = this.tenures.get(inode);
    if (!t && Date.now() - this.lastScanMs >= this.minRescanMs) {
      this.scan();
      t = this.tenures.get(inode);
    }
    if (!t) return undefined;
    let owner: Tenure | undefined;
    for (const x of t) if (x.fromUs <= timeUs + 1_000_000) owner = x; // seen up to 1 s after the event: scans lag
    return owner?.podUid;
  }

  /** Reads every process's netns and cgroup once. */
  scan(nowUs = Date.now() * 1000): void {
    this.lastScanMs = Date.now();
    this.scans++;
    this.hostNetns = inodeOf(path.join(this.procRoot, '1', 'ns', 'net')) ?? this.hostNetns;
    let pids: string[];
    try {
      pids = fs.readdirSync(this.procRoot).filter((p) => /^\d+$/.test(p));
    } catch {
      return;
    }
    for (const pid of pids) {
      const ino = inodeOf(path.join(this.procRoot, pid, 'ns', 'net'));
      if (!ino || ino === this.hostNetns) continue;
      let cg: string;
      try {
        cg = fs.readFileSync(path.join(this.procRoot, pid, 'cgroup'), 'utf8');
      } catch {
        continue;
      }
      const pod = podFromCgroupFile(cg);
      if (!pod) continue;
      const list = this.tenures.get(ino) ?? [];
      if (list[list.length - 1]?.podUid !== pod.podUid) {
        list.push({ podUid: pod.podUid, fromUs: list.length === 0 ? 0 : nowUs });
        this.tenures.set(ino, list);
      }
    }
  }

  /** Forgets tenures that ended before `beforeUs` (a later owner exists). */
  prune(beforeUs: number): void {
    for (const [ino, list] of this.tenures) {
      while (list.length > 1 && list[1]!.fromUs < beforeUs) list.shift();
      if (list.length === 0) this.tenures.delete(ino);
    }
  }
}

function inodeOf(link: string): number | undefined {
  try {
    const m = /\[(\d+)\]/.exec(fs.readlinkSync(link));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
