// Agents proven by projected ServiceAccount tokens: the collector asks the Kubernetes API
// (TokenReview) whether the token is valid for our audience and which ServiceAccount it
// belongs to; only the agent's ServiceAccount may send. Verdicts are cached briefly so a
// reconnect storm does not become a TokenReview storm.
import type * as grpc from '@grpc/grpc-js';
import { AuthenticationV1Api, type KubeConfig } from '@kubernetes/client-node';

export interface TokenReviewOptions {
  audience: string;
  /** "system:serviceaccount:<namespace>:<name>" of the agents; empty = any authenticated ServiceAccount. */
  allowedUser: string;
  cacheMs?: number;
}

export class AgentTokenReviewer {
  private readonly api: AuthenticationV1Api;
  private readonly cache = new Map<string, { verdict: string | null; until: number }>();

  constructor(kc: KubeConfig, private readonly opts: TokenReviewOptions) {
    this.api = kc.makeApiClient(AuthenticationV1Api);
  }

  /** null when the caller's bearer token is a valid agent token; otherwise why not. */
  async authorize(call: grpc.ServerDuplexStream<unknown, unknown>): Promise<string | null> {
    const header = call.metadata.get('authorization')[0];
    const m = typeof header === 'string' ? /^Bearer\s+(.+)$/i.exec(header) : null;
    if (!m) return 'missing ServiceAccount token: the agent must send "authorization: Bearer <token>" (--token-file)';
    return this.review(m[1]!.trim());
  }

  async review(token: string): Promise<string | null> {
    const now = Date.now();
    const hit = this.cache.get(token);
    if (hit && hit.until > now) return hit.verdict;
    let verdict: string | null;
    try {
      const res = await this.api.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [this.opts.audience] } } });
      const st = res.status;
      if (!st?.authenticated) verdict = `ServiceAccount token rejected by the Kubernetes API${st?.error ? `: ${st.error}` : ''}`;
      else if (st.audiences && !st.audiences.includes(this.opts.audience)) verdict = `ServiceAccount token is not for audience "${this.opts.audience}"`;
      else if (this.opts.allowedUser && st.user?.username !== this.opts.allowedUser) verdict = `ServiceAccount ${st.user?.username ?? '?'} may not send events (only ${this.opts.allowedUser})`;
      else verdict = null;
    } catch (err) {
      // not cached: the API server may be back in a moment
      return `cannot verify the ServiceAccount token (TokenReview failed: ${err instanceof Error ? err.message : String(err)})`;
    }
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(token, { verdict, until: now + (this.opts.cacheMs ?? 60_000) });
    return verdict;
  }
}
