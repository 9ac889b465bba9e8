import { randomUUID } from 'node:crypto';
import express, { type Express, type Request } from 'express';
import { pinoHttp } from 'pino-http';
import type { Client } from '@temporalio/client';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { genericAlertSchema, normalizeGeneric } from '../ingest/generic';
import { IncidentNotFoundError, TemporalUnavailableError } from '../incidents/errors';
import type { IncidentService } from '../incidents/service';
import type { Logger } from '../logging';
import { ApiProblem, problemHandler, validationProblem } from './problem';
import { readinessCheck } from './readiness';

export interface ApiDeps {
  client: Client;
  incidents: IncidentService;
  taskQueue: string;
  logger: Logger;
  /** Largest accepted request body. */
  bodyLimit?: string;
}

function mapDomainError(err: unknown): ApiProblem | undefined {
  if (err instanceof IncidentNotFoundError) {
    return new ApiProblem(404, 'incident-not-found', 'Incident not found', err.message);
  }
  if (err instanceof TemporalUnavailableError) {
    return new ApiProblem(
      503,
      'temporal-unavailable',
      'Temporal unavailable',
      `${err.message} Retry later.`,
      {
        retryAfterSeconds: err.retryAfterSeconds,
      },
    );
  }
  if (err instanceof WorkflowUpdateFailedError) {
    return new ApiProblem(
      409,
      'update-refused',
      'Refused by the incident',
      err.cause?.message ?? err.message,
    );
  }
  return undefined;
}

function requireJson(req: Request): void {
  if (!req.is('application/json') && !req.is('application/*+json')) {
    throw new ApiProblem(
      415,
      'unsupported-media-type',
      'Unsupported media type',
      `Send the body as application/json (got ${req.headers['content-type'] ?? 'no content type'}).`,
    );
  }
}

/** Builds Quell's HTTP API (no listen: the caller, tests or `quell start`, decides where it listens). */
export function createApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
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
      customLogLevel: (_req, res, err) =>
        err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
      serializers: {
        req: (req: { id: unknown; method: string; url: string }) => ({
          id: req.id,
          method: req.method,
          url: req.url,
        }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
    }),
  );
  app.use(express.json({ limit: deps.bodyLimit ?? '1mb', type: ['application/json', 'application/*+json'] }));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const result = await readinessCheck(deps.client, deps.taskQueue);
    res.status(result.ready ? 200 : 503).json(result);
  });

  app.post('/api/v1/alerts', async (req, res) => {
    requireJson(req);
    const parsed = genericAlertSchema.safeParse(req.body);
    if (!parsed.success) throw validationProblem(parsed.error);
    const alert = normalizeGeneric(parsed.data, new Date().toISOString());
    const receipt = await deps.incidents.ingestAlert(alert);
    res.status(202).json({
      incidentId: receipt.incidentId,
      workflowId: receipt.workflowId,
      alertId: receipt.alertId,
      deduplicated: receipt.deduplicated,
    });
  });

  app.get('/api/v1/incidents/:id', async (req, res) => {
    const state = await deps.incidents.getState(req.params.id);
    res.json(state);
  });

  app.use((req, _res, next) => {
    next(new ApiProblem(404, 'not-found', 'Not found', `No route for ${req.method} ${req.path}.`));
  });
  app.use(problemHandler(deps.logger, mapDomainError));
  return app;
}
