import { z } from 'zod';

export const SEVERITIES = ['critical', 'high', 'medium', 'low'] as const;
/** Incident severity, most severe first. */
export const severitySchema = z.enum(SEVERITIES);
export type Severity = z.infer<typeof severitySchema>;

/** An alert's own severity may also be informational; incidents never are. */
export const alertSeveritySchema = z.enum([...SEVERITIES, 'informational']);
export type AlertSeverity = z.infer<typeof alertSeveritySchema>;

const entityList = z.array(z.string().trim().min(1).max(512)).max(500).default([]);

export const alertEntitiesSchema = z.object({
  hosts: entityList,
  accounts: entityList,
  ips: entityList,
  domains: entityList,
});
export type AlertEntities = z.infer<typeof alertEntitiesSchema>;

export const ALERT_FORMATS = ['ocsf', 'elastic', 'alertmanager', 'generic'] as const;
export type AlertFormat = (typeof ALERT_FORMATS)[number];

/**
 * An alert after normalisation from its source format. This is what workflows see: small, source-neutral,
 * and identified by `source` + `sourceAlertId`.
 */
export const normalizedAlertSchema = z.object({
  source: z.string().min(1).max(200),
  sourceAlertId: z.string().min(1).max(512),
  format: z.enum(ALERT_FORMATS),
  title: z.string().min(1).max(1000),
  ruleName: z.string().min(1).max(500),
  type: z.string().max(200).optional(),
  severity: alertSeveritySchema,
  detectedAt: z.iso.datetime({ offset: true }),
  /** When the detected activity began, when the source reports it (OCSF first_seen_time, Alertmanager startsAt). */
  firstSeenAt: z.iso.datetime({ offset: true }).optional(),
  receivedAt: z.iso.datetime({ offset: true }),
  entities: alertEntitiesSchema,
  description: z.string().max(10_000).optional(),
  labels: z.record(z.string(), z.string().max(2_000)).optional(),
  /** True when the source reports the alert as resolved (e.g. Alertmanager `status: resolved`). */
  resolved: z.boolean().optional(),
});
export type NormalizedAlert = z.infer<typeof normalizedAlertSchema>;

/** The identity that makes redelivery idempotent: the same source and source alert ID record once. */
export function alertIdentity(alert: Pick<NormalizedAlert, 'source' | 'sourceAlertId'>): string {
  return `${alert.source}:${alert.sourceAlertId}`;
}

export function severityRank(s: AlertSeverity): number {
  switch (s) {
    case 'critical':
      return 4;
    case 'high':
      return 3;
    case 'medium':
      return 2;
    case 'low':
      return 1;
    case 'informational':
      return 0;
  }
}

/** The more severe of two severities. */
export function maxSeverity<S extends AlertSeverity>(a: S, b: S): S {
  return severityRank(a) >= severityRank(b) ? a : b;
}
