/**
 * The threat-intelligence capability: reputation lookups for an incident's indicators (IP addresses, domains,
 * file hashes) before its severity is decided. Unlike the other capabilities several sources run at once; each
 * answers with its own finding shape, and the fan-out ({@link ThreatIntel}) keeps whatever the others found
 * when one fails. Plain data only: findings travel through activities into workflow history.
 */

import type {
  AbuseIpdbFinding,
  IndicatorKind,
  IntelFinding,
  IntelLookupError,
  VirusTotalFinding,
} from '../../domain/enrichment';

// The finding shapes are the incident's (src/domain/enrichment.ts): what a source answers is what history records.
export type { AbuseIpdbFinding, IndicatorKind, IntelFinding, IntelLookupError, VirusTotalFinding };
export const INDICATOR_KINDS: readonly IndicatorKind[] = ['ip', 'domain', 'file'];

export type IntelSourceName = IntelFinding['source'];

/**
 * One threat-intelligence vendor. `lookup` validates the indicator before any call (a
 * PermanentConnectorError for anything that is not an indicator of that kind) and throws the connector
 * errors of `../errors` like every connector: `auth` for a refused key, `rate_limited` with
 * `retryAfterMs` on 429, `transient` for 5xx and timeouts, `permanent` otherwise. "Not known to the source"
 * is not an error: it is a finding with `found: false`.
 */
export interface ThreatIntelSource {
  readonly vendor: IntelSourceName;
  supports(kind: IndicatorKind): boolean;
  lookup(kind: IndicatorKind, indicator: string): Promise<IntelFinding>;
}

/** A source that failed during a fan-out lookup (the others' findings are kept). */

export interface IntelLookupResult {
  kind: IndicatorKind;
  /** The indicator, normalized as the sources were asked about it. */
  indicator: string;
  /** One per source that answered, in the order of `sources`. */
  findings: IntelFinding[];
  errors: IntelLookupError[];
}

/**
 * Every configured source at once. `lookup` asks each source that supports the kind, in parallel; a failing
 * source lands in `errors` and never costs the others' findings. Thrown: PermanentConnectorError when the
 * indicator is not a valid indicator of that kind (before any source is called).
 */
export interface ThreatIntel {
  /** The configured sources' names, e.g. `['virustotal', 'abuseipdb']`. */
  readonly sources: string[];
  lookup(kind: IndicatorKind, indicator: string): Promise<IntelLookupResult>;
}
