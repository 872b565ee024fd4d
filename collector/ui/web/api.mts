// How the page talks to the collector's HTTP API: the bearer token (from the URL fragment
// #token=..., else asked for once a request is refused), JSON GETs and NDJSON streams.

const TOKEN_KEY = 'tcpscope-token';

/** Takes #token=... out of the address bar into this tab's storage, so it is not shared by copying the URL. */
export function adoptTokenFromFragment(): void {
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (!m) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]!));
  const rest = location.hash.replace(/(^#|&)token=[^&]*/, '$1').replace(/^#&?$/, '');
  history.replaceState(null, '', location.pathname + location.search + rest);
}

function headers(): HeadersInit {
  const t = sessionStorage.getItem(TOKEN_KEY);
  return t ? { authorization: `Bearer ${t}` } : {};
}

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

async function request(path: string, signal?: AbortSignal): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(path, { headers: headers(), signal });
    if (res.status === 401 && attempt === 0) {
      const t = window.prompt('This collector needs a query token (the Bearer token of its --query-token-file):');
      if (t) {
        sessionStorage.setItem(TOKEN_KEY, t.trim());
        continue;
      }
    }
    if (!res.ok) {
      let msg = `${res.status} ${res.statusText}`;
      try {
        msg = ((await res.json()) as { error?: string }).error ?? msg;
      } catch {
        /* not JSON */
      }
      throw new ApiError(res.status, msg);
    }
    return res;
  }
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  return (await (await request(path, signal)).json()) as T;
}

/** Reads an NDJSON response line by line until it ends or `signal` aborts. */
export async function streamNdjson(path: string, onObject: (o: unknown) => void, signal: AbortSignal): Promise<void> {
  const res = await request(path, signal);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) onObject(JSON.parse(line));
    }
  }
}
