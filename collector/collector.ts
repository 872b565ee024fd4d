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
import type { FlowEvent } from './events';
import { AgentRegistry } from './ingest/agents';
import { makeIngestService } from './ingest/service';
import { makeQueryService } from './query/grpc';
import { makeHttpHandler } from './query/http';
import type { CollectorState } from './query/queries';
import { type RemoteIndex, Resolver } from './resolve/resolver';
import { EventRing } from './store/ring';

export const VERSION: string = require('../../package.json').version;

export interface RunningCollector {
  grpcAddress: string;
  httpAddress: string;
  state: CollectorState;
  close(): Promise<void>;
}

export interface CollectorDeps {
  log: Logger;
  remoteIndex?: RemoteIndex;
}

export async function startCollector(cfg: CollectorConfig, deps: CollectorDeps): Promise<RunningCollector> {
  const { log } = deps;
  const metrics = new prom.Registry();
  prom.collectDefaultMetrics({ register: metrics, prefix: 'tcpscope_collector_' });
  const eventsIngested = new prom.Counter({ name: 'tcpscope_collector_events_total', help: 'events applied, by type', labelNames: ['type'], registers: [metrics] });

  const agg = new FlowAggregator(cfg.bucketSeconds, cfg.memoryRetentionMinutes * 60e6);
  const ring = new EventRing(cfg.ringSize);
  const registry = new AgentRegistry();
  const resolver = new Resolver(deps.remoteIndex);
  let total = 0;
  const state: CollectorState = { agg, ring, registry, startedMs: Date.now(), version: VERSION, eventsTotal: () => total };

  const sink = {
    apply(events: FlowEvent[]): void {
      let life = 0;
      for (const ev of events) {
        const re = { ev, local: resolver.local(ev), remote: resolver.remote(ev) };
        agg.add(re);
        ring.push(re);
        if (ev.type === 'life') life++;
      }
      total += events.length;
      eventsIngested.inc({ type: 'life' }, life);
      eventsIngested.inc({ type: 'retrans' }, events.length - life);
    },
  };

  new prom.Gauge({
    name: 'tcpscope_collector_agents_connected', help: 'agents with an open ingest stream', registers: [metrics],
    collect() { this.set(registry.list().filter((a) => a.connected).length); },
  });

  const server = new grpc.Server({
    'grpc.max_receive_message_length': cfg.maxMessageBytes,
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  });
  server.addService(IngestServiceService, makeIngestService(registry, sink, { maxBatchEvents: cfg.maxBatchEvents, log }));
  server.addService(QueryServiceService, makeQueryService(state));
  const grpcPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync(cfg.grpcListen, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(new Error(`cannot listen on ${cfg.grpcListen} (gRPC): ${err.message}`)) : resolve(port))),
  );

  const httpServer = http.createServer(makeHttpHandler(state, { metrics: async () => ({ contentType: metrics.contentType, body: await metrics.metrics() }) }));
  const [httpHost, httpPortText] = splitHostPort(cfg.httpListen);
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', (err) => reject(new Error(`cannot listen on ${cfg.httpListen} (HTTP): ${err.message}`)));
    httpServer.listen(Number(httpPortText), httpHost, () => resolve());
  });
  const httpPort = (httpServer.address() as AddressInfo).port;

  const pruneTimer = setInterval(() => agg.prune(Date.now() * 1000), 60_000);
  pruneTimer.unref();

  const grpcHost = splitHostPort(cfg.grpcListen)[0];
  log.info({ grpc: `${grpcHost}:${grpcPort}`, http: `${httpHost}:${httpPort}` }, 'collector listening');
  return {
    grpcAddress: `${grpcHost}:${grpcPort}`,
    httpAddress: `${httpHost}:${httpPort}`,
    state,
    async close() {
      clearInterval(pruneTimer);
      httpServer.closeAllConnections();
      await new Promise<void>((r) => httpServer.close(() => r()));
      await new Promise<void>((r) => server.tryShutdown(() => r()));
      server.forceShutdown();
    },
  };
}

export function splitHostPort(hp: string): [string, string] {
  const i = hp.lastIndexOf(':');
  return [hp.slice(0, i).replace(/^\[|\]$/g, ''), hp.slice(i + 1)];
}
