/**
 * The threat-intelligence capability: reputation lookups for an incident's indicators (IP addresses, domains,
 * file hashes) before its severity is decided. Unlike the other capabilities several sources run at once; each
 * answers with its own finding shape, and the fan-out ({@link ThreatIntel}) keeps whatever the others found
 * when one fails. Plain data only: findings travel through activities into workflow history.
 */
import type { ConnectorErrorKind } from '../errors';

/** What an indicator is: an IPv4/IPv6 address, a domain name, or a file hash (MD5, SHA-1 or SHA-256). */
export type IndicatorKind = 'ip' | 'domain' | 'file';
export const INDICATOR_KINDS: readonly IndicatorKind[] = ['ip', 'domain', 'file'];

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
export interface IntelLookupError {
  source: string;
  /** The connector error kind; `permanent` for anything that was not a connector error. */
  type: ConnectorErrorKind;
  message: string;
  /** For `rate_limited`: how long the source asked us to wait. */
  retryAfterMs?: number;
}

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
