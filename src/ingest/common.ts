import { isIP } from 'node:net';
import { z } from 'zod';
import { FILE_HASH, type AlertEntities, type AlertSeverity } from '../domain/alert';
import { firstLayoutControl, LAYOUT_CONTROL_CLASS } from '../domain/untrusted-text';

/** Suffix of the source alert ID of a message saying that an alert resolved (so it is not deduplicated away). */
export const RESOLVED_ID_SUFFIX = '#resolved';

/**
 * What JavaScript's trim() removes (WhiteSpace and LineTerminator), spelled out: `\s` means something else in
 * other regex engines, and the OpenAPI document publishes this pattern to clients and fuzzers.
 */
const TRIMMED = '\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff';
export const NOT_BLANK = new RegExp(`[^${TRIMMED}]`);

/**
 * Text of at most `max` characters as sent, not blank, then trimmed. The limit applies before trimming and
 * blankness is a pattern, so the JSON Schema (maxLength, pattern) says exactly what is accepted.
 */
export function trimmedText(max: number) {
  return z.string().max(max).regex(NOT_BLANK, 'must not be blank').trim();
}

/**
 * Entity values: what a scope entry may be. Control characters (NUL, ESC, CR/LF, bidirectional overrides...)
 * are refused, naming the field (no EDR, IdP or firewall takes such a name, and it would be shown to people);
 * whitespace around the name is trimmed. A pattern, so the OpenAPI document says it too.
 */
export const PRINTABLE_ENTITY = new RegExp(`^[${TRIMMED}]*[^${LAYOUT_CONTROL_CLASS}]*[${TRIMMED}]*$`);

export const entityString = z
  .string()
  .max(512)
  .regex(NOT_BLANK, 'must not be blank')
  .regex(PRINTABLE_ENTITY, {
    error: (issue) =>
      `contains the control character ${firstLayoutControl(String(issue.input)) ?? '(unknown)'}; entity names must be printable text`,
  })
  .trim();
export const ipString = z.union([z.ipv4(), z.ipv6()], { error: 'expected an IPv4 or IPv6 address' });

/** A file hash: MD5, SHA-1 or SHA-256 hex (whitespace around it trimmed, read in lower case). */
export const fileHashString = z
  .string()
  .trim()
  .regex(FILE_HASH, 'expected a file hash: 32 (MD5), 40 (SHA-1) or 64 (SHA-256) hexadecimal digits')
  .toLowerCase();

/** A hash of exactly one algorithm (`file.hash.sha256` must be a SHA-256). */
export function hashOf(algorithm: 'md5' | 'sha1' | 'sha256') {
  const digits = { md5: 32, sha1: 40, sha256: 64 }[algorithm];
  return z
    .string()
    .trim()
    .regex(
      new RegExp(`^[0-9a-fA-F]{${digits}}$`),
      `expected a ${algorithm.toUpperCase()}: ${digits} hexadecimal digits`,
    )
    .toLowerCase();
}

/** Collects entities in order, trimmed, without duplicates. */
export class EntityCollector {
  private readonly sets = {
    hosts: new Set<string>(),
    accounts: new Set<string>(),
    ips: new Set<string>(),
    domains: new Set<string>(),
    files: new Set<string>(),
  };

  add(
    kind: keyof AlertEntities,
    ...values: (string | null | undefined | readonly (string | null | undefined)[])[]
  ): void {
    for (const v of values.flat()) {
      if (typeof v !== 'string') continue;
      let s = v.trim();
      if (!s) continue;
      if (kind === 'domains') s = s.toLowerCase().replace(/\.$/, '');
      // Hashes are read from fields that may hold other digests (SHA-512, ssdeep): only MD5/SHA-1/SHA-256 count.
      if (kind === 'files') s = FILE_HASH.test(s) ? s.toLowerCase() : '';
      if (s) this.sets[kind].add(s);
    }
  }

  result(): AlertEntities {
    return {
      hosts: [...this.sets.hosts],
      accounts: [...this.sets.accounts],
      ips: [...this.sets.ips],
      domains: [...this.sets.domains],
      ...(this.sets.files.size ? { files: [...this.sets.files] } : {}),
    };
  }
}

/** `host:port`, `[v6]:port` and bare names/addresses to the host part. */
export function stripPort(instance: string): string {
  const s = instance.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(s);
  if (bracketed?.[1]) return bracketed[1];
  if (isIP(s)) return s;
  const m = /^([^:]+):\d+$/.exec(s);
  return m?.[1] ?? s;
}

export function isIpAddress(value: string): boolean {
  return isIP(value) !== 0;
}

/** Cuts text to `max` characters (vendors send long titles; the normalized alert has limits). */
export function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Latest plausible timestamp: year 9999. */
const MAX_EPOCH_MS = 253_402_300_799_999;

/** Epoch milliseconds (OCSF `timestamp_t`). */
export const epochMs = z
  .number({ error: 'expected epoch milliseconds (a number)' })
  .int('expected whole epoch milliseconds')
  .min(0, 'expected epoch milliseconds after 1970')
  .max(MAX_EPOCH_MS, 'expected epoch milliseconds before year 10000');

export function epochMsToIso(ms: number): string {
  return new Date(ms).toISOString();
}

/** An RFC 3339 timestamp with an offset (any sub-second precision), as Alertmanager and Elastic send. */
export const rfc3339 = z.iso.datetime({ offset: true, error: 'expected an RFC 3339 timestamp with offset' });

/** Re-renders an RFC 3339 timestamp in UTC with millisecond precision. */
export function toIso(timestamp: string): string {
  const d = new Date(timestamp);
  return Number.isNaN(d.getTime()) ? timestamp : d.toISOString();
}

/** The earlier of two ISO timestamps that are both set; else whichever is set. */
export function earlier(a: string | undefined, b: string | undefined): string | undefined {
  if (!a) return b;
  if (!b) return a;
  return Date.parse(a) <= Date.parse(b) ? a : b;
}

/**
 * Alert type from MITRE ATT&CK, for sources that classify by technique/tactic rather than by a type field.
 * Techniques are checked first (they are more specific), then tactics. Only the types Quell's playbooks match
 * on are derived; anything else leaves the type unset.
 */
const TYPE_BY_TECHNIQUE: Record<string, string> = {
  T1486: 'ransomware', // Data Encrypted for Impact
  T1490: 'ransomware', // Inhibit System Recovery
  T1071: 'c2', // Application Layer Protocol
  T1090: 'c2', // Proxy
  T1095: 'c2', // Non-Application Layer Protocol
  T1102: 'c2', // Web Service
  T1105: 'c2', // Ingress Tool Transfer
  T1568: 'c2', // Dynamic Resolution
  T1571: 'c2', // Non-Standard Port
  T1572: 'c2', // Protocol Tunneling
  T1573: 'c2', // Encrypted Channel
  T1078: 'account_compromise', // Valid Accounts
  T1110: 'account_compromise', // Brute Force
  T1539: 'account_compromise', // Steal Web Session Cookie
  T1550: 'account_compromise', // Use Alternate Authentication Material
  T1556: 'account_compromise', // Modify Authentication Process
  T1621: 'account_compromise', // MFA Request Generation
};
const TYPE_BY_TACTIC: Record<string, string> = {
  TA0011: 'c2',
  'command and control': 'c2',
  TA0006: 'account_compromise',
  'credential access': 'account_compromise',
};

export function typeFromAttack(
  techniques: readonly string[],
  tactics: readonly string[],
): string | undefined {
  for (const t of techniques) {
    const id = /^(T\d{4})/i.exec(t.trim())?.[1]?.toUpperCase();
    if (id && TYPE_BY_TECHNIQUE[id]) return TYPE_BY_TECHNIQUE[id];
  }
  for (const t of tactics) {
    const key = t.trim();
    const hit = TYPE_BY_TACTIC[key.toUpperCase()] ?? TYPE_BY_TACTIC[key.toLowerCase()];
    if (hit) return hit;
  }
  return undefined;
}

/** Severity words vendors use, to Quell's alert severities. Unknown words: undefined (the caller decides). */
export function severityFromWord(word: string | undefined): AlertSeverity | undefined {
  switch (word?.trim().toLowerCase()) {
    case 'critical':
    case 'fatal':
    case 'emergency':
    case 'alert':
    case 'page':
    case 'p1':
      return 'critical';
    case 'high':
    case 'error':
    case 'major':
    case 'severe':
    case 'p2':
      return 'high';
    case 'medium':
    case 'moderate':
    case 'warning':
    case 'warn':
    case 'p3':
      return 'medium';
    case 'low':
    case 'minor':
    case 'p4':
      return 'low';
    case 'info':
    case 'informational':
    case 'information':
    case 'notice':
    case 'none':
    case 'debug':
    case 'p5':
      return 'informational';
    default:
      return undefined;
  }
}

/** The value, or an array of them (ECS fields are often either). */
export function oneOrMany<T extends z.ZodType>(item: T) {
  return z.union([item, z.array(item).max(500)]);
}

export function asArray<T>(v: T | readonly T[] | undefined): T[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? [...(v as readonly T[])] : [v as T];
}
