// The Helm chart, rendered without helm (test/chart/render) for every values file under
// test/chart/values: each object valid against the Kubernetes schemas, and the policy the
// chart promises: agent capabilities, host mounts and hostPID exactly as intended; RBAC verbs
// and resources exactly as listed; TLS on both ends of agent -> collector; resources on every
// container; the standard labels; a non-root read-only collector; env vars that are settings
// of the program they configure (common/config.ts), with values those settings accept.
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { agentSettings, collectorSettings, loadConfig, type Settings } from '../../common/config';
import { containerOf, envOf, resolveFile } from './pod-files';
import { all, chartDir, one, render, rendererSkipReason, repoRoot, tryRender, valuesDir, type K8sObject, type Rendered } from './renderer';
import { unknownFields, validateSchema } from './schema-check';
import { readmeTable, readmePath, valueLeaves, valuesTable } from './values-doc';

const NS = 'observability';
const CLUSTER_SCOPED = new Set(['ClusterRole', 'ClusterRoleBinding', 'PriorityClass']);
const STANDARD_LABELS = ['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/version', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/part-of', 'app.kubernetes.io/component', 'helm.sh/chart'];

// Settings the chart sets itself (the rest are agent.config / collector.config, or left at
// the program's default on purpose, with the reason).
const AGENT_CHART_SETS = ['nodeName', 'collector', 'tlsCa', 'tlsCert', 'tlsKey', 'tokenFile', 'kubernetes', 'procRoot', 'cgroupRoot', 'metricsPort'];
const AGENT_DEFAULT_KEPT: Record<string, string> = {
  bpftrace: 'the image puts Debian\'s bpftrace on PATH',
  tlsServerName: 'the collector\'s certificate names the host of TCPSCOPE_COLLECTOR',
};
const COLLECTOR_CHART_SETS = ['grpcListen', 'queryListen', 'httpListen', 'kubernetes', 'tlsCert', 'tlsKey', 'tlsClientCa', 'agentTokenAudience', 'agentServiceAccount', 'queryTokenFile', 'dataDir'];
const COLLECTOR_DEFAULT_KEPT: Record<string, string> = {};
const AGENT_REQUIRED_ENV = ['NODE_NAME', 'TCPSCOPE_COLLECTOR', 'TCPSCOPE_TLS_CA', 'TCPSCOPE_KUBERNETES', 'TCPSCOPE_PROC_ROOT', 'TCPSCOPE_CGROUP_ROOT'];
const COLLECTOR_REQUIRED_ENV = ['TCPSCOPE_GRPC_LISTEN', 'TCPSCOPE_HTTP_LISTEN', 'TCPSCOPE_QUERY_LISTEN', 'TCPSCOPE_TLS_CERT', 'TCPSCOPE_TLS_KEY', 'TCPSCOPE_QUERY_TOKEN_FILE', 'TCPSCOPE_DATA_DIR'];

const valueFiles = fs.readdirSync(valuesDir).filter((f) => f.endsWith('.yaml')).sort();

const skip = rendererSkipReason();
if (skip && process.env.CI === 'true') {
  test('the chart renderer can be built', () => { throw new Error(`chart tests cannot run in CI: ${skip}`); });
}

const settingEnvs = (s: Settings) => new Set(Object.values(s).map((x) => x.env));
const settingByEnv = (s: Settings, env: string) => Object.entries(s).find(([, x]) => x.env === env);

function tokenAuth(r: Rendered): boolean { return r.values.agentAuth.mode === 'serviceAccountToken'; }
function podSpec(w: K8sObject): any { return w.spec.template.spec; }
function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** Env of a container as the program would see it: fieldRefs filled in, file paths as given. */
function envValues(c: any): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of envOf(c)) out[k] = v.value ?? (v.fieldRef === 'spec.nodeName' ? 'node-1' : `<${v.fieldRef}>`);
  return out;
}

describe('chart renders', { skip: skip ?? false }, () => {
  for (const file of valueFiles) {
    describe(`values ${file}`, () => {
      let r: Rendered;
      const get = () => (r ??= render([file], { namespace: NS }));

      test('every object is valid against the Kubernetes schemas and has no unknown fields', () => {
        assert.ok(get().objects.length > 10);
        for (const { object: o } of get().objects) {
          validateSchema(o);
          assert.deepEqual(unknownFields(o), [], `${o.kind}/${o.metadata.name} has fields the API does not define`);
        }
      });

      test('every object and pod template carries the standard app.kubernetes.io labels, and sits in the release namespace', () => {
        for (const { object: o } of get().objects) {
          for (const l of STANDARD_LABELS) assert.ok(o.metadata.labels?.[l], `${o.kind}/${o.metadata.name} lacks label ${l}`);
          assert.equal(o.metadata.labels!['app.kubernetes.io/instance'], 'tcpscope');
          if (CLUSTER_SCOPED.has(o.kind)) assert.equal(o.metadata.namespace, undefined);
          else assert.equal(o.metadata.namespace, NS, `${o.kind}/${o.metadata.name} namespace`);
          if (o.spec?.template) for (const l of STANDARD_LABELS) assert.ok(o.spec.template.metadata.labels[l], `${o.kind}/${o.metadata.name} pods lack label ${l}`);
          for (const [k, v] of Object.entries(get().values.commonLabels ?? {})) assert.equal(o.metadata.labels![k], v);
        }
      });

      test('selectors match their pods: DaemonSet, Deployment, Services, PDB, NetworkPolicies', () => {
        const ds = one(get(), 'DaemonSet');
        const dep = one(get(), 'Deployment');
        for (const w of [ds, dep]) assert.ok(matches(w.spec.selector.matchLabels, w.spec.template.metadata.labels));
        const svc = one(get(), 'Service', '-collector');
        assert.ok(matches(svc.spec.selector, dep.spec.template.metadata.labels));
        assert.ok(!matches(svc.spec.selector, ds.spec.template.metadata.labels), 'the collector Service must not select agents');
        for (const p of svc.spec.ports) assert.ok(containerOf(dep).ports.some((cp: any) => cp.name === p.targetPort), `Service port ${p.name} -> ${p.targetPort}`);
        for (const pdb of all(get(), 'PodDisruptionBudget')) assert.ok(matches(pdb.spec.selector.matchLabels, dep.spec.template.metadata.labels));
        for (const np of all(get(), 'NetworkPolicy')) {
          const target = np.metadata.name.endsWith('-agent') ? ds : dep;
          assert.ok(matches(np.spec.podSelector.matchLabels, target.spec.template.metadata.labels), np.metadata.name);
        }
      });

      test('agent: hostPID, exactly the intended capabilities (or the documented privileged fallback), read-only host mounts', () => {
        const ds = one(get(), 'DaemonSet');
        const spec = podSpec(ds);
        const c = containerOf(ds, 'agent');
        assert.equal(spec.hostPID, true);
        assert.equal(spec.hostNetwork, undefined, 'the agent needs no host network');
        assert.equal(spec.hostIPC, undefined);
        const sc = c.securityContext;
        if (get().values.agent.privileged) {
          assert.equal(sc.privileged, true);
        } else {
          assert.equal(sc.privileged, false);
          assert.deepEqual(sc.capabilities.drop, ['ALL']);
          assert.deepEqual([...sc.capabilities.add].sort(), ['SYS_ADMIN', 'SYS_PTRACE']);
          // the API server rejects allowPrivilegeEscalation=false together with SYS_ADMIN
          assert.notEqual(sc.allowPrivilegeEscalation, false);
        }
        assert.equal(sc.readOnlyRootFilesystem, true);
        assert.equal(spec.securityContext.seccompProfile.type, 'RuntimeDefault');
        const mounts: Record<string, any> = Object.fromEntries((c.volumeMounts as any[]).map((m) => [m.mountPath, m]));
        const hostPaths = Object.fromEntries((spec.volumes as any[]).filter((v) => v.hostPath).map((v) => [v.name, v.hostPath.path]));
        assert.deepEqual(hostPaths, { tracefs: '/sys/kernel/tracing', debugfs: '/sys/kernel/debug', btf: '/sys/kernel/btf', cgroup: '/sys/fs/cgroup', proc: '/proc' });
        const expected: Record<string, string> = { '/sys/kernel/tracing': 'tracefs', '/sys/kernel/debug': 'debugfs', '/sys/kernel/btf': 'btf', '/host/sys/fs/cgroup': 'cgroup', '/host/proc': 'proc', '/etc/tcpscope/tls': 'tls', '/tmp': 'tmp' };
        if (tokenAuth(get())) expected['/var/run/secrets/tcpscope'] = 'token';
        assert.deepEqual(Object.fromEntries(Object.entries(mounts).map(([p, m]) => [p, m.name])), expected);
        for (const [p, m] of Object.entries(mounts)) if (p !== '/tmp') assert.equal(m.readOnly, true, `${p} must be read-only`);
        const env = envOf(c);
        assert.equal(env.get('TCPSCOPE_PROC_ROOT')?.value, '/host/proc');
        assert.equal(env.get('TCPSCOPE_CGROUP_ROOT')?.value, '/host/sys/fs/cgroup');
      });

      test('agent: NODE_NAME from the downward API, runs on every node, scheduled with priority', () => {
        const ds = one(get(), 'DaemonSet');
        const spec = podSpec(ds);
        assert.deepEqual(envOf(containerOf(ds)).get('NODE_NAME'), { fieldRef: 'spec.nodeName' });
        assert.ok((spec.tolerations as any[]).some((t) => t.operator === 'Exists' && !t.key && !t.effect), 'tolerates every taint');
        assert.ok(spec.priorityClassName);
        if (get().values.agent.priorityClass.create) assert.equal(one(get(), 'PriorityClass').metadata.name, spec.priorityClassName);
        else assert.equal(all(get(), 'PriorityClass').length, 0);
      });

      test('RBAC: agent get/list/watch pods; collector list/watch pods, services, nodes, replicasets, jobs; tokenreviews only with token auth', () => {
        const rules = (suffix: string) => one(get(), 'ClusterRole', suffix).rules.flatMap((rule: any) =>
          rule.resources.map((res: string) => `${rule.apiGroups.join(',')}/${res}:${[...rule.verbs].sort().join(',')}`)).sort();
        assert.deepEqual(rules('-agent'), ['/pods:get,list,watch']);
        const collector = ['/nodes:list,watch', '/pods:list,watch', '/services:list,watch', 'apps/replicasets:list,watch', 'batch/jobs:list,watch'];
        if (tokenAuth(get())) collector.push('authentication.k8s.io/tokenreviews:create');
        assert.deepEqual(rules('-collector'), collector.sort());
        for (const b of all(get(), 'ClusterRoleBinding')) {
          assert.equal(b.roleRef.name, b.metadata.name);
          assert.deepEqual(b.subjects, [{ kind: 'ServiceAccount', name: b.metadata.name, namespace: NS }]);
          assert.ok(all(get(), 'ServiceAccount').some((sa) => sa.metadata.name === b.metadata.name));
        }
        for (const w of [one(get(), 'DaemonSet'), one(get(), 'Deployment')]) assert.ok(all(get(), 'ClusterRoleBinding').some((b) => b.subjects[0].name === podSpec(w).serviceAccountName));
        assert.equal(all(get(), 'Role').length + all(get(), 'RoleBinding').length, 0);
      });

      test('no plaintext between agent and collector: TLS on both ends, with material that is mounted and fits', () => {
        const ds = one(get(), 'DaemonSet');
        const dep = one(get(), 'Deployment');
        const a = envOf(containerOf(ds));
        const c = envOf(containerOf(dep));
        const file = (w: K8sObject, name: string) => resolveFile(get(), w, containerOf(w), name);
        assert.match(a.get('TCPSCOPE_COLLECTOR')!.value!, new RegExp(`^${one(get(), 'Service', '-collector').metadata.name}\\.${NS}\\.svc:${get().values.collector.ports.grpc}$`));
        for (const k of ['TCPSCOPE_TLS_CERT', 'TCPSCOPE_TLS_KEY']) assert.ok(c.get(k)?.value, `collector ${k}`);
        assert.ok(a.get('TCPSCOPE_TLS_CA')?.value, 'the agent verifies the collector');
        const caSrc = file(ds, a.get('TCPSCOPE_TLS_CA')!.value!).source;
        assert.equal(caSrc.kind, 'secret');
        if (tokenAuth(get())) {
          const tok = file(ds, a.get('TCPSCOPE_TOKEN_FILE')!.value!).source;
          assert.deepEqual(tok, { kind: 'token', audience: c.get('TCPSCOPE_AGENT_TOKEN_AUDIENCE')!.value });
          assert.equal(c.get('TCPSCOPE_AGENT_SERVICE_ACCOUNT')!.value, `system:serviceaccount:${NS}:${podSpec(ds).serviceAccountName}`);
          assert.ok(!a.has('TCPSCOPE_TLS_CERT') && !c.has('TCPSCOPE_TLS_CLIENT_CA'));
        } else {
          for (const k of ['TCPSCOPE_TLS_CERT', 'TCPSCOPE_TLS_KEY']) assert.equal(file(ds, a.get(k)!.value!).source.kind, 'secret');
          assert.equal(file(dep, c.get('TCPSCOPE_TLS_CLIENT_CA')!.value!).source.kind, 'secret');
          assert.ok(!a.has('TCPSCOPE_TOKEN_FILE') && !c.has('TCPSCOPE_AGENT_TOKEN_AUDIENCE'));
        }
        const host = a.get('TCPSCOPE_COLLECTOR')!.value!.split(':')[0];
        const serverCert = file(dep, c.get('TCPSCOPE_TLS_CERT')!.value!).source;
        if (serverCert.kind === 'secret' && serverCert.data) {
          // generated by the chart: check the chain and the names
          const ca = new X509Certificate((caSrc as any).data);
          const srv = new X509Certificate(serverCert.data);
          assert.ok(srv.verify(ca.publicKey), 'the collector certificate is signed by the CA the agents trust');
          assert.ok(srv.checkHost(host), `the collector certificate names ${host}`);
          assert.ok(srv.checkHost('localhost') && srv.checkIP('127.0.0.1'), 'and localhost, for port-forwards');
          const key = (file(dep, c.get('TCPSCOPE_TLS_KEY')!.value!).source as any).data;
          assert.ok(srv.checkPrivateKey(createPrivateKey(key)));
          if (!tokenAuth(get())) {
            const cli = new X509Certificate((file(ds, a.get('TCPSCOPE_TLS_CERT')!.value!).source as any).data);
            const clientCa = new X509Certificate((file(dep, c.get('TCPSCOPE_TLS_CLIENT_CA')!.value!).source as any).data);
            assert.ok(cli.verify(clientCa.publicKey), 'the agent certificate is signed by the CA the collector trusts');
            assert.ok(cli.checkPrivateKey(createPrivateKey((file(ds, a.get('TCPSCOPE_TLS_KEY')!.value!).source as any).data)));
          }
        } else {
          assert.ok(get().values.tls.certManager.enabled);
          const cert = (serverCert as any).fromCertManager as K8sObject;
          assert.ok(cert.spec.dnsNames.includes(host));
          assert.ok(cert.spec.usages.includes('server auth'));
          const issuer = one(get(), 'Issuer', '-ca');
          assert.equal(cert.spec.issuerRef.name, issuer.metadata.name);
          // the CA the agents trust: the CA Secret itself, or ca.crt of a Certificate from the same CA Issuer
          const caCert = (caSrc as any).fromCertManager as K8sObject | undefined;
          assert.ok((caSrc as any).secretName === issuer.spec.ca.secretName || caCert?.spec.issuerRef.name === issuer.metadata.name,
            'agents trust the CA that issues the collector certificate');
          if (!tokenAuth(get())) assert.ok(one(get(), 'Certificate', '-agent').spec.usages.includes('client auth'));
        }
      });

      test('env vars are settings of the program they configure, with values those settings accept; required ones are set', () => {
        for (const [w, settings, required] of [
          [one(get(), 'DaemonSet'), agentSettings, AGENT_REQUIRED_ENV],
          [one(get(), 'Deployment'), collectorSettings, COLLECTOR_REQUIRED_ENV],
        ] as Array<[K8sObject, Settings, string[]]>) {
          for (const c of podSpec(w).containers) {
            const known = settingEnvs(settings);
            for (const name of envOf(c).keys()) assert.ok(known.has(name), `${w.kind} ${c.name}: ${name} is not a setting the program reads (common/config.ts)`);
            for (const name of required) assert.ok(envOf(c).has(name), `${w.kind} ${c.name}: ${name} must be set`);
            assert.doesNotThrow(() => loadConfig(settings, {}, envValues(c)), `${w.kind} ${c.name}: the program rejects its env`);
            assert.equal(c.envFrom, undefined, 'no envFrom: every variable is visible and checked');
          }
        }
      });

      test('every container has CPU and memory requests and a memory limit', () => {
        for (const w of [one(get(), 'DaemonSet'), one(get(), 'Deployment')]) {
          for (const c of [...podSpec(w).containers, ...(podSpec(w).initContainers ?? [])]) {
            assert.ok(c.resources?.requests?.cpu && c.resources?.requests?.memory, `${c.name} requests`);
            assert.ok(c.resources?.limits?.memory, `${c.name} memory limit`);
          }
        }
      });

      test('collector: non-root, read-only root filesystem, no capabilities, writes only to its volumes', () => {
        const dep = one(get(), 'Deployment');
        const spec = podSpec(dep);
        const c = containerOf(dep, 'collector');
        assert.equal(spec.securityContext.runAsNonRoot, true);
        assert.ok(spec.securityContext.runAsUser > 0);
        assert.equal(c.securityContext.readOnlyRootFilesystem, true);
        assert.equal(c.securityContext.allowPrivilegeEscalation, false);
        assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'] });
        assert.equal(spec.hostPID ?? false, false);
        for (const m of c.volumeMounts as any[]) {
          const src = resolveFile(get(), dep, c, m.mountPath).source;
          if (!m.readOnly) assert.ok(src.kind === 'emptyDir' || src.kind === 'pvc', `${m.mountPath} is writable but ${src.kind}`);
          assert.notEqual(src.kind, 'hostPath');
        }
        const data = resolveFile(get(), dep, c, envOf(c).get('TCPSCOPE_DATA_DIR')!.value!);
        assert.equal(data.readOnly, false);
        assert.equal(data.source.kind, get().values.collector.persistence.enabled ? 'pvc' : 'emptyDir');
        if (data.source.kind === 'pvc' && !get().values.collector.persistence.existingClaim)
          assert.equal(one(get(), 'PersistentVolumeClaim').metadata.name, data.source.claim);
        else assert.equal(all(get(), 'PersistentVolumeClaim').length, 0);
        assert.equal(c.readinessProbe.httpGet.path, '/healthz');
        const listen = (k: string) => Number(envOf(c).get(k)!.value!.split(':').pop());
        const ports = Object.fromEntries((c.ports as any[]).map((p) => [p.name, p.containerPort]));
        assert.deepEqual(ports, { grpc: listen('TCPSCOPE_GRPC_LISTEN'), http: listen('TCPSCOPE_HTTP_LISTEN'), query: listen('TCPSCOPE_QUERY_LISTEN') });
      });

      test('query token in a Secret the collector mounts; NetworkPolicy, PDB, ServiceMonitor and dashboard as configured', () => {
        const v = get().values;
        const dep = one(get(), 'Deployment');
        const tok = resolveFile(get(), dep, containerOf(dep), envOf(containerOf(dep)).get('TCPSCOPE_QUERY_TOKEN_FILE')!.value!).source as any;
        assert.equal(tok.kind, 'secret');
        assert.ok(tok.data.length >= 16);
        if (v.queryToken.value) assert.equal(tok.data, v.queryToken.value);
        assert.equal(all(get(), 'NetworkPolicy').length, v.networkPolicy.enabled ? 2 : 0);
        if (v.networkPolicy.enabled) {
          const np = one(get(), 'NetworkPolicy', '-collector');
          const ingest = np.spec.ingress.find((i: any) => i.ports.some((p: any) => p.port === 'grpc'));
          assert.deepEqual(ingest.from, [{ podSelector: { matchLabels: one(get(), 'DaemonSet').spec.selector.matchLabels } }], 'ingest only from agents');
        }
        assert.equal(all(get(), 'PodDisruptionBudget').length, v.collector.podDisruptionBudget.enabled ? 1 : 0);
        const sms = all(get(), 'ServiceMonitor');
        assert.equal(sms.length, v.serviceMonitor.enabled ? (v.agent.metricsPort > 0 ? 2 : 1) : 0);
        for (const sm of sms) for (const [k, val] of Object.entries(v.serviceMonitor.labels)) assert.equal(sm.metadata.labels![k], val);
        if (sms.length) assert.equal(one(get(), 'ServiceMonitor', '-collector').spec.endpoints[0].authorization.credentials.name, tok.secretName, 'Prometheus sends the query token');
        assert.equal(all(get(), 'ConfigMap').length, v.grafanaDashboard.enabled ? 1 : 0);
        if (v.grafanaDashboard.enabled) {
          const cm = one(get(), 'ConfigMap', '-dashboard');
          assert.equal(cm.metadata.labels!.grafana_dashboard, '1');
          assert.ok(JSON.parse(cm.data['tcpscope.json']).panels.length > 0);
        }
      });

      test('images: registry, repository, tag or digest as configured', () => {
        const v = get().values;
        const ref = (img: any) => {
          const base = v.image.registry ? `${v.image.registry}/${img.repository}` : img.repository;
          return img.digest ? `${base}@${img.digest}` : `${base}:${img.tag || v.image.tag || '0.1.0'}`;
        };
        assert.equal(containerOf(one(get(), 'DaemonSet')).image, ref(v.agent.image));
        assert.equal(containerOf(one(get(), 'Deployment')).image, ref(v.collector.image));
        for (const w of [one(get(), 'DaemonSet'), one(get(), 'Deployment')]) {
          assert.equal(containerOf(w).imagePullPolicy, v.image.pullPolicy);
          assert.deepEqual(podSpec(w).imagePullSecrets, v.imagePullSecrets.length ? v.imagePullSecrets : undefined);
        }
      });

      test('NOTES.txt gives the next commands: rollout status, port-forward, token, tcpscope hotspots', () => {
        const notes = get().notes;
        const svc = one(get(), 'Service', '-collector').metadata.name;
        assert.match(notes, new RegExp(`kubectl -n ${NS} port-forward svc/${svc} ${get().values.collector.ports.query} ${get().values.collector.ports.http}`));
        assert.match(notes, new RegExp(`kubectl -n ${NS} rollout status daemonset/${one(get(), 'DaemonSet').metadata.name}`));
        assert.match(notes, /tcpscope hotspots --since 15m/);
        assert.match(notes, /tcpscope status/);
        assert.match(notes, new RegExp(`get secret ${one(get(), 'Deployment').spec.template.spec.volumes.find((x: any) => x.name === 'query-token').secret.secretName} `));
        assert.doesNotMatch(notes, /<no value>|%!/);
      });
    });
  }
});

describe('chart and config schema agree', { skip: skip ?? false }, () => {
  test('agent.config and collector.config hold exactly the tunable settings, with the programs\' defaults', () => {
    const v = render([], { namespace: NS }).values;
    for (const [section, settings, chartSets, kept] of [
      ['agent', agentSettings, AGENT_CHART_SETS, AGENT_DEFAULT_KEPT],
      ['collector', collectorSettings, COLLECTOR_CHART_SETS, COLLECTOR_DEFAULT_KEPT],
    ] as Array<[string, Settings, string[], Record<string, string>]>) {
      const tunable = Object.keys(v[section].config);
      for (const k of tunable) {
        assert.ok(settings[k], `${section}.config.${k} is not a setting in common/config.ts`);
        assert.equal(v[section].config[k], settings[k].default, `${section}.config.${k} default differs from common/config.ts`);
      }
      for (const k of Object.keys(settings)) {
        const n = [tunable.includes(k), chartSets.includes(k), k in kept].filter(Boolean).length;
        assert.equal(n, 1, `setting ${section}.${k} (${settings[k].env}): the chart must tune it (values ${section}.config), set it, or keep its default with a reason — exactly one`);
      }
    }
  });

  test('the _helpers.tpl env tables name each tunable setting\'s env var (a renamed variable fails)', () => {
    const helpers = fs.readFileSync(path.join(chartDir, 'templates', '_helpers.tpl'), 'utf8');
    for (const [table, settings] of [['tcpscope.agentConfigEnv', agentSettings], ['tcpscope.collectorConfigEnv', collectorSettings]] as Array<[string, Settings]>) {
      const body = new RegExp(`define "${table.replace('.', '\\.')}" -}}\\n([\\s\\S]*?)\\n{{- end`).exec(helpers)![1];
      for (const line of body.trim().split('\n')) {
        const [key, env] = line.split(':').map((s) => s.trim());
        assert.equal(settingByEnv(settings, env)?.[0], key, `${table}: ${key} -> ${env}`);
      }
    }
  });

  test('a tuned setting reaches the program as its env var', () => {
    const r = render(['custom-images.yaml'], { namespace: NS });
    const a = envValues(containerOf(one(r, 'DaemonSet')));
    const c = envValues(containerOf(one(r, 'Deployment')));
    const agent = loadConfig(agentSettings, {}, a);
    const collector = loadConfig(collectorSettings, {}, c);
    assert.equal(agent.batchFlushMs, 250);
    assert.equal(agent.mapKeysMax, 262144);
    assert.equal(collector.retentionHours, 24);
    assert.equal(collector.storeMaxBytes, 5368709120, 'large numbers are not rendered as 5.36870912e+09');
    assert.equal(collector.grpcListen, '[::]:7400');
  });
});

describe('values are checked', { skip: skip ?? false }, () => {
  const bad = (name: string, yaml: string, why: RegExp) => test(`${name} is refused by values.schema.json`, (t) => {
    const f = path.join(fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'tcpscope-values-')), 'bad.yaml');
    t.after(() => fs.rmSync(path.dirname(f), { recursive: true, force: true }));
    fs.writeFileSync(f, yaml);
    const r = tryRender([f]);
    assert.ok('error' in r, 'rendered anyway');
    assert.match((r as { error: string }).error, why);
  });
  bad('a string where a number goes', 'agent:\n  config:\n    batchMaxEvents: "lots"\n', /agent\.config\.batchMaxEvents: Invalid type\. Expected: integer, given: string/);
  bad('an unknown setting', 'collector:\n  config:\n    ringsize: 5\n', /Additional property ringsize is not allowed/);
  bad('an unknown agent auth mode', 'agentAuth:\n  mode: none\n', /agentAuth\.mode/);
  bad('a port out of range', 'collector:\n  ports:\n    grpc: 70000\n', /collector\.ports\.grpc/);
  bad('a flush interval the agent would reject', 'agent:\n  config:\n    batchFlushMs: 5000\n', /batchFlushMs/);
  bad('a capability spelt CAP_*', 'agent:\n  extraCapabilities: [CAP_SYS_RESOURCE]\n', /extraCapabilities/);
  bad('a short query token', 'queryToken:\n  value: short\n', /queryToken\.value/);
  bad('resources without limits', 'collector:\n  resources:\n    requests: {cpu: 1, memory: 1Gi}\n    limits: null\n', /limits/);

  test('a cluster older than the chart\'s kubeVersion is refused', () => {
    const r = tryRender([], { kubeVersion: 'v1.24.0' });
    assert.ok('error' in r);
    assert.match((r as { error: string }).error, /kubeVersion/);
  });
});

describe('chart README', { skip: skip ?? false }, () => {
  test('the values table documents every leaf of values.yaml with its default (regenerate: node dist/test/chart/values-doc.js --write)', () => {
    const values = render().values;
    const yamlText = fs.readFileSync(path.join(chartDir, 'values.yaml'), 'utf8');
    for (const leaf of valueLeaves(values, yamlText)) assert.ok(leaf.description, `values.yaml: ${leaf.key} has no "# --" description`);
    assert.equal(readmeTable(fs.readFileSync(readmePath, 'utf8')), valuesTable(values, yamlText));
  });

  test('the dashboard queries only metrics the collector and the agents export', () => {
    const dash = fs.readFileSync(path.join(chartDir, 'dashboards', 'tcpscope.json'), 'utf8');
    const code = ['collector/collector.ts', 'collector/metrics.ts', 'agent/metrics.ts'].map((f) => fs.readFileSync(path.join(repoRoot, f), 'utf8')).join('\n');
    const names = new Set(dash.match(/tcpscope_[a-z_]+/g));
    assert.ok(names.size > 3);
    const defaults = /^tcpscope_collector_(process|nodejs)_/; // prom-client's default metrics, prefixed tcpscope_collector_
    for (const n of names) assert.ok(defaults.test(n) || code.includes(`'${n}'`), `dashboard uses ${n}, which neither the collector nor the agent defines`);
  });
});
