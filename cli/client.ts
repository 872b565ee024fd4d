// The CLI's connection to a collector's gRPC query service: address, bearer token and TLS
// from flags or environment, and error messages (not reachable, bad token, bad request)
// in words a person can act on.
import * as grpc from '@grpc/grpc-js';
import type { Command } from 'commander';
import * as fs from 'node:fs';
import { QueryServiceClient } from '../gen/tcpscope/v1/query';

export const DEFAULT_QUERY_ADDRESS = '127.0.0.1:7402';

export interface QueryOptions {
  collector: string;
  token?: string;
  tlsCa?: string;
  tlsServerName?: string;
}

/** --collector, --token, --tls-ca, --tls-server-name on a query command. */
export function addQueryOptions(cmd: Command): Command {
  return cmd
    .option('--collector <host:port>', 'collector query address (env TCPSCOPE_QUERY_ADDRESS)', process.env.TCPSCOPE_QUERY_ADDRESS || DEFAULT_QUERY_ADDRESS)
    .option('--token <token>', 'bearer token for the query API (env TCPSCOPE_TOKEN)', process.env.TCPSCOPE_TOKEN)
    .option('--tls-ca <file>', 'CA of the collector\'s certificate; set = TLS (env TCPSCOPE_QUERY_TLS_CA)', process.env.TCPSCOPE_QUERY_TLS_CA)
    .option('--tls-server-name <name>', 'name in the collector\'s certificate, when it differs from the address');
}

/** --since/--until/--limit/-o of the report commands (flows, hotspots). */
export function addWindowOptions(cmd: Command, rows: string, defaultLimit: number): Command {
  return cmd
    .option('--since <time>', 'start of the window: a duration ago (15m, 2h) or an ISO time', '15m')
    .option('--until <time>', 'end of the window (default: now)')
    .option('--limit <n>', `at most this many ${rows}`, String(defaultLimit))
    .option('-o, --output <format>', 'table or json', 'table');
}

export class QueryConnection {
  readonly client: QueryServiceClient;
  constructor(readonly opts: QueryOptions) {
    let creds = opts.tlsCa ? grpc.credentials.createSsl(fs.readFileSync(opts.tlsCa)) : grpc.credentials.createInsecure();
    if (opts.token) {
      if (!opts.tlsCa && !/^(127\.|localhost|\[::1\])/.test(opts.collector))
        throw new Error('refusing to send a token in plaintext: pass --tls-ca, or use a collector on loopback (kubectl port-forward)');
      if (opts.tlsCa) {
        const token = opts.token;
        creds = grpc.credentials.combineChannelCredentials(creds, grpc.credentials.createFromMetadataGenerator((_p, cb) => {
          const md = new grpc.Metadata();
          md.set('authorization', `Bearer ${token}`);
          cb(null, md);
        }));
      }
    }
    this.client = new QueryServiceClient(opts.collector, creds, opts.tlsServerName ? { 'grpc.ssl_target_name_override': opts.tlsServerName } : {});
  }

  unary<Req, Res>(
    method: (req: Req, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: (err: grpc.ServiceError | null, res: Res) => void) => grpc.ClientUnaryCall,
    req: Req,
  ): Promise<Res> {
    return new Promise((resolve, reject) => {
      method.call(this.client, req, this.callMetadata(), { deadline: Date.now() + 15_000 }, (err, res) => {
        this.client.close();
        if (err) reject(explain(err, this.opts.collector));
        else resolve(res);
      });
    });
  }

  /** Metadata carrying the token on plaintext loopback connections (grpc-js refuses call credentials there). */
  callMetadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.opts.token && !this.opts.tlsCa) md.set('authorization', `Bearer ${this.opts.token}`);
    return md;
  }
}

export function explain(err: grpc.ServiceError, address: string): Error {
  if (err.code === grpc.status.UNAVAILABLE) return new Error(`collector at ${address} is not reachable (${err.details}); start one with \`tcpscope up\`, or pass --collector HOST:PORT (kubectl port-forward svc/tcpscope-collector 7402)`);
  if (err.code === grpc.status.UNAUTHENTICATED) return new Error(`collector refused the request: ${err.details}`);
  if (err.code === grpc.status.INVALID_ARGUMENT) return new Error(err.details);
  if (err.code === grpc.status.DEADLINE_EXCEEDED) return new Error(`collector at ${address} did not answer in time`);
  return new Error(`${grpc.status[err.code] ?? err.code}: ${err.details || err.message}`);
}
