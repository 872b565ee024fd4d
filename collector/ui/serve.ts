// Serves the web UI from the collector's HTTP port: the page for / and /pod/NS/NAME, and
// its assets under /ui/ (ES modules compiled by collector/ui/tsconfig.json into
// dist/collector/ui/web, HTML and CSS from collector/ui/static). Everything is local: the
// page works with no internet. Assets carry no data; the page sends the API token itself.
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as path from 'node:path';

const WEB_DIR = path.join(__dirname, 'web'); // dist/collector/ui/web
const STATIC_DIR = path.resolve(__dirname, '../../../collector/ui/static'); // beside the sources, as in the image

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

const HEADERS = {
  'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

const cache = new Map<string, Buffer>();

function read(file: string): Buffer | undefined {
  let b = cache.get(file);
  if (!b) {
    try {
      b = fs.readFileSync(file);
    } catch {
      return undefined;
    }
    cache.set(file, b);
  }
  return b;
}

/** The file a UI path names, or undefined when the path is not the UI's. */
function fileFor(pathname: string): string | undefined {
  if (pathname === '/' || pathname === '/index.html' || /^\/pod\/[^/]+\/[^/]+\/?$/.test(pathname)) return path.join(STATIC_DIR, 'index.html');
  const m = /^\/ui\/([a-z][a-z0-9-]*)\.(mjs|css)$/.exec(pathname);
  if (!m) return undefined;
  return m[2] === 'mjs' ? path.join(WEB_DIR, `${m[1]}.mjs`) : path.join(STATIC_DIR, `${m[1]}.css`);
}

/**
 * Answers the request when its path is the UI's (true), else leaves it alone (false).
 * Call it for GET/HEAD paths the API does not know.
 */
export function serveUi(req: http.IncomingMessage, res: http.ServerResponse): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const pathname = new URL(req.url ?? '/', 'http://x').pathname;
  const file = fileFor(pathname);
  if (!file) return false;
  const body = read(file);
  if (!body) {
    const built = fs.existsSync(WEB_DIR);
    res.writeHead(built ? 404 : 503, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(built ? `no such UI file ${pathname}\n` : 'the web UI is not built: run `npm run build` (it compiles collector/ui/tsconfig.json)\n');
    return true;
  }
  res.writeHead(200, { ...HEADERS, 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'content-length': body.length });
  res.end(req.method === 'HEAD' ? undefined : body);
  return true;
}
