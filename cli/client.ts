// The CLI's connection to a collector's gRPC query service, and its error messages
// (collector not reachable, bad request) in words a person can act on.
import * as grpc from '@grpc/grpc-js';
import { QueryServiceClient } from '../gen/tcpscope/v1/query';

export const DEFAULT_COLLECTOR = process.env.TCPSCOPE_COLLECTOR || '127.0.0.1:7400';

export function queryClient(address: string): QueryServiceClient {
  return new QueryServiceClient(address, grpc.credentials.createInsecure());
}

export function explain(err: grpc.ServiceError, address: string): Error {
  if (err.code === grpc.status.UNAVAILABLE) return new Error(`collector at ${address} is not reachable (${err.details}); start one with \`tcpscope up\` or pass --collector HOST:PORT`);
  if (err.code === grpc.status.INVALID_ARGUMENT) return new Error(err.details);
  if (err.code === grpc.status.DEADLINE_EXCEEDED) return new Error(`collector at ${address} did not answer in time`);
  return new Error(`${grpc.status[err.code] ?? err.code}: ${err.details || err.message}`);
}

export function call<Req, Res>(
  client: grpc.Client,
  method: (req: Req, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: (err: grpc.ServiceError | null, res: Res) => void) => grpc.ClientUnaryCall,
  req: Req,
  address: string,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, req, new grpc.Metadata(), { deadline: Date.now() + 15_000 }, (err, res) => {
      client.close();
      if (err) reject(explain(err, address));
      else resolve(res);
    });
  });
}
