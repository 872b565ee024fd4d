// The server side of the cost benchmark's session load, run inside the server namespace:
// for each connection it reads the client's 100-byte request (its first 4 bytes: how many
// bytes to answer, uint32 big-endian), writes that many bytes and closes its side (FIN).
// Kept minimal: it is part of the untraced baseline. On SIGTERM/SIGINT it prints
// {"served":n,"errors":n} and exits.
//   ip netns exec <ns> node load-server.js <addr> <port>   (prints {"listening":<port>})
import * as net from 'node:net';

export const REQUEST_BYTES = 100;

const [addr, portArg] = process.argv.slice(2);
if (require.main === module) {
  if (!addr || !portArg) {
    process.stderr.write('usage: load-server <addr> <port>\n');
    process.exit(2);
  }
  serve(addr, Number(portArg));
}

function serve(host: string, port: number): void {
  const answers = new Map<number, Buffer>();
  const answer = (n: number): Buffer => {
    let b = answers.get(n);
    if (!b) {
      b = Buffer.alloc(n, 0x62);
      answers.set(n, b);
    }
    return b;
  };
  let served = 0;
  let errors = 0;
  const server = net.createServer((s) => {
    let seen = 0;
    let head: Buffer | null = null; // the first bytes, until the size is known
    let size = -1;
    s.on('data', (d: Buffer) => {
      if (size < 0) {
        head = head ? Buffer.concat([head, d]) : d;
        if (head.length >= 4) size = head.readUInt32BE(0);
      }
      seen += d.length;
      if (seen >= REQUEST_BYTES && size >= 0) {
        seen = -Infinity; // answered
        served++;
        // FIN after the answer, then let the kernel finish the close (no wake-up for the client's FIN)
        s.end(answer(size), () => s.destroy());
      }
    });
    s.on('error', () => {
      errors++;
    });
  });
  server.on('error', (err) => {
    process.stderr.write(`load-server: ${err.message}\n`);
    process.exit(1);
  });
  server.listen({ host, port, backlog: 4096 }, () => {
    process.stdout.write(`${JSON.stringify({ listening: (server.address() as net.AddressInfo).port })}\n`);
  });
  const stop = () => {
    process.stdout.write(`${JSON.stringify({ served, errors })}\n`, () => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
