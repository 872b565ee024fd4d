// A client-node KubeConfig pointing at a test API server with a bearer token.
import { KubeConfig } from '@kubernetes/client-node';

export function kubeConfigFor(url: string, token: string, caFile?: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    // client-node refuses plain http unless skipTLSVerify is set (there is no TLS to verify)
    clusters: [{ name: 'test', server: url, ...(caFile ? { caFile } : {}), skipTLSVerify: url.startsWith('http:') }],
    users: [{ name: 'test', token }],
    contexts: [{ name: 'test', cluster: 'test', user: 'test' }],
    currentContext: 'test',
  });
  return kc;
}
