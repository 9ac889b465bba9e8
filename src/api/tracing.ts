/**
 * A SERVER span per API request, continuing the caller's trace (W3C `traceparent`), so an alert's trace runs
 * from the sender through the Temporal client call the handler makes.
 */
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from '@opentelemetry/api';
import type { RequestHandler } from 'express';
import { routeOf } from './locals';

/** Probes and scrapes arrive every few seconds from machines, and would bury the requests people trace. */
const UNTRACED_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** Starts the request's span; it is named `METHOD /route/:template` and ended when the answer is sent. */
export function requestSpans(tracer: Tracer): RequestHandler {
  return (req, res, next) => {
    if (UNTRACED_PATHS.has(req.path)) {
      next();
      return;
    }
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const span = tracer.startSpan(
      req.method,
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method } },
      parent,
    );
    const spanContext = trace.setSpan(parent, span);
    res.once('close', () => {
      const route = routeOf(res);
      if (route) {
        span.updateName(`${req.method} ${route}`);
        span.setAttribute('http.route', route);
      }
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      // Closed before the answer was complete: the caller went away or the grace period ran out.
      if (!res.writableFinished) span.setAttribute('error.type', 'aborted');
      span.end();
    });
    // The later stages (body parsing included) and the handler inherit it through AsyncLocalStorage.
    context.with(spanContext, next);
  };
}
