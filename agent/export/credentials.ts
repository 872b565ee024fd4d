// The agent's side of transport security: TLS to the collector with the CA that signed the
// collector's certificate, a client certificate for mutual TLS (files re-read when they
// change), or a projected ServiceAccount token sent as call credentials. Plaintext only to
// a collector on loopback.
import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import type { AgentConfig } from '../../common/config';

export const CERT_REFRESH_MS = 5_000;

function readable(path: string, what: string): string {
  try {
    fs.accessSync(path, fs.constants.R_OK);
  } catch {
    throw new Error(`${what} file ${path} cannot be read`);
  }
  return path;
}

export function isLoopbackAddress(address: string): boolean {
  const host = address.slice(0, address.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export interface AgentChannel {
  credentials: grpc.ChannelCredentials;
  options: grpc.ChannelOptions;
}

export function agentChannel(cfg: Pick<AgentConfig, 'collector' | 'tlsCa' | 'tlsCert' | 'tlsKey' | 'tlsServerName' | 'tokenFile'>): AgentChannel {
  if (!cfg.tlsCa) {
    if (!isLoopbackAddress(cfg.collector))
      throw new Error(`refusing to send to ${cfg.collector} without TLS: set --tls-ca (and --tls-cert/--tls-key or --token-file); plaintext is only for a collector on loopback`);
    if (cfg.tokenFile) throw new Error('--token-file needs TLS (--tls-ca): a token must not travel in plaintext');
    return { credentials: grpc.credentials.createInsecure(), options: {} };
  }
  const ca = new grpc.experimental.FileWatcherCertificateProvider({ caCertificateFile: readable(cfg.tlsCa, 'TLS CA'), refreshIntervalMs: CERT_REFRESH_MS });
  let identity: grpc.experimental.FileWatcherCertificateProvider | null = null;
  if (cfg.tlsCert || cfg.tlsKey) {
    if (!cfg.tlsCert || !cfg.tlsKey) throw new Error('mutual TLS needs both --tls-cert and --tls-key');
    identity = new grpc.experimental.FileWatcherCertificateProvider({
      certificateFile: readable(cfg.tlsCert, 'TLS certificate'), privateKeyFile: readable(cfg.tlsKey, 'TLS key'), refreshIntervalMs: CERT_REFRESH_MS,
    });
  }
  let credentials: grpc.ChannelCredentials = grpc.experimental.createCertificateProviderChannelCredentials(ca, identity);
  if (cfg.tokenFile) {
    const path = readable(cfg.tokenFile, 'ServiceAccount token');
    // re-read on every call: kubelet rotates projected tokens in place
    credentials = grpc.credentials.combineChannelCredentials(credentials, grpc.credentials.createFromMetadataGenerator((_params, cb) => {
      const md = new grpc.Metadata();
      try {
        md.set('authorization', `Bearer ${fs.readFileSync(path, 'utf8').trim()}`);
        cb(null, md);
      } catch (err) {
        cb(err as Error);
      }
    }));
  }
  const options: grpc.ChannelOptions = cfg.tlsServerName ? { 'grpc.ssl_target_name_override': cfg.tlsServerName, 'grpc.default_authority': cfg.tlsServerName } : {};
  return { credentials, options };
}
