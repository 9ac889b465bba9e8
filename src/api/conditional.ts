/**
 * Conditional GETs: an unchanged JSON answer is a 304 when the caller sends its ETag back in If-None-Match.
 *
 * Express does this itself only when the request does not say `Cache-Control: no-cache`, but the fetch
 * standard adds exactly that header to any request whose author set If-None-Match (as the console's polling
 * does), so Express would always answer 200. Preconditions are the origin server's to evaluate (RFC 9110
 * 13.2.1); a request's no-cache is addressed to caches on the way.
 */
import type { Request, Response } from 'express';

function matches(ifNoneMatch: string, etag: string): boolean {
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  return ifNoneMatch.split(',').some((t) => t.trim() === '*' || opaque(t) === opaque(etag));
}

/**
 * Sets the answer's ETag and, when If-None-Match names it, ends the response with 304.
 * Returns whether it did (the caller then sends nothing).
 */
export function answeredNotModified(req: Request, res: Response, status: number, json: unknown): boolean {
  const ifNoneMatch = req.headers['if-none-match'];
  if ((req.method !== 'GET' && req.method !== 'HEAD') || status !== 200 || !ifNoneMatch) return false;
  const etagOf = req.app.get('etag fn') as ((body: string, encoding: string) => string) | undefined;
  if (!etagOf) return false;
  const etag = etagOf(JSON.stringify(json), 'utf8');
  res.setHeader('ETag', etag);
  if (!matches(ifNoneMatch, etag)) return false;
  res.status(304).end();
  return true;
}
