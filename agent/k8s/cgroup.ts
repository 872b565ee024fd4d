// Pod UID and container id from a process's cgroup paths (/proc/<pid>/cgroup), for the
// systemd and cgroupfs drivers of the kubelet and the containerd, CRI-O and Docker
// runtimes, cgroup v1 and v2. Pure text parsing: no kernel needed.

export interface CgroupLine {
  hierarchy: number;
  controllers: string[];
  path: string;
}

export interface CgroupPod {
  /** The pod UID with dashes ("3f1c2a4e-...") */
  podUid: string;
  /** 'guaranteed' | 'burstable' | 'besteffort' */
  qos: string;
  /** Runtime container id (64 hex) when the path names a container; absent for the pod's own cgroup. */
  containerId?: string;
  runtime?: 'containerd' | 'crio' | 'docker' | 'unknown';
}

/** Lines "hierarchy-ID:controller-list:cgroup-path"; malformed lines are skipped. */
export function parseCgroupFile(text: string): CgroupLine[] {
  const out: CgroupLine[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    out.push({ hierarchy: Number(m[1]), controllers: m[2] ? m[2].split(',') : [], path: m[3]! });
  }
  return out;
}

const UID = '[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}';
const POD_SYSTEMD = new RegExp(`kubepods(?:-(burstable|besteffort))?-pod(${UID})\\.slice`);
const POD_CGROUPFS = new RegExp(`/kubepods(?:/(burstable|besteffort))?/pod(${UID})(?:/|$)`);
const CONTAINER = [
  { re: /(?:^|\/)cri-containerd-([0-9a-f]{64})\.scope$/, runtime: 'containerd' as const },
  { re: /:cri-containerd:([0-9a-f]{64})$/, runtime: 'containerd' as const },
  { re: /(?:^|\/)crio-([0-9a-f]{64})\.scope$/, runtime: 'crio' as const },
  { re: /:crio:([0-9a-f]{64})$/, runtime: 'crio' as const },
  { re: /(?:^|\/)docker-([0-9a-f]{64})\.scope$/, runtime: 'docker' as const },
  { re: /\/([0-9a-f]{64})$/, runtime: 'unknown' as const }, // cgroupfs driver: the bare id
];

/** The pod (and container) a cgroup path belongs to, or undefined for non-pod paths. */
export function podFromCgroupPath(path: string): CgroupPod | undefined {
  const m = POD_SYSTEMD.exec(path) ?? POD_CGROUPFS.exec(path);
  if (!m) return undefined;
  const pod: CgroupPod = { podUid: m[2]!.replace(/_/g, '-'), qos: m[1] ?? 'guaranteed' };
  // a container id only counts below the pod's own cgroup (crio-conmon-<id> is the monitor, not the container)
  const below = path.slice(m.index + m[0].length);
  if (!/conmon/.test(below)) {
    for (const c of CONTAINER) {
      const cm = c.re.exec(below.startsWith('/') || below.startsWith(':') ? below : `/${below}`);
      if (cm) {
        pod.containerId = cm[1];
        pod.runtime = c.runtime;
        break;
      }
    }
  }
  return pod;
}

/** The pod of a process from its /proc/<pid>/cgroup text (cgroup v2 line preferred), or undefined. */
export function podFromCgroupFile(text: string): CgroupPod | undefined {
  const lines = parseCgroupFile(text);
  const ordered = [...lines.filter((l) => l.hierarchy === 0), ...lines.filter((l) => l.hierarchy !== 0)];
  let best: CgroupPod | undefined;
  for (const l of ordered) {
    const p = podFromCgroupPath(l.path);
    if (p && (!best || (!best.containerId && p.containerId))) best = p;
    if (best?.containerId) break;
  }
  return best;
}
