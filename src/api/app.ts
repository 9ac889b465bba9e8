import { randomUUID } from 'node:crypto';
import express, {
  type Express,
  type Request,
  type RequestHandler,
  type Response,
  type Router,
} from 'express';
import { pinoHttp } from 'pino-http';
import type { Client } from '@temporalio/client';
import { REFUSALS, isRefusalType } from '../contracts';
import type { Actor, Role } from '../domain/incident';
import {
  IncidentNotFoundError,
  IncidentRefusedError,
  NoWorkerError,
  InvalidCursorError,
  TemporalUnavailableError,
} from '../incidents/errors';
import type { IncidentOperations } from '../incidents/types';
import type { Logger } from '../logging';
import {
  SIGNATURE_HEADER,
  SOURCE_HEADER,
  authenticateBearer,
  forbidden,
  hasRole,
  requireRoles,
  setActor,
  signatureProblem,
  type AuthConfig,
} from './auth';
import { hasBody, JSON_TYPES, parseJsonBody, requireJsonContentType } from './body';
import { ApiMetrics } from './metrics';
import { buildOpenApiDocument } from './openapi';
import { ApiProblem, problemHandler, validationProblem } from './problem';
import { DEFAULT_INGEST_RATE, TokenBucketLimiter, type RateLimitConfig } from './rate-limit';
import { apiRoutes, type AuditOperations, type RouteSpec } from './routes';

export type { AuditOperations } from './routes';

export interface ApiDeps {
  /** Temporal client: used only for the readiness check. */
  client: Client;
  incidents: IncidentOperations;
  taskQueue: string;
  logger: Logger;
  /** Who may call the API (see `loadAuthConfig`). */
  auth: AuthConfig;
  /** Timelines, histories and reports; without it those routes answer 501. */
  audit?: AuditOperations;
  /** Largest accepted request body (bytes, or e.g. "512kb"); default 1 MiB. */
  bodyLimit?: string;
  /** Alert ingest rate per caller; default 50/s with a burst of 100. `false` turns it off. */
  rateLimit?: RateLimitConfig | false;
  /** Mounted at /lab without authentication when present (the local vendor lab; never in production). */
  labRouter?: Router;
}

const ANONYMOUS: Actor = Object.freeze({ subject: 'anonymous', roles: [] });
/** Who may reach a decision route: the incident then refuses (and records) those who are not approvers. */
const INCIDENT_READERS: readonly Role[] = ['responder', 'approver', 'auditor'];
const API_INFO = { title: 'Quell API', version: '1.0.0' };

function kebab(type: string): string {
  return type.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

function refusalProblem(type: string, message: string, status: number): ApiProblem {
  const title = type.replace(/([a-z0-9])([A-Z])/g, '$1 $2');
  return new ApiProblem(status, kebab(type), title.charAt(0) + title.slice(1).toLowerCase(), message, {
    refusal: type,
  });
}

/**
 * Domain errors to problems: not found 404, refusals their status, a bad list cursor 400, Temporal down 503 with
 * Retry-After.
 */
export function mapDomainError(err: unknown): ApiProblem | undefined {
  if (err instanceof IncidentNotFoundError) {
    return new ApiProblem(404, 'incident-not-found', 'Incident not found', err.message);
  }
  if (err instanceof IncidentRefusedError) {
    const status = isRefusalType(err.type)
      ? REFUSALS[err.type]
      : err.httpStatus >= 400 && err.httpStatus < 500
        ? err.httpStatus
        : 409;
    return refusalProblem(err.type, err.message, status);
  }
  if (err instanceof NoWorkerError) {
    return new ApiProblem(
      503,
      'no-worker',
      'No worker available',
      'No Quell worker is serving incidents right now, so this request could not be confirmed; send it again ' +
        'later (an alert sent again is recorded once).',
      { retryAfterSeconds: err.retryAfterSeconds },
    );
  }
  if (err instanceof InvalidCursorError) {
    return new ApiProblem(
      400,
      'validation-error',
      'Request validation failed',
      `Invalid query: query.cursor: ${err.message}`,
      { errors: [{ path: 'query.cursor', message: err.message }] },
    );
  }
  if (err instanceof TemporalUnavailableError) {
    return new ApiProblem(
      503,
      'temporal-unavailable',
      'Temporal unavailable',
      'The workflow service is unreachable; retry later.',
      { retryAfterSeconds: err.retryAfterSeconds },
    );
  }
  // From the payload codec (src/temporal/codec.ts, matched by name so the API does not depend on it): the
  // server lacks the key an incident's payloads were encrypted with. A configuration fault, not bad input.
  if (err instanceof Error && err.name === 'MissingEncryptionKeyError') {
    return new ApiProblem(
      500,
      'encryption-key-missing',
      'Encryption key missing',
      "This incident's payloads are encrypted with a key this server does not hold; configure the key.",
    );
  }
  return undefined;
}

interface Validated {
  params?: unknown;
  query?: unknown;
}
const validated = (res: Response): Validated => {
  const locals = res.locals as { valid?: Validated };
  locals.valid ??= {};
  return locals.valid;
};
const routeOf = (res: Response): string | undefined => (res.locals as { route?: string }).route;
const actorOrUndefined = (res: Response): Actor | undefined => (res.locals as { actor?: Actor }).actor;

/**
 * Query parameters whose values the access log keeps: the API's own filters and paging. Every other value is
 * redacted, whatever its name (`?bearer=`, `?access_token=`, `?x=<secret>`): a caller who puts a secret in a
 * URL must not find it in the logs.
 */
const LOGGED_QUERY_PARAMS = new Set(['format', 'status', 'severity', 'phase', 'playbook', 'limit', 'cursor']);

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

/** Builds Quell's HTTP API (no listen: the caller, tests or `quell start`, decides where it listens). */
export function createApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  const bodyLimit = deps.bodyLimit ?? '1mb';
  const metrics = new ApiMetrics(deps.incidents);
  const limiter =
    deps.rateLimit === false ? undefined : new TokenBucketLimiter(deps.rateLimit ?? DEFAULT_INGEST_RATE);

  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const route = routeOf(res) ?? (req.originalUrl.startsWith('/lab') ? '/lab' : 'unmatched');
      const labels = { method: req.method, route, status: String(res.statusCode) };
      metrics.httpDuration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
      metrics.httpRequests.inc(labels);
    });
    next();
  });
  app.use(
    pinoHttp({
      logger: deps.logger,
      genReqId: (req, res) => {
        const incoming = req.headers['x-request-id'];
        const id =
          typeof incoming === 'string' && /^[\w.:-]{1,128}$/.test(incoming) ? incoming : randomUUID();
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
    }),
  );

  const jsonParser = express.json({ limit: bodyLimit, type: JSON_TYPES, strict: true });
  const rawParser = express.raw({ limit: bodyLimit, type: () => true });

  const rateLimit = (actor: Actor) => {
    if (!limiter) return;
    const decision = limiter.take(actor.subject);
    if (!decision.allowed) {
      throw new ApiProblem(
        429,
        'rate-limited',
        'Too many requests',
        `Alert ingest is limited to ${limiter.config.perSecond}/s (burst ${limiter.config.burst}) per caller.`,
        { retryAfterSeconds: decision.retryAfterSeconds },
      );
    }
  };

  const stages = {
    mark:
      (r: RouteSpec): RequestHandler =>
      (_req, res, next) => {
        (res.locals as { route?: string }).route = r.path;
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
    /**
     * Alert intake: bearer callers are authenticated, role-checked and rate limited before the body is read;
     * signed callers after the raw body is read and its signature verified. JSON is parsed only then.
     */
    ingest: (r: RouteSpec): { beforeBody: RequestHandler; body: RequestHandler[] } => ({
      beforeBody: (req, res, next) => {
        const signed =
          req.headers[SIGNATURE_HEADER] !== undefined || req.headers[SOURCE_HEADER] !== undefined;
        (res.locals as { signed?: boolean }).signed = signed;
        if (!signed) {
          const actor = authenticateBearer(deps.auth, req);
          setActor(res, actor);
          if (!hasRole(actor, r.roles)) throw forbidden(actor, r.roles);
          rateLimit(actor);
        }
        next();
      },
      body: [
        (req, res, next) => {
          if (!hasBody(req)) {
            throw new ApiProblem(
              400,
              'missing-body',
              'Missing body',
              'Send the alert as a JSON request body.',
            );
          }
          requireJsonContentType(req);
          rawParser(req, res, next);
        },
        (req, res, next) => {
          const raw: unknown = req.body;
          if (!Buffer.isBuffer(raw)) {
            throw new ApiProblem(
              400,
              'missing-body',
              'Missing body',
              'Send the alert as a JSON request body.',
            );
          }
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
    }),
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
        if ('json' in reply) res.status(reply.status).json(reply.json);
        else res.status(reply.status).type(reply.contentType).send(reply.text);
      },
  };

  let openApi: unknown;
  const routes = apiRoutes({
    client: deps.client,
    taskQueue: deps.taskQueue,
    incidents: deps.incidents,
    ...(deps.audit ? { audit: deps.audit } : {}),
    metrics,
    openApi: () => (openApi ??= buildOpenApiDocument(routes, API_INFO)),
  });

  const methodsByPath = new Map<string, Set<string>>();
  for (const r of routes) {
    const chain: RequestHandler[] = [stages.mark(r)];
    const ingest = r.auth === 'ingest' ? stages.ingest(r) : undefined;
    if (r.auth === 'bearer') {
      chain.push(
        (req, res, next) => {
          setActor(res, authenticateBearer(deps.auth, req));
          next();
        },
        requireRoles(r.decision ? INCIDENT_READERS : r.roles),
      );
    }
    if (ingest) chain.push(ingest.beforeBody);
    if (r.params) chain.push(stages.params(r));
    if (r.query) chain.push(stages.query(r));
    if (ingest) chain.push(...ingest.body);
    else if (r.body) chain.push(...stages.jsonBody(r));
    chain.push(stages.handle(r));
    app[r.method](r.path, ...chain);
    const methods = methodsByPath.get(r.path) ?? new Set<string>();
    methods.add(r.method.toUpperCase());
    if (r.method === 'get') methods.add('HEAD');
    methodsByPath.set(r.path, methods);
  }
  for (const [path, methods] of methodsByPath) {
    const allow = [...methods].join(', ');
    // Named: tests walking the router stack recognise these as the 405 fallbacks, not API routes.
    app.all(path, function methodNotAllowed(req: Request, res: Response) {
      (res.locals as { route?: string }).route = path;
      res.setHeader('Allow', allow);
      if (req.method === 'OPTIONS') {
        res.status(204).end();
        return;
      }
      throw new ApiProblem(405, 'method-not-allowed', 'Method not allowed', `${path} allows ${allow}.`);
    });
  }

  if (deps.labRouter) app.use('/lab', deps.labRouter);

  app.use((req, _res, next) => {
    next(new ApiProblem(404, 'not-found', 'Not found', `No route for ${req.method} ${req.path}.`));
  });
  app.use(problemHandler(deps.logger, mapDomainError));
  return app;
}
