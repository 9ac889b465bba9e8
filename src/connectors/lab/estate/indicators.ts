import { createHash } from 'node:crypto';
import net from 'node:net';
import type { EstateContext } from './history';

export type LabIndicatorKind = 'ip' | 'domain' | 'file';

/** What the lab's VirusTotal says of an indicator: its engines' last analysis and community score. */
export interface LabVirusTotalView {
  malicious: number;
  suspicious: number;
  harmless: number;
  undetected: number;
  reputation: number;
}

/** What the lab's AbuseIPDB says of an IP address. */
export interface LabAbuseIpdbView {
  abuseConfidenceScore: number;
  totalReports: number;
  numDistinctUsers: number;
  countryCode: string | null;
  isWhitelisted: boolean;
  lastReportedAt: string | null;
}

/**
 * An indicator the lab's intelligence vendors know. A source without a view of it answers as for an unknown
 * indicator (VirusTotal: 404 NotFoundError; AbuseIPDB: a clean, never reported address).
 */
export interface LabIndicator {
  kind: LabIndicatorKind;
  /** Lower case (IPv6 compressed, as connectors send it); a file's SHA-256. */
  value: string;
  /** A file's MD5 and SHA-1, by which VirusTotal finds it too. */
  aliases?: string[];
  virustotal?: LabVirusTotalView;
  abuseipdb?: LabAbuseIpdbView;
}

export type LabIndicatorInput = Omit<LabIndicator, 'virustotal' | 'abuseipdb'> & {
  virustotal?: Partial<LabVirusTotalView>;
  abuseipdb?: Partial<LabAbuseIpdbView>;
};

const digest = (algorithm: string, content: string) => createHash(algorithm).update(content).digest('hex');
/** The lab's ransomware sample: only its hashes exist (the content is a fixed string). */
const SAMPLE = 'quell-lab ransomware sample (not a real file)';

/** The seeded indicators: documentation addresses (RFC 5737) and reserved names, so nothing real is named. */
export const LAB_SEED_INDICATORS = {
  /** A scanner/C2 address both sources know as bad (AbuseIPDB confidence 100). */
  badIp: '203.0.113.66',
  /** An address both sources know as clean. */
  cleanIp: '198.51.100.7',
  /** A shared resolver AbuseIPDB whitelists despite some reports. */
  whitelistedIp: '192.0.2.53',
  /** A command-and-control domain. */
  badDomain: 'c2-beacon.example',
  cleanDomain: 'intranet.lab.quell.test',
  /** SHA-256 (and MD5, SHA-1 aliases) of the lab's ransomware sample. */
  badSha256: digest('sha256', SAMPLE),
  badMd5: digest('md5', SAMPLE),
  badSha1: digest('sha1', SAMPLE),
  /** The empty file: known, harmless. */
  cleanSha256: digest('sha256', ''),
} as const;

function seeds(now: number): LabIndicatorInput[] {
  const s = LAB_SEED_INDICATORS;
  const hoursAgo = (h: number) => new Date(now - h * 3_600_000).toISOString().replace('Z', '+00:00');
  return [
    {
      kind: 'ip',
      value: s.badIp,
      virustotal: { malicious: 14, suspicious: 3, harmless: 52, undetected: 24, reputation: -38 },
      abuseipdb: {
        abuseConfidenceScore: 100,
        totalReports: 812,
        numDistinctUsers: 147,
        countryCode: 'NL',
        lastReportedAt: hoursAgo(2),
      },
    },
    {
      kind: 'ip',
      value: s.cleanIp,
      virustotal: { harmless: 61, undetected: 32 },
      abuseipdb: { countryCode: 'US' },
    },
    {
      kind: 'ip',
      value: s.whitelistedIp,
      virustotal: { harmless: 70, undetected: 23, reputation: 12 },
      abuseipdb: {
        totalReports: 3,
        numDistinctUsers: 2,
        countryCode: 'US',
        isWhitelisted: true,
        lastReportedAt: hoursAgo(30),
      },
    },
    {
      kind: 'domain',
      value: s.badDomain,
      virustotal: { malicious: 9, suspicious: 2, harmless: 58, undetected: 25, reputation: -21 },
    },
    { kind: 'domain', value: s.cleanDomain, virustotal: { harmless: 66, undetected: 27 } },
    {
      kind: 'file',
      value: s.badSha256,
      aliases: [s.badMd5, s.badSha1],
      virustotal: { malicious: 58, suspicious: 0, harmless: 0, undetected: 14, reputation: -87 },
    },
    { kind: 'file', value: s.cleanSha256, virustotal: { harmless: 0, undetected: 72 } },
  ];
}

const DOMAIN_RE = /^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z0-9-]{2,63}$/;
const HASH_RE = /^(?:[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64})$/;

/** Whether a value is well formed for its kind, as the vendors check it (lower-cased first). */
export function wellFormed(kind: LabIndicatorKind, value: string): boolean {
  if (kind === 'ip') return net.isIP(value) !== 0;
  if (kind === 'domain') return DOMAIN_RE.test(value) && net.isIP(value) === 0;
  return HASH_RE.test(value);
}

const count = (v: unknown, max = Number.MAX_SAFE_INTEGER): number =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max ? v : 0;

/** The indicators the lab's VirusTotal and AbuseIPDB know, by kind and value (files also by MD5/SHA-1). */
export class LabIndicators {
  private readonly byKey = new Map<string, LabIndicator>();

  constructor(private readonly ctx: EstateContext) {
    for (const seed of seeds(ctx.now())) this.put(seed);
  }

  /** Adds or replaces an indicator (validated). Thrown: Error naming what is wrong. */
  add(input: LabIndicatorInput): LabIndicator {
    const ind = this.put(input);
    this.ctx.changed();
    return ind;
  }

  find(kind: LabIndicatorKind, value: string): LabIndicator | undefined {
    return this.byKey.get(`${kind}:${value.toLowerCase()}`);
  }

  list(): LabIndicator[] {
    const seen = new Set<LabIndicator>();
    for (const i of this.byKey.values()) seen.add(i);
    return [...seen];
  }

  snapshot(): LabIndicator[] {
    return this.list();
  }

  persisted(): LabIndicator[] {
    return this.list();
  }

  restore(saved: LabIndicator[]): void {
    this.byKey.clear();
    for (const i of saved) this.index(i);
  }

  private put(input: LabIndicatorInput): LabIndicator {
    if (input.kind !== 'ip' && input.kind !== 'domain' && input.kind !== 'file') {
      throw new Error('kind must be ip, domain or file');
    }
    const value = typeof input.value === 'string' ? input.value.trim().toLowerCase() : '';
    if (!wellFormed(input.kind, value)) throw new Error(`value is not a well-formed ${input.kind}`);
    const aliases = (input.aliases ?? []).map((a) => String(a).toLowerCase());
    if (input.kind !== 'file' && aliases.length) throw new Error('only files have aliases (MD5, SHA-1)');
    if (!aliases.every((a) => wellFormed('file', a))) throw new Error('aliases must be MD5 or SHA-1 hashes');
    if (input.abuseipdb && input.kind !== 'ip') throw new Error('AbuseIPDB knows IP addresses only');
    const vt = input.virustotal;
    const ab = input.abuseipdb;
    const ind: LabIndicator = {
      kind: input.kind,
      value,
      ...(aliases.length ? { aliases } : {}),
      ...(vt
        ? {
            virustotal: {
              malicious: count(vt.malicious),
              suspicious: count(vt.suspicious),
              harmless: count(vt.harmless),
              undetected: count(vt.undetected),
              reputation:
                typeof vt.reputation === 'number' && Number.isInteger(vt.reputation) ? vt.reputation : 0,
            },
          }
        : {}),
      ...(ab
        ? {
            abuseipdb: {
              abuseConfidenceScore: count(ab.abuseConfidenceScore, 100),
              totalReports: count(ab.totalReports),
              numDistinctUsers: count(ab.numDistinctUsers),
              countryCode: typeof ab.countryCode === 'string' ? ab.countryCode : null,
              isWhitelisted: ab.isWhitelisted === true,
              lastReportedAt: typeof ab.lastReportedAt === 'string' ? ab.lastReportedAt : null,
            },
          }
        : {}),
    };
    this.index(ind);
    return ind;
  }

  private index(ind: LabIndicator): void {
    for (const v of [ind.value, ...(ind.aliases ?? [])]) this.byKey.set(`${ind.kind}:${v}`, ind);
  }
}
