/**
 * What each request leaves behind: its duration and status in the API's metrics, and one access-log line that
 * carries the request ID, the route and the caller, never a header, a body or a query value off the allow-list.
 */
import { randomUUID } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import { pinoHttp } from 'pino-http';
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

/** The access log; a well-formed incoming `X-Request-Id` is kept, otherwise one is made, and echoed back. */
export function accessLog(logger: Logger): RequestHandler {
  return pinoHttp({
    logger,
    genReqId: (req, res) => {
      const incoming = req.headers['x-request-id'];
      const id = typeof incoming === 'string' && /^[\w.:-]{1,128}$/.test(incoming) ? incoming : randomUUID();
      res.setHeader('X-Request-Id', id);
      return id;
    },
    // Log lines written through req.log carry the request ID (`reqId`); the access line carries `req.id`.
    quietReqLogger: true,
    customLogLevel: (_req, res, err) =>
      err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
    customProps: (_req, res) => {
      const actor = actorOrUndefined(res as Response);
      const route = routeOf(res as Response);
      return { ...(route ? { route } : {}), ...(actor ? { subject: actor.subject } : {}) };
    },
    // Only these fields: never headers (Authorization, X-Quell-Signature), never bodies.
    serializers: {
      req: (req: { id: unknown; method: string; url: string }) => ({
        id: req.id,
        method: req.method,
        url: loggableUrl(req.url),
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  });
}
