/**
 * What each request leaves behind: its duration and status in the API's metrics, and one access-log line that
 * carries the request ID, the route and the caller, never a header, a body or a query value off the allow-list.
 */
import { randomUUID } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import type { Logger } from '../logging';
import { actorOrUndefined, routeOf } from './locals';
import type { ApiMetrics } from './metrics';

/**
 * Query parameters whose values the access log keeps: the API's own filters and paging. Every other value is
 * redacted, whatever its name (`?bearer=`, `?access_token=`, `?x=<secret>`): a caller who puts a secret in a
 * URL must not find it in the logs.
 */
const LOGGED_QUERY_PARAMS = new Set(['format', 'status', 'severity', 'phase', 'playbook', 'limit', 'cursor']);

/** The URL as the access log writes it: allow-listed query values kept, every other one redacted. */
export function loggableUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const kept = new URLSearchParams();
  for (const [key, value] of new URLSearchParams(url.slice(q + 1))) {
    if (LOGGED_QUERY_PARAMS.has(key)) kept.append(key, value);
    // A name is kept when it looks like one (a token sent as `?<token>` does not).
    else kept.append(/^[A-Za-z_]{1,20}$/.test(key) ? key : '[redacted]', '[redacted]');
  }
  const rest = kept.toString();
  return `${url.slice(0, q)}${rest ? `?${rest.replace(/%5Bredacted%5D/g, '[redacted]')}` : ''}`;
}

/** Counts and times every request under its route (`/lab`, or `unmatched` when no route matched). */
export function requestMetrics(metrics: ApiMetrics): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const route = routeOf(res) ?? (req.originalUrl.startsWith('/lab') ? '/lab' : 'unmatched');
      const labels = { method: req.method, route, status: String(res.statusCode) };
      metrics.httpDuration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
      metrics.httpRequests.inc(labels);
    });
    next();
  };
}

declare module 'http' {
  interface IncomingMessage {
    /** The request ID: the caller's well-formed `X-Request-Id`, or one made here. */
    id?: string;
    /** Writes lines that carry the request ID (`reqId`). */
    log: Logger;
  }
}

/**
 * The access log: one line per request when its response is finished (or the client went away first), at
 * `error` for a 5xx, `warn` for a 4xx, else `info`. A well-formed incoming `X-Request-Id` is kept, otherwise one
 * is made, and echoed back.
 */
export function accessLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = Date.now();
    // As received: routers rewrite req.url on the way down.
    const { method, url } = req;
    const incoming = req.headers['x-request-id'];
    const id = typeof incoming === 'string' && /^[\w.:-]{1,128}$/.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-Id', id);
    req.id = id;
    // Only warnings and errors go through req.log, so its child logger is made on first use, not per request.
    let requestLogger: Logger | undefined;
    Object.defineProperty(req, 'log', {
      configurable: true,
      get: () => (requestLogger ??= logger.child({ reqId: id })),
    });
    const done = () => {
      res.removeListener('finish', done);
      res.removeListener('close', done);
      const aborted = !res.writableFinished;
      const status = res.statusCode;
      const route = routeOf(res as Response);
      const actor = actorOrUndefined(res as Response);
      const line = {
        req: { id, method, url: loggableUrl(url) },
        res: { statusCode: status },
        responseTime: Date.now() - started,
        ...(route ? { route } : {}),
        ...(actor ? { subject: actor.subject } : {}),
      };
      if (aborted) logger.warn(line, 'request aborted before its response was sent');
      else if (status >= 500) logger.error(line, 'request errored');
      else if (status >= 400) logger.warn(line, 'request completed');
      else logger.info(line, 'request completed');
    };
    res.on('finish', done);
    res.on('close', done);
    next();
  };
}
