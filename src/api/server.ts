import http, { type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { PROBLEM_BASE, PROBLEM_CONTENT_TYPE } from './problem';

/** How long the API's HTTP server lets a client take (see `loadApiSettings` for the environment variables). */
export interface HttpTimeouts {
  /** From connection (or the end of the previous request) to the end of the request headers. */
  headersTimeoutMs: number;
  /** From the start of a request to the end of its body. */
  requestTimeoutMs: number;
  /** How long an idle keep-alive connection stays open. */
  keepAliveTimeoutMs: number;
}

/**
 * Defaults for an API that takes bodies of up to 1 MiB: 30 s to send a request (1 MiB needs about 35 KB/s),
 * 10 s for the headers alone, 5 s of keep-alive idleness.
 */
export const DEFAULT_HTTP_TIMEOUTS: HttpTimeouts = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
};

/**
 * How often Node checks connections against the header and request timeouts (its default is 30 s, which would
 * let a slow client stay up to 30 s past the limit).
 */
const CONNECTIONS_CHECKING_INTERVAL_MS = 1_000;

type ClientErrorStatus = 400 | 408 | 413 | 431;

const CLIENT_ERRORS: Record<ClientErrorStatus, { slug: string; title: string; detail: string }> = {
  400: { slug: 'bad-request', title: 'Bad request', detail: 'The request is not valid HTTP.' },
  408: {
    slug: 'request-timeout',
    title: 'Request timeout',
    detail: 'The request (headers and body) was not received in time.',
  },
  413: {
    slug: 'payload-too-large',
    title: 'Payload too large',
    detail: 'The chunk extensions of the request body exceed the size limit.',
  },
  431: {
    slug: 'request-header-fields-too-large',
    title: 'Request header fields too large',
    detail: 'The request line and headers exceed the size limit; shorten the URL or the headers.',
  },
};

function clientErrorStatus(err: NodeJS.ErrnoException): ClientErrorStatus {
  if (err.code === 'HPE_HEADER_OVERFLOW') return 431;
  if (err.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') return 413;
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return 408;
  return 400;
}

/** The raw HTTP response for a client error Node detects before any handler runs (no request object exists). */
export function clientErrorResponse(status: ClientErrorStatus): string {
  const p = CLIENT_ERRORS[status];
  const body = JSON.stringify({ type: `${PROBLEM_BASE}${p.slug}`, title: p.title, status, detail: p.detail });
  return [
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}`,
    `Content-Type: ${PROBLEM_CONTENT_TYPE}`,
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

/**
 * The API's HTTP server: `app` answers requests; header, request and keep-alive timeouts cut slow or idle clients
 * (checked every second); errors Node itself detects (headers too large, malformed HTTP, timeouts) are answered
 * with problem+json like every other error. Does not listen.
 */
export function createApiServer(
  app: RequestListener,
  timeouts: HttpTimeouts = DEFAULT_HTTP_TIMEOUTS,
): Server {
  const server = http.createServer(
    {
      headersTimeout: timeouts.headersTimeoutMs,
      requestTimeout: timeouts.requestTimeoutMs,
      keepAliveTimeout: timeouts.keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.min(
        CONNECTIONS_CHECKING_INTERVAL_MS,
        timeouts.headersTimeoutMs,
        timeouts.requestTimeoutMs,
      ),
    },
    app,
  );
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // Node's own handler writes an answer only when none has started on this socket; so does this one.
    const inFlight = (socket as { _httpMessage?: ServerResponse })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    // HTTP sockets are half-open: ending only our side would leave a silent client connected.
    socket.end(clientErrorResponse(clientErrorStatus(err)), () => socket.destroy());
    setTimeout(() => socket.destroy(), 1_000).unref();
  });
  return server;
}
