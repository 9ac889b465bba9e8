import type { z } from 'zod';
import { ALERT_FORMATS, type AlertFormat, type NormalizedAlert } from '../domain/alert';
import { normalizedAlertSchema } from './alert-schema';
import { normalizedLine, normalizedText, oneLine } from '../domain/untrusted-text';
import { alertmanagerWebhookSchema, looksLikeAlertmanager, normalizeAlertmanager } from './alertmanager';
import {
  elasticAlertDocumentSchema,
  elasticAlertFieldsSchema,
  elasticFieldView,
  looksLikeElastic,
  normalizeElastic,
} from './elastic';
import { genericAlertSchema, normalizeGeneric } from './generic';
import { looksLikeOcsf, normalizeOcsf, ocsfDetectionFindingSchema } from './ocsf';

export { ALERT_FORMATS, type AlertFormat };
export { RESOLVED_ID_SUFFIX } from './common';
export { elasticDocumentJsonSchema } from './elastic';

/** The schema of each format's body (Elastic's reads the document's field view, whatever its layout). */
export const ALERT_FORMAT_SCHEMAS = {
  ocsf: ocsfDetectionFindingSchema,
  elastic: elasticAlertDocumentSchema,
  alertmanager: alertmanagerWebhookSchema,
  generic: genericAlertSchema,
} as const satisfies Record<AlertFormat, z.ZodType>;

export const ALERT_FORMAT_DESCRIPTIONS: Record<AlertFormat, string> = {
  ocsf: 'OCSF Detection Finding (class_uid 2004)',
  elastic: 'Elastic Security alert (event.kind "signal" / kibana.alert.* fields, nested or dotted)',
  alertmanager: 'Prometheus Alertmanager webhook, version "4" (a batch: one alert per entry of alerts[])',
  generic: "Quell's generic alert format (source, id, title, severity, ...)",
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function looksLikeGeneric(body: Record<string, unknown>): boolean {
  return 'source' in body && 'id' in body && 'title' in body;
}

function looseFormat(body: Record<string, unknown>): AlertFormat | undefined {
  if (looksLikeAlertmanager(body)) return 'alertmanager';
  if (looksLikeOcsf(body)) return 'ocsf';
  if (looksLikeElastic(body)) return 'elastic';
  if (looksLikeGeneric(body)) return 'generic';
  return undefined;
}

/**
 * Which format a body is in. A body valid in some format is in that format (first the one its shape suggests,
 * then in the order of ALERT_FORMATS), so every body valid by one of the documented schemas is accepted. Else
 * the format its shape suggests: Alertmanager (`version` + `alerts[]`), then OCSF (`class_uid` +
 * `finding_info`), then Elastic (`kibana.alert.*` or `event.kind: "signal"`), then generic (`source` + `id` +
 * `title`), whose schema then says precisely what is wrong, field by field. Undefined when none fits.
 */
export function detectAlertFormat(body: unknown): AlertFormat | undefined {
  if (!isPlainObject(body)) return undefined;
  const loose = looseFormat(body);
  if (loose && ALERT_FORMAT_SCHEMAS[loose].safeParse(body).success) return loose;
  return ALERT_FORMATS.find((f) => f !== loose && ALERT_FORMAT_SCHEMAS[f].safeParse(body).success) ?? loose;
}

/**
 * How many alerts a body carries as sent, before validation: an Alertmanager webhook one per entry of its
 * `alerts[]`, anything else one. What the ingest rate limit charges and the batch limit counts.
 */
export function alertCountOf(body: unknown): number {
  return isPlainObject(body) && looksLikeAlertmanager(body)
    ? Math.max(1, (body.alerts as unknown[]).length)
    : 1;
}

export type NormalizeOutcome =
  | { ok: true; format: AlertFormat; batch: boolean; alerts: NormalizedAlert[] }
  /** `stage: 'input'`: the body does not match its format; `'normalized'`: the result breaks Quell's limits. */
  | { ok: false; format: AlertFormat; stage: 'input' | 'normalized'; error: z.ZodError; pathPrefix?: string };

function parseAndNormalize(
  body: unknown,
  format: AlertFormat,
  receivedAt: string,
): { ok: true; alerts: NormalizedAlert[]; batch: boolean } | { ok: false; error: z.ZodError } {
  switch (format) {
    case 'ocsf': {
      const r = ocsfDetectionFindingSchema.safeParse(body);
      return r.success
        ? { ok: true, alerts: [normalizeOcsf(r.data, receivedAt)], batch: false }
        : { ok: false, error: r.error };
    }
    case 'elastic': {
      const r = elasticAlertFieldsSchema.safeParse(isPlainObject(body) ? elasticFieldView(body) : body);
      return r.success
        ? { ok: true, alerts: [normalizeElastic(r.data, receivedAt)], batch: false }
        : { ok: false, error: r.error };
    }
    case 'alertmanager': {
      const r = alertmanagerWebhookSchema.safeParse(body);
      return r.success
        ? { ok: true, alerts: normalizeAlertmanager(r.data, receivedAt), batch: true }
        : { ok: false, error: r.error };
    }
    case 'generic': {
      const r = genericAlertSchema.safeParse(body);
      return r.success
        ? { ok: true, alerts: [normalizeGeneric(r.data, receivedAt)], batch: false }
        : { ok: false, error: r.error };
    }
  }
}

/**
 * Titles, rule names and types on one printable line, descriptions without control characters, identifiers
 * with their control characters escaped: a title's CR/LF can then not add lines to a report or a message even
 * before the renderers escape it.
 */
function withPrintableText(alert: NormalizedAlert): NormalizedAlert {
  return {
    ...alert,
    // Identifiers keep every character, control characters shown as escapes: deterministic, so a redelivery
    // still deduplicates, and printable wherever the alert ID is shown.
    source: oneLine(alert.source),
    sourceAlertId: oneLine(alert.sourceAlertId),
    title: normalizedLine(alert.title) || alert.sourceAlertId,
    ruleName: normalizedLine(alert.ruleName) || alert.sourceAlertId,
    ...(alert.type !== undefined ? { type: normalizedLine(alert.type) } : {}),
    ...(alert.description !== undefined ? { description: normalizedText(alert.description) } : {}),
  };
}

/**
 * Validates a parsed body as `format` and normalizes it: one alert, or for an Alertmanager webhook, one per
 * entry. Every result is checked against the NormalizedAlert schema, so nothing malformed reaches a workflow.
 */
export function normalizeAlertBody(body: unknown, format: AlertFormat, receivedAt: string): NormalizeOutcome {
  const r = parseAndNormalize(body, format, receivedAt);
  if (!r.ok) return { ok: false, format, stage: 'input', error: r.error };
  r.alerts = r.alerts.map(withPrintableText);
  for (let i = 0; i < r.alerts.length; i++) {
    const check = normalizedAlertSchema.safeParse(r.alerts[i]);
    if (!check.success) {
      return {
        ok: false,
        format,
        stage: 'normalized',
        error: check.error,
        pathPrefix: r.batch ? `alerts.${i}` : '',
      };
    }
  }
  return { ok: true, format, batch: r.batch, alerts: r.alerts };
}
