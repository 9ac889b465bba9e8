import express, {
  type Express,
  type Request,
  type RequestHandler,
  type Response,
  type Router,
} from 'express';
import type { Tracer } from '@opentelemetry/api';
import type { Client } from '@temporalio/client';
import type { Role } from '../domain/incident';
import type { IncidentOperations } from '../incidents/types';
import type { Logger } from '../logging';
import { accessLog, requestMetrics } from './access-log';
import { authenticateBearer, requireRoles, setActor, type AuthConfig } from './auth';
import { codecCors } from './codec-cors';
import { mapDomainError } from './domain-errors';
import { markRoute } from './locals';
import { ApiMetrics } from './metrics';
import { buildOpenApiDocument } from './openapi';
import { ApiProblem, problemHandler } from './problem';
import {
  DEFAULT_BATCH_BODY_LIMIT,
  DEFAULT_INGEST_RATE,
  TokenBucketLimiter,
  type RateLimitConfig,
} from './rate-limit';
import { apiRoutes, type AuditOperations, type RouteSpec } from './routes';
import { CODEC_PATHS, type CodecServerOptions } from './routes/codec';
import { SlackApprovals, slackInteractionStages, type SlackInteractionsConfig } from './slack-interactions';
import { routeStages, type RouteStages } from './stages';
import { requestSpans } from './tracing';

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
  /** Largest accepted body on the alert batch route; default 8 MiB. */
  batchBodyLimit?: string;
  /** Alert ingest rate per caller, in alerts; default 50/s with a burst of 100. `false` turns it off. */
  rateLimit?: RateLimitConfig | false;
  /** Mounted at /lab without authentication when present (the local vendor lab; never in production). */
  labRouter?: Router;
  /** The web console (`consoleRouter` in src/console), mounted at /console; it calls this API like any client. */
  consoleRouter?: Router;
  /** Slack approvals (`loadSlackInteractionsConfig`); without it the Slack interactions route answers 404. */
  slack?: SlackInteractionsConfig;
  /**
   * The Temporal codec server (`/api/v1/codec/{encode,decode}`): Quell's payload codec, its namespace and the
   * Temporal UI origins allowed to call it; without it the routes answer as with encryption off, without CORS.
   */
  codecServer?: CodecServerOptions;
  /** A SERVER span per request (`Tracing.tracer`, src/telemetry/tracing.ts); without it nothing is traced. */
  tracer?: Tracer;
}

/** Who may reach a decision route: the incident then refuses (and records) those who are not approvers. */
const INCIDENT_READERS: readonly Role[] = ['responder', 'approver', 'auditor'];
const API_INFO = { title: 'Quell API', version: '1.0.0' };

/** What an app still does after answering (Slack clicks are acknowledged first and decided after). */
const backgroundWork = new WeakMap<Express, () => Promise<void>>();

/**
 * Resolves when the work the app took on after answering is done: on shutdown, after the server stops taking
 * requests and before the Temporal client closes, so an acknowledged Slack decision is never dropped.
 */
export async function settleBackgroundWork(app: Express): Promise<void> {
  await backgroundWork.get(app)?.();
}

/** Builds Quell's HTTP API (no listen: the caller, tests or `quell start`, decides where it listens). */
export function createApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  const metrics = new ApiMetrics(deps.incidents);
  if (deps.tracer) app.use(requestSpans(deps.tracer));
  app.use(requestMetrics(metrics));
  app.use(accessLog(deps.logger));

  let openApi: unknown;
  const slackApprovals = deps.slack ? new SlackApprovals(deps.slack, deps.incidents, deps.logger) : undefined;
  if (slackApprovals) backgroundWork.set(app, () => slackApprovals.settled());
  const routes = apiRoutes({
    client: deps.client,
    taskQueue: deps.taskQueue,
    incidents: deps.incidents,
    ...(deps.audit ? { audit: deps.audit } : {}),
    metrics,
    openApi: () => (openApi ??= buildOpenApiDocument(routes, API_INFO)),
    ...(slackApprovals ? { slack: slackApprovals } : {}),
    ...(deps.auth.oidc ? { consoleSignIn: deps.auth.oidc.consoleSignIn.bind(deps.auth.oidc) } : {}),
    ...(deps.codecServer ? { codecServer: deps.codecServer } : {}),
  });
  const bodyLimit = deps.bodyLimit ?? '1mb';
  const stages = routeStages({
    auth: deps.auth,
    bodyLimit,
    batchBodyLimit: deps.batchBodyLimit ?? DEFAULT_BATCH_BODY_LIMIT,
    ...(deps.rateLimit === false
      ? {}
      : { limiter: new TokenBucketLimiter(deps.rateLimit ?? DEFAULT_INGEST_RATE) }),
  });
  // Before the routes and their 405/OPTIONS fallbacks: preflights and refusals (401, 403) carry CORS headers too.
  app.use(Object.values(CODEC_PATHS), codecCors(deps.codecServer?.corsOrigins ?? []));
  for (const r of routes) {
    const chain =
      r.auth === 'slack' ? slackChain(r, stages, deps.slack, bodyLimit) : routeChain(r, stages, deps.auth);
    app[r.method](r.path, ...chain);
  }
  registerMethodFallbacks(app, routes);

  if (deps.labRouter) app.use('/lab', deps.labRouter);
  if (deps.consoleRouter) app.use('/console', deps.consoleRouter);

  app.use((req, _res, next) => {
    next(new ApiProblem(404, 'not-found', 'Not found', `No route for ${req.method} ${req.path}.`));
  });
  app.use(problemHandler(deps.logger, mapDomainError));
  return app;
}

/**
 * A route's middleware, in order. Ingest routes authenticate in two places (bearer before the body is read,
 * signature after), so their body stages replace the JSON ones.
 */
function routeChain(r: RouteSpec, stages: RouteStages, auth: AuthConfig): RequestHandler[] {
  const chain: RequestHandler[] = [stages.mark(r)];
  const ingest = r.auth === 'ingest' ? stages.ingest(r) : undefined;
  if (r.auth === 'bearer') {
    chain.push(
      async (req, res, next) => {
        setActor(res, await authenticateBearer(auth, req));
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
  return chain;
}

/** The Slack interactions route: Slack's signature over the raw body stands in for authentication. */
function slackChain(
  r: RouteSpec,
  stages: RouteStages,
  config: SlackInteractionsConfig | undefined,
  bodyLimit: string,
): RequestHandler[] {
  return [stages.mark(r), ...slackInteractionStages(config, bodyLimit), stages.handle(r)];
}

/** Every served path answers other methods with 405 and `Allow`, and OPTIONS with 204 and `Allow`. */
function registerMethodFallbacks(app: Express, routes: readonly RouteSpec[]): void {
  const methodsByPath = new Map<string, Set<string>>();
  for (const r of routes) {
    const methods = methodsByPath.get(r.path) ?? new Set<string>();
    methods.add(r.method.toUpperCase());
    if (r.method === 'get') methods.add('HEAD');
    methodsByPath.set(r.path, methods);
  }
  for (const [path, methods] of methodsByPath) {
    const allow = [...methods].join(', ');
    // Named: tests walking the router stack recognise these as the 405 fallbacks, not API routes.
    app.all(path, function methodNotAllowed(req: Request, res: Response) {
      markRoute(res, path);
      res.setHeader('Allow', allow);
      if (req.method === 'OPTIONS') {
        res.status(204).end();
        return;
      }
      throw new ApiProblem(405, 'method-not-allowed', 'Method not allowed', `${path} allows ${allow}.`);
    });
  }
}
