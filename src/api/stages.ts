/**
 * The stages a route's request passes, in the order app.ts chains them: mark the route, authenticate, check
 * roles, validate params and query, read and validate the body, handle. Each stage either calls `next()` or
 * throws an `ApiProblem` for the problem handler.
 */
import express, { type RequestHandler } from 'express';
import type { Actor } from '../domain/incident';
import {
  SIGNATURE_HEADER,
  SOURCE_HEADER,
  authenticateBearer,
  forbidden,
  hasRole,
  setActor,
  signatureProblem,
  type AuthConfig,
} from './auth';
import { answeredNotModified } from './conditional';
import { hasBody, JSON_TYPES, parseJsonBody, requireJsonContentType } from './body';
import { actorOrUndefined, markRoute, validated } from './locals';
import { ApiProblem, validationProblem } from './problem';
import type { TokenBucketLimiter } from './rate-limit';
import type { RouteSpec } from './route-spec';

const ANONYMOUS: Actor = Object.freeze({ subject: 'anonymous', roles: [] });

export interface StageDeps {
  auth: AuthConfig;
  /** Largest accepted request body (bytes, or e.g. "512kb"). */
  bodyLimit: string;
  /** Alert ingest rate per caller; absent when rate limiting is off. */
  limiter?: TokenBucketLimiter;
}

/** The stages every route is built from, bound to the app's auth, body limit and ingest rate limiter. */
export type RouteStages = ReturnType<typeof routeStages>;

export function routeStages(deps: StageDeps) {
  const jsonParser = express.json({ limit: deps.bodyLimit, type: JSON_TYPES, strict: true });
  return {
    mark:
      (r: RouteSpec): RequestHandler =>
      (_req, res, next) => {
        markRoute(res, r.path);
        next();
      },
    params:
      (r: RouteSpec): RequestHandler =>
      (req, res, next) => {
        const parsed = r.params!.safeParse(req.params);
        if (!parsed.success) {
          const p = validationProblem(parsed.error, 'params');
          throw new ApiProblem(404, 'not-found', 'Not found', `No such resource: ${p.detail}`, p.extra);
        }
        validated(res).params = parsed.data;
        next();
      },
    query:
      (r: RouteSpec): RequestHandler =>
      (req, res, next) => {
        const parsed = r.query!.safeParse(req.query);
        if (!parsed.success) throw validationProblem(parsed.error, 'query');
        validated(res).query = parsed.data;
        next();
      },
    jsonBody: (r: RouteSpec): RequestHandler[] => [
      (req, res, next) => {
        if (!hasBody(req)) {
          req.body = {};
          next();
          return;
        }
        requireJsonContentType(req);
        jsonParser(req, res, next);
      },
      (req, _res, next) => {
        const parsed = r.body!.safeParse(req.body ?? {});
        if (!parsed.success) throw validationProblem(parsed.error, 'body');
        req.body = parsed.data;
        next();
      },
    ],
    ingest: (r: RouteSpec) => ingestStages(deps, r),
    handle:
      (r: RouteSpec): RequestHandler =>
      async (req, res) => {
        const v = validated(res);
        const reply = await r.handle({
          params: v.params ?? {},
          query: v.query ?? {},
          body: req.body as unknown,
          actor: actorOrUndefined(res) ?? ANONYMOUS,
          req,
          res,
        });
        for (const [name, value] of Object.entries(reply.headers ?? {})) res.setHeader(name, value);
        if ('json' in reply) {
          if (!answeredNotModified(req, res, reply.status, reply.json))
            res.status(reply.status).json(reply.json);
        } else res.status(reply.status).type(reply.contentType).send(reply.text);
      },
  };
}

/**
 * Alert intake: bearer callers are authenticated, role-checked and rate limited before the body is read;
 * signed callers after the raw body is read and its signature verified. JSON is parsed only then.
 */
function ingestStages(deps: StageDeps, r: RouteSpec): { beforeBody: RequestHandler; body: RequestHandler[] } {
  const rawParser = express.raw({ limit: deps.bodyLimit, type: () => true });
  const rateLimit = (actor: Actor) => {
    if (!deps.limiter) return;
    const decision = deps.limiter.take(actor.subject);
    if (!decision.allowed) {
      throw new ApiProblem(
        429,
        'rate-limited',
        'Too many requests',
        `Alert ingest is limited to ${deps.limiter.config.perSecond}/s (burst ${deps.limiter.config.burst}) per caller.`,
        { retryAfterSeconds: decision.retryAfterSeconds },
      );
    }
  };
  const missingBody = () =>
    new ApiProblem(400, 'missing-body', 'Missing body', 'Send the alert as a JSON request body.');
  return {
    beforeBody: async (req, res, next) => {
      const signed = req.headers[SIGNATURE_HEADER] !== undefined || req.headers[SOURCE_HEADER] !== undefined;
      (res.locals as { signed?: boolean }).signed = signed;
      if (!signed) {
        const actor = await authenticateBearer(deps.auth, req);
        setActor(res, actor);
        if (!hasRole(actor, r.roles)) throw forbidden(actor, r.roles);
        rateLimit(actor);
      }
      next();
    },
    body: [
      (req, res, next) => {
        if (!hasBody(req)) throw missingBody();
        requireJsonContentType(req);
        rawParser(req, res, next);
      },
      (req, res, next) => {
        const raw: unknown = req.body;
        if (!Buffer.isBuffer(raw)) throw missingBody();
        if ((res.locals as { signed?: boolean }).signed) {
          const source = req.headers[SOURCE_HEADER];
          const signature = req.headers[SIGNATURE_HEADER];
          const check = deps.auth.verifySignature(
            typeof source === 'string' ? source : undefined,
            typeof signature === 'string' ? signature : undefined,
            raw,
          );
          if (!check.ok) {
            req.log.warn({ reason: check.reason }, 'alert signature rejected');
            throw signatureProblem(check.reason);
          }
          setActor(res, check.actor);
          rateLimit(check.actor);
        }
        req.body = parseJsonBody(raw);
        next();
      },
    ],
  };
}
