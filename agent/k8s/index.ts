// Kubernetes attribution on the agent: its node's pods (NodePodWatch, LocalPodIndex) and
// the pure parts of socket -> pod mapping (cgroup paths, container ids).
export { NodePodWatch, nodeNameFromEnv, type NodePodWatchOptions } from './node-pod-watch';
export { LocalPodIndex, containerName, type LocalPod, type LocalPodIndexOptions } from './local-pod-index';
export { parseCgroupFile, podFromCgroupPath, podFromCgroupFile, type CgroupLine, type CgroupPod } from './cgroup';
