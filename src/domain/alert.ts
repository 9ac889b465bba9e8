/**
 * Alerts as workflows see them: plain types and pure helpers, no zod (this module is bundled into the
 * workflow sandbox, where every new incident re-runs its module scope). The schemas live in src/ingest/alert-schema.ts.
 */

export const SEVERITIES = ['critical', 'high', 'medium', 'low'] as const;
/** Incident severity, most severe first. */
export type Severity = (typeof SEVERITIES)[number];

/** An alert's own severity may also be informational; incidents never are. */
export const ALERT_SEVERITIES = [...SEVERITIES, 'informational'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];

export interface AlertEntities {
  hosts: string[];
  accounts: string[];
  ips: string[];
  domains: string[];
}

export const ALERT_FORMATS = ['ocsf', 'elastic', 'alertmanager', 'generic'] as const;
export type AlertFormat = (typeof ALERT_FORMATS)[number];

/**
 * An alert after normalisation from its source format. This is what workflows see: small, source-neutral,
 * and identified by `source` + `sourceAlertId`.
 */
export interface NormalizedAlert {
  source: string;
  sourceAlertId: string;
  format: AlertFormat;
  title: string;
  ruleName: string;
  type?: string | undefined;
  severity: AlertSeverity;
  /** ISO-8601: when the source detected it. */
  detectedAt: string;
  /** When the detected activity began, when the source reports it (OCSF first_seen_time, Alertmanager startsAt). */
  firstSeenAt?: string | undefined;
  /** ISO-8601: when Quell received it. */
  receivedAt: string;
  entities: AlertEntities;
  description?: string | undefined;
  labels?: Record<string, string> | undefined;
  /** True when the source reports the alert as resolved (e.g. Alertmanager `status: resolved`). */
  resolved?: boolean | undefined;
}

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
