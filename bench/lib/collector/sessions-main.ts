// Known TCP sessions for the freshness benchmark, one program for both ends:
//   server: node sessions-main.js server --addr 198.18.7.2 --port 20000 --count 30
//           listens on ports port..port+count-1; answers each session's request and closes
//   client: node sessions-main.js client --addr 198.18.7.2 --port 20000 --count 30 --gap-ms 1000
//           one session to each port in turn, a random 0..gap-ms pause before each (so the
//           closes fall anywhere in the agent's flow interval); prints {"port":P,"closeMs":T}
//           when a session is fully closed (both FINs), T = Date.now()
import * as net from 'node:net';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : def;
}

const addr = arg('addr', '127.0.0.1');
const port = Number(arg('port', '20000'));
const count = Number(arg('count', '10'));

async function server(): Promise<void> {
  for (let p = port; p < port + count; p++) {
    const srv = net.createServer((sock) => {
      sock.on('data', () => undefined);
      sock.on('end', () => sock.end(Buffer.alloc(512, 1)));
      sock.on('error', () => undefined);
    });
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(p, addr, () => resolve());
    });
  }
  process.stdout.write('listening\n');
}

async function client(): Promise<void> {
  const gapMs = Number(arg('gap-ms', '1000'));
  for (let p = port; p < port + count; p++) {
    await new Promise((r) => setTimeout(r, Math.random() * gapMs));
    await new Promise<void>((resolve) => {
      const sock = net.connect(p, addr, () => sock.end(Buffer.alloc(256, 2)));
      sock.on('data', () => undefined);
      sock.on('error', (err) => {
        process.stderr.write(`session to ${p}: ${err.message}\n`);
        resolve();
      });
      sock.on('close', (hadError) => {
        if (!hadError) process.stdout.write(JSON.stringify({ port: p, closeMs: Date.now() }) + '\n');
        resolve();
      });
    });
  }
  process.stdout.write('done\n');
}

(process.argv[2] === 'server' ? server() : client()).catch((err) => {
  process.stderr.write(`sessions: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
