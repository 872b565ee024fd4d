// Bearer tokens for the query API (gRPC metadata `authorization: Bearer ...` and the HTTP
// Authorization header): the expected token is read from a file (a mounted Secret), re-read
// when the file changes, and compared in constant time. Missing and wrong tokens get
// different, clear messages.
import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import { timingSafeEqual } from 'node:crypto';

export class TokenFile {
  private token = '';
  private mtimeMs = -1;

  constructor(private readonly path: string) {
    this.load();
    if (!this.token) throw new Error(`query token file ${path} is empty`);
  }

  private load(): void {
    let st: fs.Stats;
    try {
      st = fs.statSync(this.path);
    } catch (err) {
      throw new Error(`query token file ${this.path} cannot be read: ${(err as Error).message}`);
    }
    if (st.mtimeMs !== this.mtimeMs) {
      this.token = fs.readFileSync(this.path, 'utf8').trim();
      this.mtimeMs = st.mtimeMs;
    }
  }

  /** null when the header carries the token; otherwise why not. */
  check(authorization: string | undefined): string | null {
    try {
      this.load();
    } catch {
      /* keep the last good token */
    }
    if (!authorization) return 'missing bearer token: send "authorization: Bearer <token>" (tcpscope --token or TCPSCOPE_TOKEN)';
    const m = /^Bearer\s+(.+)$/i.exec(authorization.trim());
    if (!m) return 'malformed authorization header: expected "Bearer <token>"';
    const given = Buffer.from(m[1]!);
    const want = Buffer.from(this.token);
    if (given.length !== want.length || !timingSafeEqual(given, want)) return 'bad bearer token';
    return null;
  }
}

type AnyHandler = (call: any, callback?: any) => void;

/** Wraps every method of a gRPC service so that calls without the token are refused (UNAUTHENTICATED). */
export function requireToken<S extends object>(service: S, tokens: TokenFile): S {
  const out: Record<string, AnyHandler> = {};
  for (const [name, handler] of Object.entries(service as Record<string, AnyHandler>)) {
    out[name] = (call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>, callback?: grpc.sendUnaryData<unknown>) => {
      const header = call.metadata.get('authorization')[0];
      const why = tokens.check(typeof header === 'string' ? header : undefined);
      if (why) {
        const err = { code: grpc.status.UNAUTHENTICATED, details: why };
        if (callback) callback(err);
        else (call as grpc.ServerWritableStream<unknown, unknown>).destroy(Object.assign(new Error(why), err));
        return;
      }
      handler(call, callback);
    };
  }
  return out as S;
}
