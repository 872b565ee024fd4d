// The gRPC query service: thin wrappers over queries.ts; a QueryError becomes
// INVALID_ARGUMENT with its message. Events in follow mode stream until the client leaves.
import * as grpc from '@grpc/grpc-js';
import type { EventRecord, EventsRequest, QueryServiceServer } from '../../gen/tcpscope/v1/query';
import { type CollectorState, followEvents, queryEvents, QueryError, queryFlows, queryHotspots, queryStatus } from './queries';

function unary<Req, Res>(fn: (req: Req) => Res): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    try {
      callback(null, fn(call.request));
    } catch (err) {
      if (err instanceof QueryError) callback({ code: grpc.status.INVALID_ARGUMENT, details: err.message });
      else callback({ code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err) });
    }
  };
}

export function makeQueryService(st: CollectorState): QueryServiceServer {
  return {
    flows: unary((req) => queryFlows(st, req)),
    hotspots: unary((req) => queryHotspots(st, req)),
    status: unary(() => queryStatus(st)),
    events(call: grpc.ServerWritableStream<EventsRequest, EventRecord>): void {
      const req = call.request;
      let unsubscribe: () => void;
      try {
        for (const e of queryEvents(st, req)) call.write(e);
        if (!req.follow) {
          call.end();
          return;
        }
        unsubscribe = followEvents(st, req, (e) => call.write(e));
      } catch (err) {
        call.destroy(Object.assign(new Error(err instanceof Error ? err.message : String(err)), {
          code: err instanceof QueryError ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL,
        }));
        return;
      }
      call.on('cancelled', unsubscribe);
      call.on('close', unsubscribe);
      call.on('error', unsubscribe);
    },
  };
}
