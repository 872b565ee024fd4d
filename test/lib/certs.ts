// Test PKI made with the openssl command: a CA, a collector certificate (localhost,
// 127.0.0.1), an agent client certificate, one from another CA, an expired one and a
// collector certificate for the wrong name. Files in a temporary directory.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface TestPki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  otherCa: string;
  otherClientCert: string;
  otherClientKey: string;
  expiredClientCert: string;
  expiredClientKey: string;
  wrongNameServerCert: string;
  wrongNameServerKey: string;
  cleanup(): void;
}

function ssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): void {
  ssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`]);
}

function makeLeaf(dir: string, ca: string, name: string, cn: string, san: string, ext: 'serverAuth' | 'clientAuth', dates?: [string, string]): void {
  ssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
  fs.writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=${ext}\n`);
  if (!dates) {
    ssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`]);
    return;
  }
  // `openssl ca` is the one that can set dates in the past
  fs.mkdirSync(path.join(dir, `${name}-db`));
  fs.writeFileSync(path.join(dir, `${name}-db`, 'index.txt'), '');
  fs.writeFileSync(path.join(dir, `${name}.cnf`), [
    '[ca]', 'default_ca=c', '[c]', `dir=${name}-db`, 'database=$dir/index.txt', 'new_certs_dir=$dir', 'serial=$dir/serial',
    'default_md=sha256', 'policy=p', 'copy_extensions=none', '[p]', 'commonName=supplied', '[e]', `subjectAltName=${san}`, `extendedKeyUsage=${ext}`, '',
  ].join('\n'));
  fs.writeFileSync(path.join(dir, `${name}-db`, 'serial'), '1000\n');
  ssl(dir, ['ca', '-batch', '-config', `${name}.cnf`, '-extensions', 'e', '-cert', `${ca}.crt`, '-keyfile', `${ca}.key`, '-in', `${name}.csr`, '-out', `${name}.crt`, '-startdate', dates[0], '-enddate', dates[1], '-notext']);
}

export function makeTestPki(): TestPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcpscope-pki-'));
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  makeLeaf(dir, 'ca', 'server', 'tcpscope-collector', 'DNS:localhost,IP:127.0.0.1,DNS:tcpscope-collector', 'serverAuth');
  makeLeaf(dir, 'ca', 'wrong-server', 'somebody-else', 'DNS:somebody-else.example', 'serverAuth');
  makeLeaf(dir, 'ca', 'client', 'tcpscope-agent', 'DNS:tcpscope-agent', 'clientAuth');
  makeLeaf(dir, 'other-ca', 'other-client', 'intruder', 'DNS:intruder', 'clientAuth');
  makeLeaf(dir, 'ca', 'expired-client', 'tcpscope-agent', 'DNS:tcpscope-agent', 'clientAuth', ['20200101000000Z', '20200102000000Z']);
  const f = (n: string) => path.join(dir, n);
  return {
    dir, ca: f('ca.crt'), serverCert: f('server.crt'), serverKey: f('server.key'), clientCert: f('client.crt'), clientKey: f('client.key'),
    otherCa: f('other-ca.crt'), otherClientCert: f('other-client.crt'), otherClientKey: f('other-client.key'),
    expiredClientCert: f('expired-client.crt'), expiredClientKey: f('expired-client.key'),
    wrongNameServerCert: f('wrong-server.crt'), wrongNameServerKey: f('wrong-server.key'),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
