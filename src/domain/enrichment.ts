/**
 * Threat-intelligence enrichment as the incident records it: what the playbook's `enrichment` section made
 * the identification phase look up, and what the sources said. Plain data (it travels through history) and
 * workflow-safe (no Node builtins).
 */

// The connectors' finding shapes (src/connectors/intel/types.ts), restated here because workflow-safe code may
// not import the connectors; the activity assigns one to the other, so tsc catches any drift.

/** What an indicator is: an IP address, a domain name, or a file hash. */
export type IndicatorKind = 'ip' | 'domain' | 'file';

/** VirusTotal's verdict on one indicator (see the connector's `VirusTotalFinding`). */
export interface VirusTotalFinding {
  source: 'virustotal';
  indicator: string;
  kind: IndicatorKind;
  /** False when VirusTotal has never seen it; the counts are then all 0. */
  found: boolean;
  malicious: number;
  suspicious: number;
  harmless: number;
  undetected: number;
  /** Community score: negative is bad. */
  reputation?: number;
  link?: string;
}

/** AbuseIPDB's view of one IP address (see the connector's `AbuseIpdbFinding`). */
export interface AbuseIpdbFinding {
  source: 'abuseipdb';
  indicator: string;
  kind: 'ip';
  /** True when the address was reported within the configured window. */
  found: boolean;
  /** 0..100. */
  confidence: number;
  totalReports: number;
  countryCode?: string;
  isWhitelisted?: boolean;
  lastReportedAt?: string;
}

export type IntelFinding = VirusTotalFinding | AbuseIpdbFinding;

/** A source that failed for one indicator (the other sources' findings are kept). */
export interface IntelLookupError {
  source: string;
  type: 'auth' | 'not_found' | 'conflict' | 'rate_limited' | 'transient' | 'permanent';
  message: string;
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
