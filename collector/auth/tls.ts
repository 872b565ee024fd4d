// Transport security for the collector's gRPC servers: server credentials from PEM files
// that are re-read when they change (grpc-js FileWatcherCertificateProvider), and a log
// line naming why a TLS handshake failed (expired certificate, unknown CA, no client
// certificate), which grpc-js otherwise keeps to its trace output.
import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import type * as http2 from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../../common/log';
import { RateLimitedLog } from '../../common/log';

export const CERT_REFRESH_MS = 5_000;

function mustRead(path: string, what: string): void {
  try {
    fs.accessSync(path, fs.constants.R_OK);
  } catch {
    throw new Error(`${what} file ${path} cannot be read`);
  }
}

/** Server credentials; client certificates signed by clientCa are required when clientCa is given. */
export function serverCredentials(certFile: string, keyFile: string, clientCaFile: string | undefined, requireClientCert: boolean): grpc.ServerCredentials {
  mustRead(certFile, 'TLS certificate');
  mustRead(keyFile, 'TLS key');
  const identity = new grpc.experimental.FileWatcherCertificateProvider({ certificateFile: certFile, privateKeyFile: keyFile, refreshIntervalMs: CERT_REFRESH_MS });
  let ca: grpc.experimental.CertificateProvider | null = null;
  if (clientCaFile) {
    mustRead(clientCaFile, 'client CA');
    ca = new grpc.experimental.FileWatcherCertificateProvider({ caCertificateFile: clientCaFile, refreshIntervalMs: CERT_REFRESH_MS });
  }
  // no CA provider = no client certificate requested (token-authenticated agents, query clients)
  const make = grpc.experimental.createCertificateProviderServerCredentials as (a: unknown, b: unknown, r: boolean) => grpc.ServerCredentials;
  let creds = make(ca, identity, requireClientCert && ca !== null);
  // grpc-js 1.14 hands its two providers to the constructor in swapped order; check which
  // way round this version stores them rather than rely on either.
  if ((creds as unknown as { identityCertificateProvider: unknown }).identityCertificateProvider !== identity) creds = make(identity, ca, requireClientCert && ca !== null);
  return creds;
}

let hooked = false;
const listeners = new Set<(err: Error & { code?: string }, socket: TLSSocket) => void>();
/** "ip:port" of TLS connections whose client certificate did not verify -> why. */
const untrustedPeers = new Map<string, string>();

function hookSecureServers(): void {
  if (hooked) return;
  hooked = true;
  // the module object itself (an ES namespace import is read-only)
  const mod: { createSecureServer: typeof http2.createSecureServer } = require('node:http2');
  const original = mod.createSecureServer;
  mod.createSecureServer = ((...args: Parameters<typeof http2.createSecureServer>) => {
    const server = original(...args);
    server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
      for (const l of listeners) l(err, socket);
    });
    server.on('secureConnection', (socket: TLSSocket) => {
      if (socket.authorized || !(socket as unknown as { _requestCert?: boolean })._requestCert) return;
      const key = `${socket.remoteAddress}:${socket.remotePort}`;
      const cert = socket.getPeerCertificate();
      const why = !cert || !cert.raw ? 'no client certificate presented' : explainTlsError(Object.assign(new Error(String(socket.authorizationError)), { code: String(socket.authorizationError) }));
      untrustedPeers.set(key, why);
      socket.once('close', () => untrustedPeers.delete(key));
      for (const l of listeners) l(Object.assign(new Error(why), { code: 'UNTRUSTED_CLIENT_CERT' }), socket);
    });
    return server;
  }) as typeof http2.createSecureServer;
}

/** Why the client at this gRPC peer ("ipv4:1.2.3.4:5" or "1.2.3.4:5") was not trusted, if it was not. */
export function untrustedReason(peer: string): string | undefined {
  const p = peer.replace(/^ipv[46]:/, '').replace(/^\[(.*)\]:(\d+)$/, '$1:$2');
  return untrustedPeers.get(p);
}

/**
 * Reports TLS handshake failures and untrusted client certificates of every secure HTTP/2
 * server made from now on (grpc-js creates its servers with http2.createSecureServer).
 */
export function reportTlsFailures(log: Logger): () => void {
  hookSecureServers();
  const limited = new RateLimitedLog(log, 'TLS client refused', 5_000);
  const fn = (err: Error & { code?: string }, socket: TLSSocket) => {
    const reason = err.code === 'UNTRUSTED_CLIENT_CERT' ? err.message : explainTlsError(err);
    limited.add(1, { peer: `${socket.remoteAddress}:${socket.remotePort}`, reason }, reason);
  };
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** OpenSSL's words to ours. */
export function explainTlsError(err: Error & { code?: string }): string {
  const m = `${err.code ?? ''} ${err.message}`;
  if (/CERT_HAS_EXPIRED|certificate expired|certificate has expired/i.test(m)) return `client certificate expired (${err.code})`;
  if (/CERT_NOT_YET_VALID/i.test(m)) return `client certificate not yet valid (${err.code})`;
  if (/unknown ca|UNABLE_TO_VERIFY|self.signed|SELF_SIGNED|UNABLE_TO_GET_ISSUER|unable to get (local )?issuer/i.test(m)) return `client certificate signed by an unknown CA (${err.code})`;
  if (/peer did not return a certificate|certificate required|PEER_DID_NOT_RETURN/i.test(m)) return `no client certificate presented (${err.message})`;
  return err.message;
}
