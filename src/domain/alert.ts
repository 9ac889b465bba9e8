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
  /**
   * File hashes the alert names (MD5, SHA-1 or SHA-256, lower-case hex). Absent when there are none: alerts and
   * incidents recorded before Quell read hashes have no such list, and hash-less alerts keep that shape.
   */
  files?: string[];
}

/** The entity lists actions take targets from (file hashes are looked up and reported, never targeted). */
export const TARGET_ENTITY_KINDS = ['hosts', 'accounts', 'ips', 'domains'] as const;

/**
 * Adds an alert's entities to an incident's scope (in place, each once, in the alert's order) and returns the
 * targets it added. Hashes join the scope without counting as added: no action targets a hash, so they widen
 * nothing (no containment is planned for them, no incident is reopened by them).
 */
export function mergeScope(scope: AlertEntities, entities: AlertEntities): string[] {
  const added: string[] = [];
  for (const kind of TARGET_ENTITY_KINDS) {
    for (const entity of entities[kind]) {
      if (!scope[kind].includes(entity)) {
        scope[kind].push(entity);
        added.push(entity);
      }
    }
  }
  for (const hash of entities.files ?? []) {
    const files = (scope.files ??= []);
    if (!files.includes(hash)) files.push(hash);
  }
  return added;
}

/** A file hash as alerts carry it: MD5 (32), SHA-1 (40) or SHA-256 (64) hexadecimal digits. */
export const FILE_HASH = /^(?:[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64})$/i;

/** The algorithm a well-formed hash is of, by its length. */
export function hashAlgorithm(hash: string): 'md5' | 'sha1' | 'sha256' | undefined {
  if (!FILE_HASH.test(hash)) return undefined;
  return hash.length === 32 ? 'md5' : hash.length === 40 ? 'sha1' : 'sha256';
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
