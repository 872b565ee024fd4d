// NetnsMap: a socket's network-namespace inode -> the pod whose sandbox owns that
// namespace, found through /proc/<pid>/ns/net of processes whose cgroup path carries the
// pod UID. Netns inodes are reused (a deleted pod's inode went to the next pod within a
// second, measured here), so every mapping is kept with the times it was first and last
// seen, and a lookup takes the owner at the event's time and says whether a scan made
// after the event still saw that owner (confirmed) or the namespace may have changed since.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { podFromCgroupFile } from '../k8s/cgroup';

interface Tenure {
  podUid: string;
  /** First seen by a scan (0 for an inode's first tenure: it may go back further). */
  fromUs: number;
  /** Last seen by a scan. */
  lastSeenUs: number;
}

export interface NetnsOwner {
  podUid: string;
  /** A scan at or after the event's time still saw this owner: the namespace was not reused in between. */
  confirmed: boolean;
}

export class NetnsMap {
  private readonly tenures = new Map<number, Tenure[]>();
  private hostNetns = 0;
  private lastScanMs = 0;
  scans = 0;

  constructor(readonly procRoot = '/proc', private readonly minRescanMs = 1000) {}

  /**
   * The pod that owned this netns inode at timeUs (the host's namespace belongs to no pod).
   * Between an owner's last sighting and the next owner's first, either may own it: no answer.
   */
  lookup(inode: number, timeUs: number): NetnsOwner | undefined {
    if (!inode || inode === this.hostNetns) return undefined;
    if (!this.tenures.has(inode)) this.refresh();
    const t = this.tenures.get(inode);
    if (!t) return undefined;
    let i = -1;
    for (let k = 0; k < t.length; k++) if (t[k]!.fromUs <= timeUs) i = k;
    const owner = t[i];
    if (!owner) return undefined;
    const confirmed = timeUs <= owner.lastSeenUs;
    if (!confirmed && i < t.length - 1) return undefined; // a later owner was seen: the change happened after owner.lastSeenUs, maybe before timeUs
    return { podUid: owner.podUid, confirmed };
  }

  /** The network namespaces a pod owns now (its latest tenure of each inode). */
  inodesOf(podUid: string): number[] {
    const out: number[] = [];
    for (const [inode, t] of this.tenures) if (t[t.length - 1]?.podUid === podUid) out.push(inode);
    return out;
  }

  /** Rescans now unless the last scan is more recent than the rescan interval. */
  refresh(): void {
    if (Date.now() - this.lastScanMs >= this.minRescanMs) this.scan();
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
      const last = list[list.length - 1];
      if (last?.podUid === pod.podUid) last.lastSeenUs = nowUs;
      else {
        list.push({ podUid: pod.podUid, fromUs: list.length === 0 ? 0 : nowUs, lastSeenUs: nowUs });
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
