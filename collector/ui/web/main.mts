// The web UI's entry: takes the token from the URL fragment, then shows the page the path
// names: / (hot spots and the node-pair heat map) or /pod/NAMESPACE/NAME (one pod, live).
import { adoptTokenFromFragment } from './api.mjs';
import { renderOverview } from './overview.mjs';
import { renderPod } from './pod.mjs';

adoptTokenFromFragment();
const root = document.getElementById('app')!;
const m = /^\/pod\/([^/]+)\/([^/]+)\/?$/.exec(location.pathname);
if (m) {
  const pod = `${decodeURIComponent(m[1]!)}/${decodeURIComponent(m[2]!)}`;
  document.title = `${pod} · tcpscope`;
  renderPod(root, pod, new URLSearchParams(location.search));
} else {
  renderOverview(root, new URLSearchParams(location.search));
}
