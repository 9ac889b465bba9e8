/** Alert intake: one route, for every accepted format, authenticated by bearer token or by signature; and its batch. */
import { z } from 'zod';
import type { NormalizedAlert } from '../../domain/alert';
import { recordAlerts, type AlertOutcome } from '../../incidents/batch';
import {
  ALERT_FORMATS,
  ALERT_FORMAT_DESCRIPTIONS,
  ALERT_FORMAT_SCHEMAS,
  alertCountOf,
  detectAlertFormat,
  normalizeAlertBody,
  type AlertFormat,
  type NormalizeOutcome,
} from '../../ingest';
import { mapDomainError } from '../domain-errors';
import { ApiProblem, validationProblem } from '../problem';
import { defineRoute, type RouteDeps, type RouteSpec } from '../route-spec';
import { alertBatchReceiptSchema, alertBatchResultSchema, alertQuery, alertReceiptSchema } from '../schemas';

/** Alerts per batch request (an Alertmanager webhook item counts as its alerts). */
export const MAX_BATCH_ALERTS = 500;

function unrecognizedFormat(at = ''): ApiProblem {
  return new ApiProblem(
    422,
    'unrecognized-alert-format',
    'Unrecognized alert format',
    `Could not tell which format ${at ? `item ${at}` : 'this alert'} is in. Accepted formats: ${ALERT_FORMATS.map(
      (f) => `${f} (${ALERT_FORMAT_DESCRIPTIONS[f]})`,
    ).join('; ')}. Name one with ?format=${ALERT_FORMATS.join('|')}.`,
    {
      acceptedFormats: [...ALERT_FORMATS],
      ...(at ? { errors: [{ path: at, message: 'unrecognized format' }] } : {}),
    },
  );
}

/**
 * The alerts a body in `format` carries, normalized.
 * Thrown: a 400 problem when the body is not a valid alert of that format; 422 when it is but cannot be
 * recorded (what normalization made of it fails the alert contract).
 */
function normalizedAlerts(
  body: unknown,
  format: AlertFormat,
  receivedAt: string,
  at = '',
): Extract<NormalizeOutcome, { ok: true }> {
  const outcome = normalizeAlertBody(body, format, receivedAt);
  if (outcome.ok) return outcome;
  const label = at ? `item ${at}, a ${format} alert` : `${format} alert`;
  if (outcome.stage === 'input') {
    throw validationProblem(outcome.error, 'body', { prefix: at, label, extra: { format } });
  }
  const p = validationProblem(outcome.error, 'body', {
    prefix: [at, outcome.pathPrefix].filter(Boolean).join('.'),
    label: `${label} after normalization`,
    extra: { format },
  });
  throw new ApiProblem(422, 'alert-not-recordable', 'Alert cannot be recorded', p.detail, p.extra);
}

type IntakeDeps = Pick<RouteDeps, 'incidents' | 'metrics'>;

/** Records alerts concurrently (bounded), counting each recorded one in the metrics by its format. */
function record(
  { incidents, metrics }: IntakeDeps,
  alerts: readonly NormalizedAlert[],
  raisedBy: string,
): Promise<AlertOutcome[]> {
  return recordAlerts(incidents, alerts, raisedBy, {
    onRecorded: (alert, r) => {
      metrics.alertsIngested.inc({ format: alert.format });
      if (r.deduplicated) metrics.alertsDeduplicated.inc({ format: alert.format });
    },
  });
}

const ingestAlert = (deps: IntakeDeps): RouteSpec =>
  defineRoute({
    operationId: 'ingestAlert',
    method: 'post',
    path: '/api/v1/alerts',
    tag: 'alerts',
    summary: 'Ingest an alert (OCSF, Elastic, Alertmanager or generic).',
    description:
      'Records the alert on the open incident for its correlation key, opening one if needed. The format is ' +
      'detected from the body unless `?format=` names it. An Alertmanager webhook is a batch: the answer is ' +
      '`{items: [...]}` with one receipt per alert, in order; its alerts are recorded several at a time, and ' +
      "if one cannot be recorded the answer is that alert's problem (503 when Temporal fails midway): the " +
      'others may be recorded, and a retry of the whole webhook is deduplicated. ' +
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
    alertCount: alertCountOf,
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
      const outcome = normalizedAlerts(body, format, new Date().toISOString());
      const items = [];
      for (const o of await record(deps, outcome.alerts, actor.subject)) {
        if (!o.ok) throw o.error;
        items.push(receipt(o.result));
      }
      return { status: 202, json: outcome.batch ? { items } : items[0] };
    },
  });

function receipt(r: { incidentId: string; workflowId: string; alertId: string; deduplicated: boolean }) {
  return {
    incidentId: r.incidentId,
    workflowId: r.workflowId,
    alertId: r.alertId,
    deduplicated: r.deduplicated,
  };
}

/** A problem as an item of a batch answer carries it: the body it would have had, Retry-After inside. */
function problemJson(p: ApiProblem): Record<string, unknown> {
  const { headers: _headers, ...extra } = p.extra;
  return { type: p.type, title: p.title, status: p.status, detail: p.detail, ...extra };
}

function batchShapeProblem(message: string): ApiProblem {
  return new ApiProblem(
    400,
    'validation-error',
    'Request validation failed',
    `Invalid body: (body): ${message}`,
    {
      errors: [{ path: '(body)', message }],
    },
  );
}

type Position = { index: number; entry?: number };
type BatchItem = Position & Record<string, unknown>;

/** A batch's alerts with their positions, and the items rejected before anything is recorded. */
function normalizeBatch(
  body: unknown[],
  format: AlertFormat | undefined,
): { alerts: (Position & { alert: NormalizedAlert })[]; rejected: BatchItem[] } {
  const receivedAt = new Date().toISOString();
  const alerts: (Position & { alert: NormalizedAlert })[] = [];
  const rejected: BatchItem[] = [];
  body.forEach((item, index) => {
    try {
      const f = format ?? detectAlertFormat(item);
      if (!f) throw unrecognizedFormat(String(index));
      const outcome = normalizedAlerts(item, f, receivedAt, String(index));
      outcome.alerts.forEach((alert, entry) =>
        alerts.push({ index, ...(outcome.batch ? { entry } : {}), alert }),
      );
    } catch (err) {
      if (!(err instanceof ApiProblem)) throw err;
      rejected.push({ index, status: 'rejected', problem: problemJson(err) });
    }
  });
  return { alerts, rejected };
}

const ingestAlertBatch = (deps: IntakeDeps): RouteSpec =>
  defineRoute({
    operationId: 'ingestAlertBatch',
    method: 'post',
    path: '/api/v1/alerts/batch',
    tag: 'alerts',
    summary: `Ingest up to ${MAX_BATCH_ALERTS} alerts at once, with a receipt per alert.`,
    description:
      'The body is a JSON array of alerts, each in any accepted format (detected per item unless `?format=` ' +
      'names one for all); an Alertmanager webhook item counts as its alerts. Valid items are recorded, ' +
      'several at a time, whatever is wrong with the others; the answer has one receipt per alert, in order. ' +
      '202: every alert recorded or deduplicated. 207: some items rejected (`status: "rejected"`, with the ' +
      'problem naming each field by its place in the array, e.g. `3.severity`); sending those again will not ' +
      'help. 503 (problem+json with Retry-After and the same `items`): some alerts were not recorded because ' +
      'Temporal, the workers or their incident could not take them (`status: "unavailable"`); the others are ' +
      'recorded, so sending the whole batch again is safe (they are deduplicated). Authentication as for ' +
      `\`POST /api/v1/alerts\`; the rate limit counts each alert. Bodies up to QUELL_API_BATCH_BODY_LIMIT ` +
      '(default 8 MiB).',
    auth: 'ingest',
    roles: ['ingest'],
    query: alertQuery,
    rawBodyDoc: z
      .array(
        z.union([
          ALERT_FORMAT_SCHEMAS.ocsf,
          ALERT_FORMAT_SCHEMAS.elastic,
          ALERT_FORMAT_SCHEMAS.alertmanager,
          ALERT_FORMAT_SCHEMAS.generic,
        ]),
      )
      .min(1)
      .max(MAX_BATCH_ALERTS)
      .describe(`Alerts, each ${ALERT_FORMATS.map((f) => ALERT_FORMAT_DESCRIPTIONS[f]).join(' | ')}`),
    alertCount: (body) =>
      Array.isArray(body)
        ? Math.min(
            MAX_BATCH_ALERTS + 1,
            body.reduce((n: number, item) => n + alertCountOf(item), 0),
          )
        : 1,
    batchBody: true,
    usesIncidents: true,
    responses: {
      202: { description: 'Every alert recorded or deduplicated.', schema: alertBatchResultSchema },
      207: {
        description: 'Some items rejected (`status: "rejected"`); the others recorded or deduplicated.',
        schema: alertBatchResultSchema,
      },
    },
    errors: {
      413: `More than ${MAX_BATCH_ALERTS} alerts in the batch.`,
      503: 'Some alerts could not be recorded now: `items[]` says which (status `unavailable`); the others are.',
    },
    handle: async ({ query, body, actor }) => {
      if (!Array.isArray(body)) throw batchShapeProblem('expected a JSON array of alerts');
      if (body.length === 0) throw batchShapeProblem('expected at least one alert');
      const count = body.reduce((n: number, item) => n + alertCountOf(item), 0);
      if (count > MAX_BATCH_ALERTS) {
        const message = `at most ${MAX_BATCH_ALERTS} alerts per batch (got ${count}); split it`;
        throw new ApiProblem(413, 'too-many-alerts', 'Too many alerts', `Invalid body: (body): ${message}`, {
          errors: [{ path: '(body)', message }],
          maxAlerts: MAX_BATCH_ALERTS,
        });
      }
      const { alerts, rejected } = normalizeBatch(body, query.format);
      const outcomes = await record(
        deps,
        alerts.map((a) => a.alert),
        actor.subject,
      );
      const answered: BatchItem[] = outcomes.map((o, i) => {
        const { index, entry } = alerts[i]!;
        const at = { index, ...(entry !== undefined ? { entry } : {}) };
        if (o.ok) {
          return { ...at, status: o.result.deduplicated ? 'deduplicated' : 'recorded', ...receipt(o.result) };
        }
        const problem = mapDomainError(o.error);
        // Anything else is a fault of Quell's, not of the alert: a 500, as for a single alert (the recorded
        // ones stay recorded; a retry deduplicates them).
        if (!problem) throw o.error;
        return {
          ...at,
          status: problem.status >= 500 ? 'unavailable' : 'rejected',
          problem: problemJson(problem),
        };
      });
      const items = [...answered, ...rejected].sort(
        (a, b) => a.index - b.index || (a.entry ?? 0) - (b.entry ?? 0),
      );
      const unavailable = answered.filter((a) => a.status === 'unavailable');
      if (unavailable.length > 0) {
        const first = unavailable[0]!.problem as { type: string; title: string };
        const retryAfterSeconds = Math.max(
          ...unavailable.map((a) => (a.problem as { retryAfterSeconds?: number }).retryAfterSeconds ?? 5),
        );
        throw new ApiProblem(
          503,
          first.type.slice(first.type.lastIndexOf('/') + 1),
          first.title,
          `${unavailable.length} of ${items.length} alerts were not recorded (status "unavailable" in items); ` +
            'send the batch again later: the alerts already recorded are deduplicated.',
          { retryAfterSeconds, items },
        );
      }
      return { status: items.some((i) => i.status === 'rejected') ? 207 : 202, json: { items } };
    },
  });

export function alertRoutes(deps: IntakeDeps): RouteSpec[] {
  return [ingestAlert(deps), ingestAlertBatch(deps)];
}
