/**
 * Threat-intelligence enrichment as the incident records it: what the playbook's `enrichment` section made
 * the identification phase look up, and what the sources said. Plain data (it travels through history) and
 * workflow-safe (no Node builtins).
 */

// What the threat-intelligence sources answer (src/connectors/intel re-exports these shapes).

/** What an indicator is: an IPv4/IPv6 address, a domain name, or a file hash (MD5, SHA-1 or SHA-256). */
export type IndicatorKind = 'ip' | 'domain' | 'file';

/** VirusTotal's verdict on one indicator: its engines' last analysis and the community reputation. */
export interface VirusTotalFinding {
  source: 'virustotal';
  /** The indicator as looked up (normalized: lower case, IPv6 compressed). */
  indicator: string;
  kind: IndicatorKind;
  /** False when VirusTotal has never seen it (its 404 NotFoundError); the counts are then all 0. */
  found: boolean;
  /** Engines of the last analysis per category (`last_analysis_stats`). */
  malicious: number;
  suspicious: number;
  harmless: number;
  undetected: number;
  /** Community score (`reputation`): negative is bad. */
  reputation?: number;
  /** Where a person reads the report (VirusTotal's GUI, on the configured origin). */
  link?: string;
}

/** AbuseIPDB's view of one IP address over the configured window (`maxAgeInDays`). */
export interface AbuseIpdbFinding {
  source: 'abuseipdb';
  indicator: string;
  kind: 'ip';
  /** True when the address was reported within the window (AbuseIPDB answers every address, reported or not). */
  found: boolean;
  /** `abuseConfidenceScore`, 0..100. */
  confidence: number;
  totalReports: number;
  countryCode?: string;
  isWhitelisted?: boolean;
  /** ISO-8601, when reported at all. */
  lastReportedAt?: string;
}

export type IntelFinding = VirusTotalFinding | AbuseIpdbFinding;

/** A source that failed for one indicator (the other sources' findings are kept). */
export interface IntelLookupError {
  source: string;
  /** The connector error kind (src/connectors/errors.ts); `permanent` for anything that was not a connector error. */
  type: 'auth' | 'not_found' | 'conflict' | 'rate_limited' | 'transient' | 'permanent';
  message: string;
  /** For `rate_limited`: how long the source asked us to wait. */
  retryAfterMs?: number;
}

/** One indicator to look up. */
export interface IndicatorRef {
  kind: IndicatorKind;
  indicator: string;
}

/** What the sources said of one indicator (a failing source lands in `errors`, the others' findings stay). */
export interface EnrichedIndicator extends IndicatorRef {
  findings: IntelFinding[];
  errors: IntelLookupError[];
}

/** The `enrichIndicators` activity's answer. */
export interface EnrichmentResult {
  /** False when the worker has no threat intelligence configured (`QUELL_INTEL=none`): nothing was looked up. */
  configured: boolean;
  /** The sources asked, e.g. `['virustotal', 'abuseipdb']`. */
  sources: string[];
  indicators: EnrichedIndicator[];
}

/** The enrichment recorded in the incident's state. */
export interface IncidentEnrichment {
  /** When the lookups were started (workflow time). */
  startedAt: string;
  /** When the workflow stopped waiting for them (answer, failure or timeout). */
  at: string;
  /** The playbook's `enrichment.timeout`, in milliseconds. */
  timeoutMs: number;
  /** True when the lookups did not answer within the timeout: containment went on without them. */
  timedOut: boolean;
  /** The activity's failure, when it failed (containment went on without it). */
  failure?: { type: string; message: string };
  /** False when the worker has no threat intelligence configured. */
  configured: boolean;
  sources: string[];
  /** The indicators asked about, with their findings (empty when timed out, failed or not configured). */
  indicators: EnrichedIndicator[];
  /** In-scope IP addresses left out because they are internal (nobody has a reputation for them). */
  skippedInternal: string[];
  /**
   * Every indicator asked about, as `<kind>:<value>` in the scope's spelling (identification's and later
   * alerts'), so none is asked twice; absent in incidents enriched before later alerts were looked up.
   */
  asked?: string[];
  /** Lookups of indicators that later alerts added (after identification's), oldest first. */
  later?: {
    startedAt: string;
    at: string;
    indicators: number;
    failure?: { type: string; message: string };
  }[];
}

/** The finding fields severity rules may compare, per source (numbers only). */
export const ENRICHMENT_FIELDS = {
  abuseipdb: ['confidence', 'totalReports'],
  virustotal: ['malicious', 'suspicious', 'harmless', 'undetected', 'reputation'],
} as const;
export type EnrichmentSource = keyof typeof ENRICHMENT_FIELDS;

/** A severity-rule condition on the enrichment, as parsed at load (plain data; never evaluated as code). */
export interface EnrichmentCondition {
  source: EnrichmentSource;
  field: string;
  /** Holds when some indicator's finding from `source` has `field >= atLeast`. */
  atLeast?: number;
  /** Holds when some indicator's finding from `source` has `field <= atMost`. */
  atMost?: number;
}

/**
 * Whether some finding in the enrichment meets the condition (findings with `found: false` never do: an
 * address AbuseIPDB never heard of is not "confidence 0"). No enrichment: never.
 */
export function enrichmentHolds(
  condition: EnrichmentCondition,
  enrichment: Pick<IncidentEnrichment, 'indicators'> | undefined,
): boolean {
  if (!enrichment) return false;
  return enrichment.indicators.some((ind) =>
    ind.findings.some((f) => {
      if (f.source !== condition.source || !f.found) return false;
      const value = (f as unknown as Record<string, unknown>)[condition.field];
      if (typeof value !== 'number' || !Number.isFinite(value)) return false;
      return (
        (condition.atLeast === undefined || value >= condition.atLeast) &&
        (condition.atMost === undefined || value <= condition.atMost)
      );
    }),
  );
}
