// When the collector cannot be reached over TLS, grpc-js says only "Failed to connect".
// This makes one plain TLS handshake with the agent's own files to find out why (expired
// certificate, unknown CA, wrong name, refused), so the agent can say it in its log.
import * as fs from 'node:fs';
import { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';

export interface TlsFiles {
  collector: string;
  tlsCa: string;
  tlsCert: string;
  tlsKey: string;
  tlsServerName: string;
}

export function diagnoseTls(f: TlsFiles, timeoutMs = 3000): Promise<string> {
  if (f.tlsCert) {
    try {
      const cert = new X509Certificate(fs.readFileSync(f.tlsCert));
      if (Date.parse(cert.validTo) < Date.now()) return Promise.resolve(`our client certificate ${f.tlsCert} expired at ${new Date(cert.validTo).toISOString()}`);
      if (Date.parse(cert.validFrom) > Date.now()) return Promise.resolve(`our client certificate ${f.tlsCert} is not valid before ${new Date(cert.validFrom).toISOString()}`);
    } catch (err) {
      return Promise.resolve(`cannot read our client certificate ${f.tlsCert}: ${(err as Error).message}`);
    }
  }
  const i = f.collector.lastIndexOf(':');
  const host = f.collector.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(f.collector.slice(i + 1));
  return new Promise((resolve) => {
    let done = false;
    const finish = (why: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(why);
    };
    const socket = tls.connect({
      host, port, servername: f.tlsServerName || (/^[\d.:]+$/.test(host) ? undefined : host), ALPNProtocols: ['h2'],
      ca: fs.readFileSync(f.tlsCa), cert: f.tlsCert ? fs.readFileSync(f.tlsCert) : undefined, key: f.tlsKey ? fs.readFileSync(f.tlsKey) : undefined,
    });
    // TLS 1.3: the server's verdict on our certificate arrives after our side finished
    socket.on('secureConnect', () => setTimeout(() => finish('TLS handshake succeeded; the collector closed the stream (check its log)'), 500));
    socket.on('error', (err: Error & { code?: string }) => finish(tlsReason(err)));
    socket.on('close', () => finish('the collector closed the connection during the TLS handshake'));
    const timer = setTimeout(() => finish('TLS handshake timed out'), timeoutMs);
  });
}

function tlsReason(err: Error & { code?: string }): string {
  const m = `${err.code ?? ''} ${err.message}`;
  if (/alert certificate expired|alert number 45/i.test(m)) return `the collector refused our client certificate: expired (${err.message})`;
  if (/alert unknown ca|alert number 48/i.test(m)) return `the collector refused our client certificate: signed by a CA it does not trust (${err.message})`;
  if (/certificate required|alert number 116|alert handshake failure/i.test(m)) return `the collector requires a client certificate (${err.message})`;
  if (/CERT_HAS_EXPIRED/.test(m)) return `the collector's certificate has expired (${err.message})`;
  if (/UNABLE_TO_VERIFY|SELF_SIGNED|unable to get/i.test(m)) return `the collector's certificate is not signed by our CA (${err.message})`;
  if (/ERR_TLS_CERT_ALTNAME_INVALID|does not match/i.test(m)) return `the collector's certificate is for another name (${err.message})`;
  if (/ECONNREFUSED/.test(m)) return `connection refused: no collector listening at this address (${err.message})`;
  return err.message;
}
