// The HTTP/JSON API (same queries as gRPC): /api/v1/flows, /api/v1/events (follow=true
// streams NDJSON), /api/v1/hotspots, /api/v1/status, plus /metrics and /healthz. Query
// parameters are checked with zod; a bad one gets 400 with a message saying what to use.
import * as http from 'node:http';
import { z } from 'zod';
import { InputError, parseTimeMs } from '../../common/duration';
import { EventRecord, EventType, FlowsResponse, HotspotsResponse, StatusResponse, type Window } from '../../gen/tcpscope/v1/query';
import { serveUi } from '../ui/serve';
import { type CollectorState, followEvents, queryEvents, QueryError, queryFlows, queryHotspots, queryStatus } from './queries';

export interface HttpOptions {
  metrics?: () => Promise<{ contentType: string; body: string }>;
}

const common = {
  since: z.string().optional(),
  until: z.string().optional(),
  pod: z.string().optional(),
  namespace: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(100_000).optional(),
};
const flowsQ = z.object(common).strict();
const { pod: _pod, ...notPod } = common;
// hot spots rank groups of flows; one pod's view is /api/v1/flows?pod= (or `tcpscope pod`)
const hotspotsQ = z.object({ ...notPod, by: z.string().optional() }).strict();
const eventsQ = z.object({
  ...common,
  type: z.enum(['life', 'flow', 'retrans', 'all']).optional(),
  port: z.coerce.number().int().min(1).max(65535).optional(),
  last: z.coerce.number().int().min(1).max(1_000_000).optional(),
  follow: z.enum(['true', 'false', '1', '0']).optional(),
  node: z.string().optional(),
  from_pod: z.string().optional(),
  to_pod: z.string().optional(),
}).strict();

function window(q: { since?: string; until?: string }, defaultSince: string | undefined): Window {
  const now = Date.now();
  return {
    sinceUnixMs: q.since ? parseTimeMs(q.since, now, 'since') : defaultSince ? parseTimeMs(defaultSince, now) : 0,
    untilUnixMs: q.until ? parseTimeMs(q.until, now, 'until') : 0,
  };
}

function parse<T>(schema: z.ZodType<T>, params: URLSearchParams): T {
  const obj = Object.fromEntries(params);
  const r = schema.safeParse(obj);
  if (!r.success) throw new QueryError(r.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; '));
  return r.data;
}

export function makeHttpHandler(st: CollectorState, opts: HttpOptions = {}): http.RequestListener {
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      if (req.method !== 'GET') return send(405, { error: 'only GET is supported' });
      switch (url.pathname) {
        case '/healthz':
          return send(200, { ok: true });
        case '/metrics': {
          if (!opts.metrics) return send(404, { error: 'metrics are off' });
          const m = await opts.metrics();
          res.writeHead(200, { 'content-type': m.contentType });
          return res.end(m.body);
        }
        case '/api/v1/flows': {
          const q = parse(flowsQ, url.searchParams);
          return send(200, FlowsResponse.toJSON(queryFlows(st, { window: window(q, '15m'), pod: q.pod ?? '', namespace: q.namespace ?? '', limit: q.limit ?? 0 })));
        }
        case '/api/v1/hotspots': {
          const q = parse(hotspotsQ, url.searchParams);
          return send(200, HotspotsResponse.toJSON(queryHotspots(st, { window: window(q, '15m'), by: q.by ?? 'pod', namespace: q.namespace ?? '', limit: q.limit ?? 0 })));
        }
        case '/api/v1/status':
          return send(200, StatusResponse.toJSON(queryStatus(st)));
        case '/api/v1/events': {
          const q = parse(eventsQ, url.searchParams);
          const follow = q.follow === 'true' || q.follow === '1';
          const er = {
            window: window(q, follow ? undefined : '15m'), pod: q.pod ?? '', namespace: q.namespace ?? '',
            type: q.type === 'life' ? EventType.EVENT_TYPE_LIFE : q.type === 'flow' ? EventType.EVENT_TYPE_FLOW : q.type === 'retrans' ? EventType.EVENT_TYPE_RETRANS : EventType.EVENT_TYPE_UNSPECIFIED,
            port: q.port ?? 0, last: q.last ?? 0, follow, node: q.node ?? '', fromPod: q.from_pod ?? '', toPod: q.to_pod ?? '',
          };
          const past = queryEvents(st, er);
          if (!follow) return send(200, { events: past.map((e) => EventRecord.toJSON(e)) });
          const unsubscribe = followEvents(st, er, (e) => res.write(JSON.stringify(EventRecord.toJSON(e)) + '\n'));
          res.writeHead(200, { 'content-type': 'application/x-ndjson' });
          for (const e of past) res.write(JSON.stringify(EventRecord.toJSON(e)) + '\n');
          req.on('close', unsubscribe);
          return;
        }
        default:
          if (!url.pathname.startsWith('/api/') && serveUi(req, res)) return;
          return send(404, { error: `no such endpoint ${url.pathname}` });
      }
    } catch (err) {
      if (err instanceof QueryError || err instanceof InputError) return send(400, { error: err.message });
      return send(500, { error: err instanceof Error ? err.message : String(err) });
    }
  };
}
