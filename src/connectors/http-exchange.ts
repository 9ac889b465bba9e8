/**
 * One HTTP exchange over node:http / node:https with keep-alive agents: the transport under HttpClient.
 * It replaced `fetch`, whose WHATWG streams cost the API process several times the CPU of a plain request
 * for the small JSON calls connectors make (most of the main thread's connector time in `npm run bench`).
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import zlib from 'node:zlib';

/**
 * Idle keep-alive sockets are closed after this long: below the 5 s most servers keep an idle connection
 * (Node's default), so a request rarely lands on a socket the vendor is closing.
 */
const IDLE_SOCKET_MS = 4_000;
const agents = {
  'http:': new http.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS }),
  'https:': new https.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS }),
} as const;

export interface ExchangeResult {
  status: number;
  headers: Headers;
  text: string;
}

/** Thrown when the whole exchange (connect, headers and body) took longer than its timeout. */
export class ExchangeTimeoutError extends Error {
  override readonly name = 'ExchangeTimeoutError';
  constructor(
    readonly timeoutMs: number,
    /** Whether the status line and headers had arrived (the body was still being read). */
    readonly readingBody: boolean,
  ) {
    super(`timed out after ${timeoutMs} ms${readingBody ? ' (reading body)' : ''}`);
  }
}

function headersOf(res: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  return headers;
}

/** The body as text, decompressed if the server compressed it anyway (we never ask it to). */
async function bodyText(res: IncomingMessage): Promise<string> {
  const encoding = String(res.headers['content-encoding'] ?? '').toLowerCase();
  const stream =
    encoding === 'gzip' || encoding === 'x-gzip'
      ? res.pipe(zlib.createGunzip())
      : encoding === 'deflate'
        ? res.pipe(zlib.createInflate())
        : encoding === 'br'
          ? res.pipe(zlib.createBrotliDecompress())
          : res;
  if (stream !== res) res.once('error', (err) => stream.destroy(err));
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function once(
  target: URL,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  deadline: number,
): Promise<ExchangeResult> {
  return new Promise((resolve, reject) => {
    let readingBody = false;
    const transport = target.protocol === 'https:' ? https : http;
    const req = transport.request(target, {
      method,
      headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) },
      agent: agents[target.protocol === 'https:' ? 'https:' : 'http:'],
    });
    const timeoutMs = Math.max(1, deadline - Date.now());
    const timer = setTimeout(() => req.destroy(new ExchangeTimeoutError(timeoutMs, readingBody)), timeoutMs);
    const fail = (err: unknown) => {
      clearTimeout(timer);
      reject(Object.assign(err as Error, { reusedSocket: req.reusedSocket, readingBody }));
    };
    req.once('error', fail);
    req.once('response', (res) => {
      readingBody = true;
      bodyText(res).then(
        (text) => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: headersOf(res), text });
        },
        (err: unknown) => {
          req.destroy();
          fail(err);
        },
      );
    });
    req.end(body);
  });
}

/**
 * Sends one request and reads the whole answer; redirects are returned, never followed. Throws
 * {@link ExchangeTimeoutError} after `timeoutMs`, or the socket's error (with its `code`) when no answer came.
 * A keep-alive socket the server had just closed is retried once on a fresh one, before any answer was read.
 */
export async function exchange(
  target: URL,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  timeoutMs: number,
): Promise<ExchangeResult> {
  const deadline = Date.now() + timeoutMs;
  try {
    return await once(target, method, headers, body, deadline);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { reusedSocket?: boolean; readingBody?: boolean };
    const staleSocket =
      e.reusedSocket === true && !e.readingBody && (e.code === 'ECONNRESET' || e.code === 'EPIPE');
    if (!staleSocket) throw err;
    return once(target, method, headers, body, deadline);
  }
}
