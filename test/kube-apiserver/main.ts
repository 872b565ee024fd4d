// The test Kubernetes API server as a process, for the local demo and for tests that want
// a separate process: `node dist/test/kube-apiserver/main.js --port 6443 --token T [--state f.json]`.
// Prints one line "kube-apiserver listening on http://HOST:PORT" when ready.
import * as fs from 'node:fs';
import { KubeApiServer, type TokenIdentity } from './server';
import { RESOURCES } from './resources';
import type { KObject } from './selectors';

function usage(): never {
  process.stderr.write(`usage: main.js [--host 127.0.0.1] [--port 0] --token T [--token T2 ...]
  [--sa-token TOKEN:NAMESPACE:NAME[:AUDIENCE,...]] [--state objects.json] [--history N]
  [--tls-cert cert.pem --tls-key key.pem [--ca ca.pem]] [--kubeconfig-out FILE]
--token gives full rights; --sa-token adds a ServiceAccount token (TokenReview, read-only rights).
--state loads objects: a JSON array or {"items": [...]} of objects with kind and apiVersion.
Control endpoints (full-rights token): GET /_tcpscope/stats, POST /_tcpscope/cut,
/_tcpscope/stall?on=1|0, /_tcpscope/delay?ms=N, /_tcpscope/fail?n=N&status=500, /_tcpscope/compact
`);
  process.exit(2);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let host = '127.0.0.1', port = 0, history = 10_000, state: string | undefined, kubeconfigOut: string | undefined;
  let tlsCert: string | undefined, tlsKey: string | undefined, ca: string | undefined;
  const tokens: TokenIdentity[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const v = () => args[++i] ?? usage();
    if (a === '--host') host = v();
    else if (a === '--port') port = Number(v());
    else if (a === '--token') tokens.push({ token: v(), user: 'admin', groups: ['system:masters', 'system:authenticated'], rules: 'all' });
    else if (a === '--sa-token') {
      const [token, ns, name, aud] = v().split(':');
      if (!token || !ns || !name) usage();
      tokens.push({ token, user: `system:serviceaccount:${ns}:${name}`, groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'], rules: [{ verbs: ['get', 'list', 'watch'], resources: ['*'] }], audiences: aud ? aud.split(',') : undefined });
    } else if (a === '--state') state = v();
    else if (a === '--history') history = Number(v());
    else if (a === '--kubeconfig-out') kubeconfigOut = v();
    else if (a === '--tls-cert') tlsCert = v();
    else if (a === '--tls-key') tlsKey = v();
    else if (a === '--ca') ca = v();
    else usage();
  }
  if (!tokens.length) usage();
  if (!tlsCert !== !tlsKey) usage();
  const tls = tlsCert && tlsKey ? { cert: fs.readFileSync(tlsCert), key: fs.readFileSync(tlsKey) } : undefined;
  const server = await new KubeApiServer({ host, port, tokens, historyLimit: history, tls }).start();
  if (state) {
    const doc = JSON.parse(fs.readFileSync(state, 'utf8')) as KObject[] | { items: KObject[] };
    const items = Array.isArray(doc) ? doc : doc.items;
    for (const o of items) {
      const def = RESOURCES.find((d) => d.kind === o.kind);
      if (!def) throw new Error(`--state: unknown kind "${String(o.kind)}" (${o.metadata?.name})`);
      server.create(def.resource, o);
    }
  }
  if (kubeconfigOut) {
    fs.writeFileSync(kubeconfigOut, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'test',
      clusters: [{ name: 'test', cluster: { server: server.url, ...(ca ? { 'certificate-authority-data': fs.readFileSync(ca).toString('base64') } : {}) } }],
      users: [{ name: 'test', user: { token: tokens[0]!.token } }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: 'test' } }],
    }, null, 2));
  }
  process.stdout.write(`kube-apiserver listening on ${server.url}\n`);
  const stop = () => void server.stop().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  process.stderr.write(`kube-apiserver: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
