// Chart and code agree: the rendered Deployment and DaemonSet run as local processes with
// exactly their env, args and files (test/chart/local-pod.ts), against a test Kubernetes API
// server whose tokens carry exactly the chart's ClusterRole rules. The collector must start
// (as its non-root user) and serve the query API behind the chart's token; an agent configured
// by the DaemonSet's env must reach it over mutual TLS with the chart's generated
// certificates and show up in /api/v1/status; the RBAC the chart grants must be enough for
// the watches the programs make (no 403) and not more than they use.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { localPod, SA_DIR, spawnLocalPod, type LocalPod } from '../chart/local-pod';
import { containerOf, envOf } from '../chart/pod-files';
import { one, render, rendererSkipReason, repoRoot, type K8sObject, type Rendered } from '../chart/renderer';
import { KubeApiServer, type AccessRule } from '../kube-apiserver/server';
import { makeTestPki, type TestPki } from '../lib/certs';

const NS = 'observability';
const NODE = 'chart-test-node';
const skip = process.getuid?.() !== 0 ? 'needs root (private mount namespaces for the ServiceAccount mount and /etc/hosts; bpftrace)' : rendererSkipReason();
if (skip && process.env.CI === 'true') test('chart and code can be run together', () => { throw new Error(`cannot run in CI: ${skip}`); });

async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  s.close();
  return port;
}

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };

/** The chart's ClusterRole rules as the test API server's access rules (which name resources without their group). */
function accessRules(role: K8sObject): AccessRule[] {
  return (role.rules as Rule[]).map((r) => ({ verbs: r.verbs, resources: r.resources }));
}

/** What a ClusterRole grants, as 'group/resource:verb' the way the test server records requests. */
function grants(role: K8sObject): string[] {
  return (role.rules as Rule[]).flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g ? `${g}/` : ''}${res}:${v}`))));
}

/** Output of a child, kept for messages; resolves when pattern appears. */
function watchOutput(p: ChildProcess): { text: () => string; until: (re: RegExp, ms: number) => Promise<void> } {
  let out = '';
  p.stdout!.on('data', (d) => (out += d));
  p.stderr!.on('data', (d) => (out += d));
  return {
    text: () => out,
    until: (re, ms) => new Promise((resolve, reject) => {
      const end = Date.now() + ms;
      const tick = () => {
        if (re.test(out)) return resolve();
        if (p.exitCode !== null) return reject(new Error(`exited ${p.exitCode} before ${re}:\n${out}`));
        if (Date.now() > end) return reject(new Error(`timed out waiting for ${re}:\n${out}`));
        setTimeout(tick, 100);
      };
      tick();
    }),
  };
}

describe('chart and code agree', { skip: skip ?? false, timeout: 240_000 }, () => {
  let r: Rendered;
  let pki: TestPki;
  let api: KubeApiServer;
  let ports: { grpc: number; http: number; query: number };
  let queryToken = '';
  let createdSaDir = '';
  const pods: LocalPod[] = [];
  const procs: ChildProcess[] = [];
  let collector: { p: ChildProcess; out: ReturnType<typeof watchOutput>; exactEnv: boolean; note?: string } | undefined;

  before(async () => {
    ports = { grpc: await freePort(), http: await freePort(), query: await freePort() };
    const values = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tcpscope-chart-code-')), 'ports.yaml');
    fs.writeFileSync(values, `collector:\n  ports:\n    grpc: ${ports.grpc}\n    http: ${ports.http}\n    query: ${ports.query}\n`);
    r = render(['defaults.yaml', values], { namespace: NS });
    fs.rmSync(path.dirname(values), { recursive: true, force: true });
    const tokenSecret = r.objects.map((o) => o.object).find((o) => o.kind === 'Secret' && o.metadata.name.endsWith('-query-token'))!;
    queryToken = Buffer.from(tokenSecret.data.token, 'base64').toString('utf8');

    pki = makeTestPki();
    api = await new KubeApiServer({
      host: '127.0.0.1',
      tls: { cert: fs.readFileSync(pki.serverCert), key: fs.readFileSync(pki.serverKey) },
      tokens: [
        { token: 'collector-sa-token', user: `system:serviceaccount:${NS}:tcpscope-collector`, rules: accessRules(one(r, 'ClusterRole', '-collector')) },
        { token: 'agent-sa-token', user: `system:serviceaccount:${NS}:tcpscope-agent`, rules: accessRules(one(r, 'ClusterRole', '-agent')) },
      ],
    }).start();
    api.create('nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE } });
    if (!fs.existsSync(SA_DIR)) {
      // the kubelet's mount point; bound per process in a private mount namespace, removed after
      let d = SA_DIR;
      while (!fs.existsSync(path.dirname(d))) d = path.dirname(d);
      createdSaDir = d;
      fs.mkdirSync(SA_DIR, { recursive: true });
    }
  });

  after(async () => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    await Promise.all(procs.filter((p) => p.exitCode === null).map((p) => once(p, 'close')));
    await api?.stop();
    pki?.cleanup();
    for (const p of pods) p.cleanup();
    if (createdSaDir) fs.rmSync(createdSaDir, { recursive: true, force: true });
  });

  const kubelet = () => ({ KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(api.port) });
  const collectorHost = () => envOf(containerOf(one(r, 'DaemonSet'))).get('TCPSCOPE_COLLECTOR')!.value!.split(':')[0];

  function startCollector(dropEnv: string[] = []): { p: ChildProcess; out: ReturnType<typeof watchOutput> } {
    const dep = one(r, 'Deployment');
    const sc = dep.spec.template.spec.securityContext;
    const pod = localPod(r, dep, 'collector', {
      nodeName: NODE, fsGroup: sc.fsGroup, kubeletEnv: kubelet(),
      serviceAccount: { token: 'collector-sa-token', caCert: fs.readFileSync(pki.ca, 'utf8'), namespace: NS },
    });
    pods.push(pod);
    for (const k of dropEnv) delete pod.env[k];
    const p = spawnLocalPod(pod, { user: `${sc.runAsUser}:${sc.runAsGroup}` });
    procs.push(p);
    return { p, out: watchOutput(p) };
  }

  async function healthy(p: ChildProcess, out: ReturnType<typeof watchOutput>): Promise<void> {
    const end = Date.now() + 30_000;
    for (;;) {
      if (p.exitCode !== null) throw new Error(`collector exited ${p.exitCode}:\n${out.text()}`);
      if (Date.now() > end) throw new Error(`collector not healthy after 30 s:\n${out.text()}`);
      try {
        if ((await fetch(`http://127.0.0.1:${ports.http}/healthz`)).ok) return;
      } catch { /* not yet */ }
      await new Promise((res) => setTimeout(res, 200));
    }
  }

  /** The collector, started once with the Deployment's exact env (or, while the store is missing, without TCPSCOPE_DATA_DIR). */
  async function runningCollector(t: TestContext) {
    if (collector) return collector;
    const exact = startCollector();
    try {
      await healthy(exact.p, exact.out);
      collector = { ...exact, exactEnv: true };
    } catch (err) {
      const missing = /embedded store is not available in this build[^\n]*/.exec(exact.out.text());
      if (!missing) throw err;
      const fallback = startCollector(['TCPSCOPE_DATA_DIR']);
      await healthy(fallback.p, fallback.out);
      collector = { ...fallback, exactEnv: false, note: `collector: ${missing[0]}` };
    }
    if (collector.note) t.diagnostic(`${collector.note}; running it without TCPSCOPE_DATA_DIR for the agent checks`);
    return collector;
  }

  const status = async () => (await fetch(`http://127.0.0.1:${ports.http}/api/v1/status`, { headers: { authorization: `Bearer ${queryToken}` } })).json() as Promise<any>;

  test('the collector starts with exactly the rendered Deployment\'s env, args and files, as uid 65532', async (t) => {
    const c = await runningCollector(t);
    if (!c.exactEnv) return t.skip(c.note!);
    const uid = /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${c.p.pid}/status`, 'utf8'))![1];
    assert.equal(uid, String(one(r, 'Deployment').spec.template.spec.securityContext.runAsUser));
  });

  test('the query API needs the token from the chart\'s Secret; /healthz stays open for the probes', async (t) => {
    await runningCollector(t);
    assert.equal((await fetch(`http://127.0.0.1:${ports.http}/api/v1/status`)).status, 401);
    assert.equal((await fetch(`http://127.0.0.1:${ports.http}/api/v1/status`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status, 401);
    assert.equal((await fetch(`http://127.0.0.1:${ports.http}/healthz`)).status, 200);
    const s = await status();
    assert.equal(typeof s.collectorVersion, 'string');
  });

  test('an agent configured by the DaemonSet\'s env reaches the collector over mutual TLS with the chart\'s certificates', async (t) => {
    await runningCollector(t);
    const pod = localPod(r, one(r, 'DaemonSet'), 'agent', {
      nodeName: NODE, kubeletEnv: kubelet(),
      serviceAccount: { token: 'agent-sa-token', caCert: fs.readFileSync(pki.ca, 'utf8'), namespace: NS },
    });
    pods.push(pod);
    assert.ok(pod.env.TCPSCOPE_TLS_CERT && pod.env.TCPSCOPE_TLS_KEY && pod.env.TCPSCOPE_TLS_CA, 'mutual TLS from the chart');
    // the agent process minus the kernel: same config loading and transport, replayed sessions
    const p = spawnLocalPod(pod, { hosts: [`127.0.0.1 ${collectorHost()}`], argv: [process.execPath, path.join(repoRoot, 'dist', 'test', 'chart', 'agent-replay-main.js'), '--run'] });
    procs.push(p);
    const out = watchOutput(p);
    await out.until(/acked [1-9]/, 30_000);
    const s = await status();
    const me = (s.agents as any[]).find((a) => a.nodeName === NODE);
    assert.ok(me, `the agent of ${NODE} is in /api/v1/status: ${JSON.stringify(s.agents)}`);
    assert.equal(me.connected, true);
    assert.ok(Number(s.eventsTotal) > 0);
    p.kill('SIGTERM');
    await once(p, 'close');
  });

  test('the agent process starts with exactly the rendered DaemonSet\'s env and capabilities and reports to the collector', async (t) => {
    await runningCollector(t);
    const pod = localPod(r, one(r, 'DaemonSet'), 'agent', {
      nodeName: NODE, kubeletEnv: kubelet(),
      serviceAccount: { token: 'agent-sa-token', caCert: fs.readFileSync(pki.ca, 'utf8'), namespace: NS },
    });
    pods.push(pod);
    // root with only the capabilities the DaemonSet adds, as the container runtime would give it
    const caps: string[] = containerOf(one(r, 'DaemonSet')).securityContext.capabilities.add;
    t.diagnostic(`agent capabilities: ${caps.join(', ')}`);
    const p = spawnLocalPod(pod, { hosts: [`127.0.0.1 ${collectorHost()}`], capabilities: caps });
    procs.push(p);
    const out = watchOutput(p);
    const end = Date.now() + 90_000;
    for (;;) {
      const notYet = /bpftrace trace source is not wired yet/.exec(out.text());
      if (notYet) return t.skip(`tcpscope agent: ${notYet[0]}`);
      if (p.exitCode !== null) throw new Error(`agent exited ${p.exitCode}:\n${out.text()}`);
      const me = ((await status()).agents as any[]).find((a) => a.nodeName === NODE && a.connected && a.runId);
      if (me && me.agentVersion && Date.now() - Number(me.connectedSinceUnixMs) < 120_000 && /agent: tracing/.test(out.text())) break;
      if (Date.now() > end) throw new Error(`the agent did not report to the collector:\n${out.text()}`);
      await new Promise((res) => setTimeout(res, 500));
    }
    // and it traces with those capabilities: a loopback session here reaches the collector
    const traced = Date.now() + 45_000;
    for (;;) {
      const me = ((await status()).agents as any[]).find((a) => a.nodeName === NODE && a.connected);
      if (Number(me?.sessions) > 0) break;
      if (Date.now() > traced) throw new Error(`no sessions from the agent: ${JSON.stringify(me)}\n${out.text()}`);
      const srv = net.createServer((c) => c.end('x')).listen(0, '127.0.0.1');
      await once(srv, 'listening');
      const c = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
      c.resume();
      await once(c, 'close');
      srv.close();
      await new Promise((res) => setTimeout(res, 1000));
    }
    // its pod watch: this node's pods only, and allowed by the chart's RBAC
    const reqs = api.requests((q) => q.user === `system:serviceaccount:${NS}:tcpscope-agent`);
    assert.deepEqual(reqs.filter((q) => q.code === 403).map((q) => `${q.verb} ${q.resource}`), [], 'the agent was refused by the chart\'s RBAC');
    for (const q of reqs.filter((x) => x.resource === 'pods')) assert.equal(q.fieldSelector, `spec.nodeName=${NODE}`, 'agents watch only their own node\'s pods');
    p.kill('SIGTERM');
    await once(p, 'close');
  });

  test('the chart\'s collector RBAC is enough for the collector\'s watches (no 403), and nothing it grants goes unused', async (t) => {
    await runningCollector(t);
    await new Promise((res) => setTimeout(res, 3000)); // informers list, then watch
    const reqs = api.requests((q) => q.user === `system:serviceaccount:${NS}:tcpscope-collector`);
    if (reqs.length === 0) return t.skip('the collector made no Kubernetes requests (its cluster watch is not in this build)');
    assert.deepEqual(reqs.filter((q) => q.code === 403).map((q) => `${q.verb} ${q.resource}`), [], 'the collector was refused by the chart\'s RBAC');
    const used = new Set(reqs.map((q) => `${q.resource}:${q.verb}`));
    for (const g of grants(one(r, 'ClusterRole', '-collector'))) assert.ok(used.has(g), `the chart grants ${g}, which the collector never uses`);
  });
});

describe('chart and code agree with agentAuth.mode=serviceAccountToken', { skip: skip ?? false, timeout: 120_000 }, () => {
  let r: Rendered;
  let pki: TestPki;
  let api: KubeApiServer;
  let ports: { grpc: number; http: number; query: number };
  let createdSaDir = '';
  const pods: LocalPod[] = [];
  const procs: ChildProcess[] = [];

  before(async () => {
    ports = { grpc: await freePort(), http: await freePort(), query: await freePort() };
    const values = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tcpscope-chart-code-')), 'token.yaml');
    // token auth with the chart's generated server certificate (cert-manager cannot run here)
    fs.writeFileSync(values, `agentAuth:\n  mode: serviceAccountToken\ncollector:\n  ports:\n    grpc: ${ports.grpc}\n    http: ${ports.http}\n    query: ${ports.query}\n`);
    r = render([values], { namespace: NS });
    fs.rmSync(path.dirname(values), { recursive: true, force: true });
    pki = makeTestPki();
    const audience = r.values.agentAuth.tokenAudience as string;
    api = await new KubeApiServer({
      host: '127.0.0.1',
      tls: { cert: fs.readFileSync(pki.serverCert), key: fs.readFileSync(pki.serverKey) },
      tokens: [
        { token: 'collector-sa-token', user: `system:serviceaccount:${NS}:tcpscope-collector`, rules: accessRules(one(r, 'ClusterRole', '-collector')) },
        { token: 'agent-sa-token', user: `system:serviceaccount:${NS}:tcpscope-agent`, rules: accessRules(one(r, 'ClusterRole', '-agent')) },
        { token: 'agent-projected-token', user: `system:serviceaccount:${NS}:tcpscope-agent`, rules: [], audiences: [audience] },
        { token: 'other-projected-token', user: `system:serviceaccount:${NS}:somebody-else`, rules: [], audiences: [audience] },
      ],
    }).start();
    if (!fs.existsSync(SA_DIR)) {
      let d = SA_DIR;
      while (!fs.existsSync(path.dirname(d))) d = path.dirname(d);
      createdSaDir = d;
      fs.mkdirSync(SA_DIR, { recursive: true });
    }
  });

  after(async () => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    await Promise.all(procs.filter((p) => p.exitCode === null).map((p) => once(p, 'close')));
    await api?.stop();
    pki?.cleanup();
    for (const p of pods) p.cleanup();
    if (createdSaDir) fs.rmSync(createdSaDir, { recursive: true, force: true });
  });

  const kubelet = () => ({ KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(api.port) });

  function agentWith(projected: string): { p: ChildProcess; out: ReturnType<typeof watchOutput> } {
    const pod = localPod(r, one(r, 'DaemonSet'), 'agent', {
      nodeName: `${NODE}-${projected.split('-')[0]}`, kubeletEnv: kubelet(), projectedToken: () => projected,
      serviceAccount: { token: 'agent-sa-token', caCert: fs.readFileSync(pki.ca, 'utf8'), namespace: NS },
    });
    pods.push(pod);
    assert.ok(pod.env.TCPSCOPE_TOKEN_FILE && pod.env.TCPSCOPE_TLS_CA && !pod.env.TCPSCOPE_TLS_CERT);
    const host = one(r, 'Service', '-collector').metadata.name;
    const p = spawnLocalPod(pod, { hosts: [`127.0.0.1 ${host}.${NS}.svc`], argv: [process.execPath, path.join(repoRoot, 'dist', 'test', 'chart', 'agent-replay-main.js'), '--run'] });
    procs.push(p);
    return { p, out: watchOutput(p) };
  }

  test('the agent\'s projected token (the chart\'s audience) is accepted by the collector\'s TokenReview; another ServiceAccount\'s is refused', async () => {
    const dep = one(r, 'Deployment');
    const sc = dep.spec.template.spec.securityContext;
    const pod = localPod(r, dep, 'collector', {
      nodeName: NODE, fsGroup: sc.fsGroup, kubeletEnv: kubelet(),
      serviceAccount: { token: 'collector-sa-token', caCert: fs.readFileSync(pki.ca, 'utf8'), namespace: NS },
    });
    pods.push(pod);
    const c = spawnLocalPod(pod, { user: `${sc.runAsUser}:${sc.runAsGroup}` });
    procs.push(c);
    const cout = watchOutput(c);
    const end = Date.now() + 30_000;
    for (;;) {
      if (c.exitCode !== null) throw new Error(`collector exited ${c.exitCode}:\n${cout.text()}`);
      if (Date.now() > end) throw new Error(`collector not healthy:\n${cout.text()}`);
      try { if ((await fetch(`http://127.0.0.1:${ports.http}/healthz`)).ok) break; } catch { /* not yet */ }
      await new Promise((res) => setTimeout(res, 200));
    }
    const good = agentWith('agent-projected-token');
    await good.out.until(/acked [1-9]/, 30_000);
    const bad = agentWith('other-projected-token');
    await new Promise((res) => setTimeout(res, 3000));
    assert.doesNotMatch(bad.out.text(), /acked [1-9]/, 'an agent with another ServiceAccount\'s token must be refused');
    const reviews = api.requests((q) => q.resource === 'authentication.k8s.io/tokenreviews');
    assert.ok(reviews.length > 0 && reviews.every((q) => q.code === 201), `TokenReviews allowed by the chart's RBAC: ${JSON.stringify(reviews.map((q) => q.code))}`);
  });
});
