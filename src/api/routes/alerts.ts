/** Alert intake: one route, for every accepted format, authenticated by bearer token or by signature. */
import { z } from 'zod';
import {
  ALERT_FORMATS,
  ALERT_FORMAT_DESCRIPTIONS,
  ALERT_FORMAT_SCHEMAS,
  detectAlertFormat,
  normalizeAlertBody,
  type AlertFormat,
  type NormalizeOutcome,
} from '../../ingest';
import { ApiProblem, validationProblem } from '../problem';
import { defineRoute, type RouteDeps, type RouteSpec } from '../route-spec';
import { alertBatchReceiptSchema, alertQuery, alertReceiptSchema } from '../schemas';

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

/**
 * The alerts a body in `format` carries, normalized.
 * Thrown: a 400 problem when the body is not a valid alert of that format; 422 when it is but cannot be
 * recorded (what normalization made of it fails the alert contract).
 */
function normalizedAlerts(body: unknown, format: AlertFormat): Extract<NormalizeOutcome, { ok: true }> {
  const outcome = normalizeAlertBody(body, format, new Date().toISOString());
  if (outcome.ok) return outcome;
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

const ingestAlert = ({ incidents, metrics }: Pick<RouteDeps, 'incidents' | 'metrics'>): RouteSpec =>
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
      const outcome = normalizedAlerts(body, format);
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
  });

export function alertRoutes(deps: Pick<RouteDeps, 'incidents' | 'metrics'>): RouteSpec[] {
  return [ingestAlert(deps)];
}
