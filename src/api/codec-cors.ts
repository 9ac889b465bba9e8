/**
 * CORS for the codec routes only: the Temporal UI's page calls them from its own origin, so the browser asks
 * first (a preflight: the UI sends JSON, `X-Namespace` and maybe `Authorization`). Only the configured origins
 * (QUELL_CODEC_CORS_ORIGINS) get an answer the browser accepts; any other page gets no CORS headers at all and
 * the browser refuses to send (or to show it) the request.
 */
import type { RequestHandler } from 'express';

/** No Allow-Credentials: the UI authenticates with a bearer header, never with cookies. */
const ALLOW_HEADERS = 'authorization, content-type, x-namespace';
const PREFLIGHT_MAX_AGE_S = '600';

export function codecCors(origins: readonly string[]): RequestHandler {
  const allowed = new Set(origins);
  return (req, res, next) => {
    // The answer depends on Origin, whether or not this one is allowed, so caches keep them apart.
    res.vary('Origin');
    const origin = req.headers.origin;
    if (!origin || !allowed.has(origin)) {
      next();
      return;
    }
    res.setHeader('Access-Control-Allow-Origin', origin);
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method']) {
      res.setHeader('Access-Control-Allow-Methods', 'POST');
      res.setHeader('Access-Control-Allow-Headers', ALLOW_HEADERS);
      res.setHeader('Access-Control-Max-Age', PREFLIGHT_MAX_AGE_S);
      res.status(204).end();
      return;
    }
    next();
  };
}
