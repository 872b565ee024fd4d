// Test PKI for a collector reached by IP (a network-namespace address), with two server
// certificates and two agent certificates from one CA to rotate between (one of them
// expired), and a mounted-Secret directory that swaps its files the way the kubelet does:
// every file a symlink through "..data", which is replaced in one rename.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface CertPair {
  cert: string;
  key: string;
}

export interface RotatingPki {
  dir: string;
  ca: string;
  /** Server certificates for the IP, CN tcpscope-collector-1 and -2. */
  server1: CertPair;
  server2: CertPair;
  client: CertPair;
  expiredClient: CertPair;
  cleanup(): void;
}

function ssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function leaf(dir: string, name: string, cn: string, san: string, ext: 'serverAuth' | 'clientAuth', dates?: [string, string]): CertPair {
  ssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
  if (!dates) {
    fs.writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=${ext}\n`);
    ssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`]);
  } else {
    // `openssl ca` is the one that can set dates in the past
    fs.mkdirSync(path.join(dir, `${name}-db`));
    fs.writeFileSync(path.join(dir, `${name}-db`, 'index.txt'), '');
    fs.writeFileSync(path.join(dir, `${name}-db`, 'serial'), '2000\n');
    fs.writeFileSync(path.join(dir, `${name}.cnf`), [
      '[ca]', 'default_ca=c', '[c]', `dir=${name}-db`, 'database=$dir/index.txt', 'new_certs_dir=$dir', 'serial=$dir/serial',
      'default_md=sha256', 'policy=p', 'copy_extensions=none', '[p]', 'commonName=supplied', '[e]', `subjectAltName=${san}`, `extendedKeyUsage=${ext}`, '',
    ].join('\n'));
    ssl(dir, ['ca', '-batch', '-config', `${name}.cnf`, '-extensions', 'e', '-cert', 'ca.crt', '-keyfile', 'ca.key', '-in', `${name}.csr`, '-out', `${name}.crt`, '-startdate', dates[0], '-enddate', dates[1], '-notext']);
  }
  return { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
}

/** A CA and certificates for a collector at `ip`; files in a temporary directory. */
export function makeRotatingPki(ip: string): RotatingPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcpscope-rpki-'));
  ssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=tcpscope-test-ca']);
  const san = `IP:${ip},DNS:tcpscope-collector`;
  return {
    dir,
    ca: path.join(dir, 'ca.crt'),
    server1: leaf(dir, 'server1', 'tcpscope-collector-1', san, 'serverAuth'),
    server2: leaf(dir, 'server2', 'tcpscope-collector-2', san, 'serverAuth'),
    client: leaf(dir, 'client', 'tcpscope-agent', 'DNS:tcpscope-agent', 'clientAuth'),
    expiredClient: leaf(dir, 'expired-client', 'tcpscope-agent', 'DNS:tcpscope-agent', 'clientAuth', ['20200101000000Z', '20200102000000Z']),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * A directory laid out like a mounted Kubernetes Secret: `tls.crt` -> `..data/tls.crt`,
 * `..data` -> `..<version>`. install() writes a new version and swaps `..data` in one
 * rename, so a reader never sees a new certificate beside an old key.
 */
export class SecretDir {
  private version = 0;
  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
  }

  path(name: string): string {
    return path.join(this.dir, name);
  }

  install(files: Record<string, string>): void {
    const v = `..v${++this.version}`;
    fs.mkdirSync(path.join(this.dir, v));
    for (const [name, src] of Object.entries(files)) fs.copyFileSync(src, path.join(this.dir, v, name));
    const tmp = path.join(this.dir, '..data_tmp');
    fs.rmSync(tmp, { force: true });
    fs.symlinkSync(v, tmp);
    fs.renameSync(tmp, path.join(this.dir, '..data'));
    for (const name of Object.keys(files)) {
      const link = path.join(this.dir, name);
      if (!fs.existsSync(link)) fs.symlinkSync(path.join('..data', name), link);
    }
  }
}
