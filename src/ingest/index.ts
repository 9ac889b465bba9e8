import type { z } from 'zod';
import { ALERT_FORMATS, type AlertFormat, type NormalizedAlert } from '../domain/alert';
import { normalizedAlertSchema } from '../domain/alert-schema';
import { normalizedLine, normalizedText } from '../domain/untrusted-text';
import { alertmanagerWebhookSchema, looksLikeAlertmanager, normalizeAlertmanager } from './alertmanager';
import { elasticAlertFieldsSchema, elasticFieldView, looksLikeElastic, normalizeElastic } from './elastic';
import { genericAlertSchema, normalizeGeneric } from './generic';
import { looksLikeOcsf, normalizeOcsf, ocsfDetectionFindingSchema } from './ocsf';

export { ALERT_FORMATS, type AlertFormat };
export { RESOLVED_ID_SUFFIX } from './common';

/** The schema each format's body is validated with (Elastic's applies to the document's field view). */
export const ALERT_FORMAT_SCHEMAS = {
  ocsf: ocsfDetectionFindingSchema,
  elastic: elasticAlertFieldsSchema,
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

/**
 * Which format a body is in, from its shape: Alertmanager (`version` + `alerts[]`), then OCSF (`class_uid` +
 * `finding_info`), then Elastic (`kibana.alert.*` or `event.kind: "signal"`), then generic (`source` + `id` +
 * `title`). Undefined when none fits. Detection is deliberately loose; the format's schema then says precisely
 * what is wrong, field by field.
 */
export function detectAlertFormat(body: unknown): AlertFormat | undefined {
  if (!isPlainObject(body)) return undefined;
  if (looksLikeAlertmanager(body)) return 'alertmanager';
  if (looksLikeOcsf(body)) return 'ocsf';
  if (looksLikeElastic(body)) return 'elastic';
  if (looksLikeGeneric(body)) return 'generic';
  return undefined;
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
 * Titles, rule names and types on one printable line, descriptions without control characters: a title's
 * CR/LF can then not add lines to a report or a message even before the renderers escape it.
 */
function withPrintableText(alert: NormalizedAlert): NormalizedAlert {
  return {
    ...alert,
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
