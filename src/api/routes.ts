/**
 * Every route of the API, in one table. app.ts registers routes from it (authentication, role check,
 * validation, handler) and openapi.ts documents it, so the document cannot drift from what is served.
 */
import type { Request, Response } from 'express';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import type { Actor, Role } from '../domain/incident';
import type { IncidentOperations } from '../incidents/types';
import {
  ALERT_FORMATS,
  ALERT_FORMAT_DESCRIPTIONS,
  ALERT_FORMAT_SCHEMAS,
  detectAlertFormat,
  normalizeAlertBody,
} from '../ingest';
import type { ApiMetrics } from './metrics';
import { ApiProblem, validationProblem } from './problem';
import { readinessCheck } from './readiness';
import {
  actionParams,
  actionResolutionBody,
  actionSchema,
  alertBatchReceiptSchema,
  alertQuery,
  alertReceiptSchema,
  approvalDecisionBody,
  approvalParams,
  approvalSchema,
  auditDocumentSchema,
  checklistBody,
  checklistItemSchema,
  checklistParams,
  closeBody,
  closeReceiptSchema,
  healthSchema,
  incidentListSchema,
  incidentParams,
  incidentStateSchema,
  listQuery,
  noteBody,
  noteSchema,
  openApiDocumentSchema,
  readinessSchema,
  reportQuery,
} from './schemas';

/** What the audit engineer's module provides (timeline, history, report); optional in this build. */
export interface AuditOperations {
  timeline(incidentId: string): Promise<unknown>;
  history(incidentId: string): Promise<unknown>;
  /** JSON: a document (object); markdown: the report's text. */
  report(incidentId: string, format: 'json' | 'markdown'): Promise<unknown>;
}

export interface RouteDeps {
  client: Client;
  taskQueue: string;
  incidents: IncidentOperations;
  audit?: AuditOperations;
  metrics: ApiMetrics;
  /** The OpenAPI document (built from this same table). */
  openApi: () => unknown;
}

export type Reply = { status: number; json: unknown } | { status: number; text: string; contentType: string };

export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** The verified caller; undefined only on public routes. */
  actor: Actor;
  req: Request;
  res: Response;
}

export interface ResponseDoc {
  description: string;
  schema?: z.ZodType;
  /** Default application/json. */
  contentType?: string;
  /** Further content types for the same status (e.g. text/markdown for a report). */
  alternatives?: { contentType: string; schema: z.ZodType }[];
}

/**
 * - `public`: no authentication;
 * - `bearer`: `Authorization: Bearer <token>` and one of `roles` (admin always passes);
 * - `ingest`: a bearer token with the ingest role, or an `X-Quell-Signature` signed by a configured source;
 *   the body is read raw (for the signature), then parsed, and the caller is rate limited.
 */
export type AuthMode = 'public' | 'bearer' | 'ingest';

export interface RouteSpec {
  operationId: string;
  method: 'get' | 'post';
  /** Express path syntax (`:id`); the document renders `{id}`. */
  path: string;
  tag: string;
  summary: string;
  description?: string;
  auth: AuthMode;
  roles: readonly Role[];
  params?: z.ZodType;
  query?: z.ZodType;
  /** JSON body, validated strictly; a request without a body is validated as `{}`. */
  body?: z.ZodType;
  /** For `ingest`: what the raw body may be (documentation only; the handler parses and normalizes). */
  rawBodyDoc?: z.ZodType;
  /** The route calls IncidentOperations, so Temporal being down answers 503. */
  usesIncidents: boolean;
  responses: Record<number, ResponseDoc>;
  /**
   * An approver's decision (approve, reject, close). The incident itself checks `roles` (admin alone does not
   * pass: separation of duties) and records every refused attempt for auditors, so any caller who may read
   * incidents is let through to it; the others are refused here.
   */
  decision?: true;
  /** Problem statuses beyond those the auth/validation settings imply (e.g. refusals: 403, 409). */
  errors?: Record<number, string>;
  handle(ctx: RouteContext<unknown, unknown, unknown>): Promise<Reply>;
}

/** Declares a route with handler types inferred from its schemas. */
function defineRoute<
  P extends z.ZodType = z.ZodObject<Record<string, never>>,
  Q extends z.ZodType = z.ZodObject<Record<string, never>>,
  B extends z.ZodType = z.ZodUnknown,
>(
  spec: Omit<RouteSpec, 'params' | 'query' | 'body' | 'handle'> & {
    params?: P;
    query?: Q;
    body?: B;
    handle(ctx: RouteContext<z.output<P>, z.output<Q>, z.output<B>>): Promise<Reply>;
  },
): RouteSpec {
  return spec;
}

const READERS: Role[] = ['responder', 'approver', 'auditor'];
const REFUSAL_ERRORS = {
  403: 'Refused: the caller may not do this (e.g. self-approval, not an approver).',
  404: 'The incident, or the approval, action or checklist item in it, does not exist.',
  409: 'Refused: the state does not allow it (already decided, closed, wrong phase...).',
};

const notAvailable = (what: string) =>
  new ApiProblem(
    501,
    'not-available',
    'Not available in this build',
    `${what} are provided by the audit module, which is not part of this build.`,
  );

function unrecognizedFormat(): ApiProblem {
  return new ApiProblem(
    422,
    'unrecognized-alert-format',
    'Unrecognized alert format',
    `Could not tell which format this alert is in. Accepted formats: ${ALERT_FORMATS.map(
      (f) => `${f} (${ALERT_FORMAT_DESCRIPTIONS[f]})`,
    ).join('; ')}. Name one with ?format=${ALERT_FORMATS.join('|')}.`,
    { acceptedFormats: [...ALERT_FORMATS] },
  );
}

/** The API's routes. */
export function apiRoutes(deps: RouteDeps): RouteSpec[] {
  const { incidents, metrics } = deps;
  return [
    defineRoute({
      operationId: 'health',
      method: 'get',
      path: '/healthz',
      tag: 'operations',
      summary: 'Liveness: the process answers.',
      auth: 'public',
      roles: [],
      usesIncidents: false,
      responses: { 200: { description: 'Alive.', schema: healthSchema } },
      handle: async () => ({ status: 200, json: { status: 'ok' } }),
    }),
    defineRoute({
      operationId: 'readiness',
      method: 'get',
      path: '/readyz',
      tag: 'operations',
      summary: 'Readiness: Temporal answers and a worker polls the incident task queue.',
      auth: 'public',
      roles: [],
      usesIncidents: false,
      responses: {
        200: { description: 'Ready.', schema: readinessSchema },
        503: { description: 'Not ready (which part is said in the body).', schema: readinessSchema },
      },
      handle: async () => {
        const result = await readinessCheck(deps.client, deps.taskQueue);
        return { status: result.ready ? 200 : 503, json: result };
      },
    }),
    defineRoute({
      operationId: 'metrics',
      method: 'get',
      path: '/metrics',
      tag: 'operations',
      summary: 'Prometheus metrics.',
      auth: 'public',
      roles: [],
      usesIncidents: false,
      responses: {
        200: {
          description: 'Prometheus text exposition format.',
          schema: z.string(),
          contentType: 'text/plain',
        },
      },
      handle: async () => ({
        status: 200,
        text: await metrics.registry.metrics(),
        contentType: metrics.registry.contentType,
      }),
    }),
    defineRoute({
      operationId: 'openapi',
      method: 'get',
      path: '/api/v1/openapi.json',
      tag: 'operations',
      summary: 'This API, described as OpenAPI 3.1.',
      auth: 'public',
      roles: [],
      usesIncidents: false,
      responses: { 200: { description: 'The OpenAPI document.', schema: openApiDocumentSchema } },
      handle: async () => ({ status: 200, json: deps.openApi() }),
    }),

    defineRoute({
      operationId: 'ingestAlert',
      method: 'post',
      path: '/api/v1/alerts',
      tag: 'alerts',
      summary: 'Ingest an alert (OCSF, Elastic, Alertmanager or generic).',
      description:
        'Records the alert on the open incident for its correlation key, opening one if needed. The format is ' +
        'detected from the body unless `?format=` names it. An Alertmanager webhook is a batch: the answer is ' +
        '`{items: [...]}` with one receipt per alert, in order; alerts are recorded one after another, so if ' +
        'Temporal fails midway the earlier ones are recorded and a retry of the whole webhook is deduplicated. ' +
        'Authenticate with a bearer token holding the ingest role, or sign the raw body: ' +
        '`X-Quell-Source: <name>` and `X-Quell-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." + body)>` ' +
        '(300 s tolerance; several v1 values allowed during rotation). Rate limited per caller.',
      auth: 'ingest',
      roles: ['ingest'],
      query: alertQuery,
      rawBodyDoc: z
        .union([
          ALERT_FORMAT_SCHEMAS.ocsf,
          ALERT_FORMAT_SCHEMAS.elastic,
          ALERT_FORMAT_SCHEMAS.alertmanager,
          ALERT_FORMAT_SCHEMAS.generic,
        ])
        .describe(ALERT_FORMATS.map((f) => ALERT_FORMAT_DESCRIPTIONS[f]).join(' | ')),
      usesIncidents: true,
      responses: {
        202: {
          description: 'Recorded (or recognised as a redelivery: `deduplicated: true`).',
          schema: z.union([alertReceiptSchema, alertBatchReceiptSchema]),
        },
      },
      errors: { 422: 'The format could not be detected, or the alert exceeds what Quell can record.' },
      handle: async ({ query, body, actor }) => {
        const format = query.format ?? detectAlertFormat(body);
        if (!format) throw unrecognizedFormat();
        const outcome = normalizeAlertBody(body, format, new Date().toISOString());
        if (!outcome.ok) {
          if (outcome.stage === 'input') {
            throw validationProblem(outcome.error, 'body', { label: `${format} alert`, extra: { format } });
          }
          const p = validationProblem(outcome.error, 'body', {
            prefix: outcome.pathPrefix,
            label: `${format} alert after normalization`,
            extra: { format },
          });
          throw new ApiProblem(422, 'alert-not-recordable', 'Alert cannot be recorded', p.detail, p.extra);
        }
        const items = [];
        for (const alert of outcome.alerts) {
          const r = await incidents.ingestAlert(alert, actor.subject);
          metrics.alertsIngested.inc({ format });
          if (r.deduplicated) metrics.alertsDeduplicated.inc({ format });
          items.push({
            incidentId: r.incidentId,
            workflowId: r.workflowId,
            alertId: r.alertId,
            deduplicated: r.deduplicated,
          });
        }
        return { status: 202, json: outcome.batch ? { items } : items[0] };
      },
    }),

    defineRoute({
      operationId: 'listIncidents',
      method: 'get',
      path: '/api/v1/incidents',
      tag: 'incidents',
      summary: 'List incidents, newest first, with optional filters.',
      auth: 'bearer',
      roles: READERS,
      query: listQuery,
      usesIncidents: true,
      responses: { 200: { description: 'A page of incidents.', schema: incidentListSchema } },
      handle: async ({ query }) => {
        const page = await incidents.list({
          limit: query.limit,
          ...(query.status ? { status: query.status } : {}),
          ...(query.severity ? { severity: query.severity } : {}),
          ...(query.phase ? { phase: query.phase } : {}),
          ...(query.cursor ? { cursor: query.cursor } : {}),
        });
        return {
          status: 200,
          json: { items: page.items, ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) },
        };
      },
    }),
    defineRoute({
      operationId: 'getIncident',
      method: 'get',
      path: '/api/v1/incidents/:id',
      tag: 'incidents',
      summary: "An incident's full state.",
      auth: 'bearer',
      roles: READERS,
      params: incidentParams,
      usesIncidents: true,
      responses: { 200: { description: 'The incident.', schema: incidentStateSchema } },
      handle: async ({ params }) => ({ status: 200, json: await incidents.getState(params.id) }),
    }),

    defineRoute({
      operationId: 'decideApproval',
      method: 'post',
      path: '/api/v1/incidents/:id/approvals/:approvalId',
      tag: 'responders',
      summary: 'Approve or reject a pending approval (as the verified caller).',
      description:
        'Needs the approver role itself (admin alone does not pass). The incident checks the rules (approver ' +
        'role, no self-approval, distinct approvers, not decided or expired) and records every refused attempt ' +
        'in its history, state, timeline and report; the answer is 403/409 with the refusal type.',
      auth: 'bearer',
      roles: ['approver'],
      decision: true,
      params: approvalParams,
      body: approvalDecisionBody,
      usesIncidents: true,
      responses: { 200: { description: 'The approval after the decision.', schema: approvalSchema } },
      errors: REFUSAL_ERRORS,
      handle: async ({ params, body, actor }) => {
        const approval = await incidents.decideApproval(
          params.id,
          params.approvalId,
          body.decision,
          body.comment,
          actor,
        );
        metrics.approvalsDecided.inc({ decision: body.decision });
        return { status: 200, json: approval };
      },
    }),
    ...(['retry', 'skip'] as const).map((resolution) =>
      defineRoute({
        operationId: resolution === 'retry' ? 'retryAction' : 'skipAction',
        method: 'post',
        path: `/api/v1/incidents/:id/actions/:actionId/${resolution}`,
        tag: 'responders',
        summary:
          resolution === 'retry'
            ? 'Retry a permanently failed action (resumes from that action).'
            : 'Skip a permanently failed action.',
        auth: 'bearer',
        roles: ['responder'],
        params: actionParams,
        body: actionResolutionBody,
        usesIncidents: true,
        responses: { 200: { description: 'The action.', schema: actionSchema } },
        errors: REFUSAL_ERRORS,
        handle: async ({ params, body, actor }) => ({
          status: 200,
          json: await incidents.resolveFailedAction(
            params.id,
            params.actionId,
            resolution,
            body.comment,
            actor,
          ),
        }),
      }),
    ),
    defineRoute({
      operationId: 'completeChecklistItem',
      method: 'post',
      path: '/api/v1/incidents/:id/checklist/:itemId',
      tag: 'responders',
      summary: 'Complete an eradication checklist item.',
      auth: 'bearer',
      roles: ['responder'],
      params: checklistParams,
      body: checklistBody,
      usesIncidents: true,
      responses: { 200: { description: 'The checklist item.', schema: checklistItemSchema } },
      errors: REFUSAL_ERRORS,
      handle: async ({ params, body, actor }) => ({
        status: 200,
        json: await incidents.completeChecklistItem(params.id, params.itemId, body.note, actor),
      }),
    }),
    defineRoute({
      operationId: 'addNote',
      method: 'post',
      path: '/api/v1/incidents/:id/notes',
      tag: 'responders',
      summary: 'Add a note (or a lessons-learned entry) to an incident.',
      auth: 'bearer',
      roles: ['responder'],
      params: incidentParams,
      body: noteBody,
      usesIncidents: true,
      responses: { 201: { description: 'The note.', schema: noteSchema } },
      errors: { 404: REFUSAL_ERRORS[404], 409: REFUSAL_ERRORS[409] },
      handle: async ({ params, body, actor }) => ({
        status: 201,
        json: await incidents.addNote(params.id, body.text, body.kind, actor),
      }),
    }),
    defineRoute({
      operationId: 'closeIncident',
      method: 'post',
      path: '/api/v1/incidents/:id/close',
      tag: 'responders',
      summary: 'Close an incident as resolved, or as a false positive (undoing all containment first).',
      description:
        'Needs the approver role itself (admin alone does not pass); refused attempts are recorded by the incident.',
      auth: 'bearer',
      roles: ['approver'],
      decision: true,
      params: incidentParams,
      body: closeBody,
      usesIncidents: true,
      responses: {
        202: {
          description: 'Closing: the listed containment actions are undone first, then the incident closes.',
          schema: closeReceiptSchema,
        },
      },
      errors: REFUSAL_ERRORS,
      handle: async ({ params, body, actor }) => ({
        status: 202,
        json: await incidents.close(params.id, body.resolution, body.comment, actor),
      }),
    }),

    defineRoute({
      operationId: 'incidentTimeline',
      method: 'get',
      path: '/api/v1/incidents/:id/timeline',
      tag: 'audit',
      summary: "The incident's timeline.",
      auth: 'bearer',
      roles: ['auditor'],
      params: incidentParams,
      usesIncidents: true,
      responses: { 200: { description: 'The timeline.', schema: auditDocumentSchema } },
      errors: { 404: 'No such incident.', 501: 'The audit module is not part of this build.' },
      handle: async ({ params }) => {
        if (!deps.audit) throw notAvailable('Incident timelines');
        return { status: 200, json: await deps.audit.timeline(params.id) };
      },
    }),
    defineRoute({
      operationId: 'incidentHistory',
      method: 'get',
      path: '/api/v1/incidents/:id/history',
      tag: 'audit',
      summary: "The incident's complete, auditable history.",
      auth: 'bearer',
      roles: ['auditor'],
      params: incidentParams,
      usesIncidents: true,
      responses: { 200: { description: 'The history.', schema: auditDocumentSchema } },
      errors: { 404: 'No such incident.', 501: 'The audit module is not part of this build.' },
      handle: async ({ params }) => {
        if (!deps.audit) throw notAvailable('Incident histories');
        return { status: 200, json: await deps.audit.history(params.id) };
      },
    }),
    defineRoute({
      operationId: 'incidentReport',
      method: 'get',
      path: '/api/v1/incidents/:id/report',
      tag: 'audit',
      summary: 'The incident report: JSON, or Markdown with `Accept: text/markdown` (or ?format=markdown).',
      auth: 'bearer',
      roles: ['auditor'],
      params: incidentParams,
      query: reportQuery,
      usesIncidents: true,
      responses: {
        200: {
          description: 'The report.',
          schema: auditDocumentSchema,
          alternatives: [{ contentType: 'text/markdown', schema: z.string() }],
        },
      },
      errors: { 404: 'No such incident.', 501: 'The audit module is not part of this build.' },
      handle: async ({ params, query, req }) => {
        if (!deps.audit) throw notAvailable('Incident reports');
        const format =
          query.format ??
          (req.accepts(['application/json', 'text/markdown']) === 'text/markdown' ? 'markdown' : 'json');
        const report = await deps.audit.report(params.id, format);
        if (format === 'markdown') {
          return {
            status: 200,
            text: typeof report === 'string' ? report : JSON.stringify(report),
            contentType: 'text/markdown; charset=utf-8',
          };
        }
        return { status: 200, json: report };
      },
    }),
  ];
}
