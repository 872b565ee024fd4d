// The collector, wired: ingest (gRPC) -> resolve (names both ends) -> aggregate (per-flow
// rollups) + ring (recent raw events) -> query (gRPC, HTTP). The one place where the
// collector's stages are put together.
import * as grpc from '@grpc/grpc-js';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as prom from 'prom-client';
import type { CollectorConfig } from '../common/config';
import type { Logger } from '../common/log';
import { IngestServiceService } from '../gen/tcpscope/v1/ingest';
import { QueryServiceService } from '../gen/tcpscope/v1/query';
import { FlowAggregator } from './aggregate/flows';
import type { FlowEvent, ResolvedEvent } from './events';
import { CollectorMetrics } from './metrics';
import { AgentRegistry } from './ingest/agents';
import { makeIngestService, replayBatch } from './ingest/service';
import { IngestLog } from './store/wal';
import { openRollupStore } from './store/open';
import { Batch, LossReason } from '../gen/tcpscope/v1/events';
import * as path from 'node:path';
import { makeQueryService } from './query/grpc';
import { makeHttpHandler } from './query/http';
import type { CollectorState } from './query/queries';
import { type RemoteIndex, Resolver } from './resolve/resolver';
import { reportTlsFailures, serverCredentials, untrustedReason } from './auth/tls';
import { requireToken, TokenFile } from './auth/token';
import { AgentTokenReviewer } from './auth/token-review';
import { ClusterWatch } from './k8s/cluster-watch';
import { KubeConfig } from '@kubernetes/client-node';
import { EventRing } from './store/ring';
import { FollowRequests } from './follow/follow-requests';

export const VERSION: string = require('../../package.json').version;

export interface RunningCollector {
  grpcAddress: string;
  queryAddress: string;
  httpAddress: string;
  state: CollectorState;
  close(): Promise<void>;
}

export interface CollectorDeps {
  log: Logger;
  remoteIndex?: RemoteIndex;
  /** Token-authenticated agents (TokenReview): why a caller may not send, or null. */
  agentAuthorizer?: (call: grpc.ServerDuplexStream<any, any>) => Promise<string | null>;
  /** Where the Kubernetes API is (default: in-cluster or ~/.kube/config). */
  kubeConfig?: KubeConfig;
}

function tokenReviewer(cfg: CollectorConfig, kc?: KubeConfig): (call: grpc.ServerDuplexStream<any, any>) => Promise<string | null> {
  if (!kc) {
    kc = new KubeConfig();
    kc.loadFromDefault();
  }
  const reviewer = new AgentTokenReviewer(kc, { audience: cfg.agentTokenAudience, allowedUser: cfg.agentServiceAccount });
  return (call) => reviewer.authorize(call);
}

export async function startCollector(cfg: CollectorConfig, deps: CollectorDeps): Promise<RunningCollector> {
  const { log } = deps;
  const metrics = new prom.Registry();
  prom.collectDefaultMetrics({ register: metrics, prefix: 'tcpscope_collector_' });
  const eventsIngested = new prom.Counter({ name: 'tcpscope_collector_events_total', help: 'events applied, by type', labelNames: ['type'], registers: [metrics] });

  const store = openRollupStore(cfg.dataDir, cfg.bucketSeconds);
  const agg = new FlowAggregator(cfg.bucketSeconds, store);
  const ring = new EventRing(cfg.ringSize);
  const registry = new AgentRegistry();
  registry.loadWatermarks(store.watermarks());
  let clusterWatch: ClusterWatch | undefined;
  let remoteIndex = deps.remoteIndex;
  if (!remoteIndex && cfg.kubernetes) {
    clusterWatch = new ClusterWatch({ kubeConfig: deps.kubeConfig, retentionMs: cfg.deletedPodRetentionSeconds * 1000, onError: (m) => log.warn({ error: m }, 'cluster watch') });
    clusterWatch.start();
    remoteIndex = clusterWatch.index;
  }
  const resolver = new Resolver(remoteIndex);
  let total = 0;
  const follows = new FollowRequests();
  const state: CollectorState = { agg, ring, registry, startedMs: Date.now(), version: VERSION, eventsTotal: () => total, follow: (pod) => follows.follow(pod) };

  const flowMetrics = new CollectorMetrics(metrics, cfg.metricsMaxSeries, 15 * 60_000);
  const sink = {
    apply(events: FlowEvent[]): void {
      let life = 0;
      let flows = 0;
      const resolved: ResolvedEvent[] = [];
      for (let i = 0; i < events.length; i++) {
        const ev = events[i]!;
        const re = { ev, local: resolver.local(ev), remote: resolver.remote(ev) };
        ring.push(re);
        // a followed pod's session is in a flow record already: shown, not counted again
        if (ev.type === 'life' && ev.detailOnly) continue;
        resolved.push(re);
        agg.add(re);
        if (ev.type === 'life') life++;
        else if (ev.type === 'flow') flows++;
      }
      flowMetrics.observeBatch(resolved);
      total += resolved.length;
      eventsIngested.inc({ type: 'life' }, life);
      eventsIngested.inc({ type: 'flow' }, flows);
      eventsIngested.inc({ type: 'retrans' }, resolved.length - life - flows);
      eventsIngested.inc({ type: 'detail' }, events.length - resolved.length);
    },
  };

  // write-ahead log: with a data directory an ack means the batch is on disk
  let wal: IngestLog | undefined;
  if (cfg.dataDir) {
    wal = new IngestLog(path.join(cfg.dataDir, 'ingest.wal'));
    let replayed = 0;
    let unreadable = 0;
    const r = wal.replay((payload) => {
      try {
        if (replayBatch(registry, sink, Batch.decode(payload), cfg.maxBatchEvents)) replayed++;
      } catch (err) {
        unreadable++;
        log.error({ err: (err as Error).message }, 'skipped an unreadable ingest log record');
      }
    });
    if (unreadable) log.error({ unreadable }, 'ingest log records could not be replayed');
    log.info({ records: r.records, applied: replayed, tornTailBytes: r.truncatedTail, watermarks: registry.watermarks().size }, 'replayed the ingest log');
  }
  const retentionUs = cfg.dataDir ? cfg.retentionHours * 3600e6 : cfg.memoryRetentionMinutes * 60e6;
  const checkpoint = () => {
    flowMetrics.expire();
    wal?.sync();
    const rows = agg.checkpoint(registry.watermarks());
    wal?.reset();
    store.prune(Date.now() * 1000, retentionUs, cfg.storeMaxBytes);
    return rows;
  };

  new prom.Gauge({
    name: 'tcpscope_agent_connected', help: '1 while the agent of this node has an open ingest stream', labelNames: ['node'], registers: [metrics],
    collect() {
      this.reset();
      for (const a of registry.list()) this.set({ node: a.nodeName }, a.connected ? 1 : 0);
    },
  });
  new prom.Gauge({
    name: 'tcpscope_agent_lost_events', help: 'events lost by the agent of this node since it started, by reason (bpftrace_lost, parse_reject, buffer_overflow, ...)', labelNames: ['node', 'reason'], registers: [metrics],
    collect() {
      this.reset();
      for (const a of registry.list()) for (const l of a.losses) this.set({ node: a.nodeName, reason: (LossReason[l.reason] ?? String(l.reason)).replace('LOSS_REASON_', '').toLowerCase() }, l.count);
    },
  });
  new prom.Gauge({
    name: 'tcpscope_agent_last_batch_seconds', help: 'Unix time of the last batch from the agent of this node', labelNames: ['node'], registers: [metrics],
    collect() {
      this.reset();
      for (const a of registry.list()) this.set({ node: a.nodeName }, a.lastBatchUnixMs / 1000);
    },
  });

  checkExposure(cfg);
  const stopTlsLog = reportTlsFailures(log);
  const serverOptions: grpc.ServerOptions = {
    'grpc.max_receive_message_length': cfg.maxMessageBytes,
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  };
  const tokens = cfg.queryTokenFile ? new TokenFile(cfg.queryTokenFile) : undefined;

  // ingest: agents, mutual TLS (or server TLS + ServiceAccount tokens), plaintext only on loopback
  const ingestServer = new grpc.Server(serverOptions);
  const mutualTls = !!cfg.tlsCert && !!cfg.tlsClientCa && !cfg.agentTokenAudience;
  // client certificates are verified at the handshake but judged here, so that a refused
  // agent is told why (UNAUTHENTICATED) rather than seeing a dropped connection
  const authorize = mutualTls
    ? (call: grpc.ServerDuplexStream<unknown, unknown>) =>
      call.getAuthContext().sslPeerCertificate ? null : `client certificate not accepted: ${untrustedReason(call.getPeer()) ?? 'missing or not trusted'}`
    : cfg.agentTokenAudience
      ? (deps.agentAuthorizer ?? tokenReviewer(cfg, deps.kubeConfig))
      : undefined;
  ingestServer.addService(IngestServiceService, makeIngestService(registry, sink, {
    maxBatchEvents: cfg.maxBatchEvents, log, authorize,
    onAgentStream: (send) => follows.attach(send),
    persist: wal ? (batch, done) => wal!.append(Batch.encode(batch).finish(), done) : undefined,
    whenDurable: wal ? (done) => wal!.whenDurable(done) : undefined,
  }));
  const ingestCreds = cfg.tlsCert
    ? serverCredentials(cfg.tlsCert, cfg.tlsKey, mutualTls ? cfg.tlsClientCa : undefined, false)
    : grpc.ServerCredentials.createInsecure();
  const grpcPort = await bind(ingestServer, cfg.grpcListen, ingestCreds, 'gRPC ingest');

  // query: people and the CLI, server TLS + bearer token
  const queryServer = new grpc.Server(serverOptions);
  const query = makeQueryService(state);
  queryServer.addService(QueryServiceService, tokens ? requireToken(query, tokens) : query);
  const queryCreds = cfg.tlsCert ? serverCredentials(cfg.tlsCert, cfg.tlsKey, undefined, false) : grpc.ServerCredentials.createInsecure();
  const queryPort = await bind(queryServer, cfg.queryListen, queryCreds, 'gRPC query');

  const handler = makeHttpHandler(state, { metrics: async () => ({ contentType: metrics.contentType, body: await metrics.metrics() }) });
  const httpServer = http.createServer((req, res) => {
    // /healthz stays open for probes; everything else needs the token when one is set
    if (tokens && !req.url?.startsWith('/healthz') && !isUiAsset(req.url)) {
      const why = tokens.check(req.headers.authorization);
      if (why) {
        res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' });
        res.end(JSON.stringify({ error: why }));
        return;
      }
    }
    handler(req, res);
  });
  const [httpHost, httpPortText] = splitHostPort(cfg.httpListen);
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', (err) => reject(new Error(`cannot listen on ${cfg.httpListen} (HTTP): ${err.message}`)));
    httpServer.listen(Number(httpPortText), httpHost, () => resolve());
  });
  const httpPort = (httpServer.address() as AddressInfo).port;

  const checkpointTimer = setInterval(checkpoint, cfg.checkpointSeconds * 1000);
  checkpointTimer.unref();

  const addr = (listen: string, port: number) => `${hostForDial(splitHostPort(listen)[0])}:${port}`;
  const running = {
    grpcAddress: addr(cfg.grpcListen, grpcPort),
    queryAddress: addr(cfg.queryListen, queryPort),
    httpAddress: addr(cfg.httpListen, httpPort),
    state,
    async close() {
      clearInterval(checkpointTimer);
      follows.stop();
      stopTlsLog();
      httpServer.closeAllConnections();
      await new Promise<void>((r) => httpServer.close(() => r()));
      for (const srv of [ingestServer, queryServer]) {
        await new Promise<void>((r) => srv.tryShutdown(() => r()));
        srv.forceShutdown();
      }
      await clusterWatch?.stop();
      checkpoint();
      wal?.close();
      store.close();
    },
  };
  log.info({ ingest: running.grpcAddress, query: running.queryAddress, http: running.httpAddress, tls: !!cfg.tlsCert, queryToken: !!tokens }, 'collector listening');
  return running;
}

function bind(server: grpc.Server, listen: string, creds: grpc.ServerCredentials, what: string): Promise<number> {
  return new Promise<number>((resolve, reject) =>
    server.bindAsync(listen, creds, (err, port) => (err ? reject(new Error(`cannot listen on ${listen} (${what}): ${err.message}`)) : resolve(port))),
  );
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

function hostForDial(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

/** Plaintext and open query APIs are for the local single-host mode on loopback only. */
export function checkExposure(cfg: CollectorConfig): void {
  const exposed = (listen: string) => !isLoopback(splitHostPort(listen)[0]);
  if (!cfg.tlsCert && (exposed(cfg.grpcListen) || exposed(cfg.queryListen)))
    throw new Error('refusing to serve gRPC without TLS beyond loopback: set --tls-cert/--tls-key (and --tls-client-ca for agents), or listen on 127.0.0.1');
  if (cfg.tlsCert && !cfg.tlsKey) throw new Error('--tls-cert needs --tls-key');
  if (cfg.tlsCert && !cfg.tlsClientCa && !cfg.agentTokenAudience && exposed(cfg.grpcListen))
    throw new Error('agents must prove who they are: set --tls-client-ca (mutual TLS) or --agent-token-audience (ServiceAccount tokens)');
  if (!cfg.queryTokenFile && (exposed(cfg.queryListen) || exposed(cfg.httpListen)))
    throw new Error('refusing to serve the query API beyond loopback without a token: set --query-token-file');
}

function isUiAsset(url: string | undefined): boolean {
  // the web UI's static files carry no data; the page asks for the token itself
  return !!url && !url.startsWith('/api/') && !url.startsWith('/metrics');
}

export function splitHostPort(hp: string): [string, string] {
  const i = hp.lastIndexOf(':');
  return [hp.slice(0, i).replace(/^\[|\]$/g, ''), hp.slice(i + 1)];
}
