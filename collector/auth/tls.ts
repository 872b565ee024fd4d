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
  return grpc.experimental.createCertificateProviderServerCredentials(ca as grpc.experimental.CertificateProvider, identity, requireClientCert && ca !== null);
}

let hooked = false;
const listeners = new Set<(err: Error & { code?: string }, socket: TLSSocket) => void>();

/**
 * Reports TLS handshake failures of every secure HTTP/2 server made from now on (grpc-js
 * creates its servers with http2.createSecureServer). One hook for the process.
 */
export function reportTlsFailures(log: Logger): () => void {
  if (!hooked) {
    hooked = true;
    // the module object itself (an ES namespace import is read-only)
    const mod: { createSecureServer: typeof http2.createSecureServer } = require('node:http2');
    const original = mod.createSecureServer;
    mod.createSecureServer = ((...args: Parameters<typeof http2.createSecureServer>) => {
      const server = original(...args);
      server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
        for (const l of listeners) l(err, socket);
      });
      return server;
    }) as typeof http2.createSecureServer;
  }
  const limited = new RateLimitedLog(log, 'TLS handshake failed', 5_000);
  const fn = (err: Error & { code?: string }, socket: TLSSocket) => {
    limited.add(1, { peer: `${socket.remoteAddress}:${socket.remotePort}`, reason: explainTlsError(err) });
  };
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** OpenSSL's words to ours. */
export function explainTlsError(err: Error & { code?: string }): string {
  const m = `${err.code ?? ''} ${err.message}`;
  if (/CERT_HAS_EXPIRED|certificate expired|certificate has expired/i.test(m)) return `certificate expired (${err.message})`;
  if (/unknown ca|UNABLE_TO_VERIFY|self.signed|unable to get (local )?issuer/i.test(m)) return `certificate signed by an unknown CA (${err.message})`;
  if (/peer did not return a certificate|certificate required|PEER_DID_NOT_RETURN/i.test(m)) return `no client certificate presented (${err.message})`;
  if (/Hostname\/IP does not match|ERR_TLS_CERT_ALTNAME_INVALID/i.test(m)) return `certificate name does not match (${err.message})`;
  return err.message;
}
