import type { Logger } from 'pino';
import { z } from 'zod';
import { defineLabVendor, defineVendor, optionalString, optionalUrl, origin } from '../descriptor';
import { PermanentConnectorError, RateLimitedError } from '../errors';
import {
  type AllowList,
  DEFAULT_RETRY_AFTER_MS,
  HttpClient,
  type HttpResponse,
  parseRetryAfter,
  pickString,
} from '../http';
import { LAB_CREDENTIALS, LAB_PREFIXES } from '../lab/credentials';
import { queryString } from '../util';
import { normalizeIndicator } from './indicators';
import type { AbuseIpdbFinding, IndicatorKind, ThreatIntelSource } from './types';

export const ABUSEIPDB_DEFAULT_BASE_URL = 'https://api.abuseipdb.com';
export const ABUSEIPDB_DEFAULT_MAX_AGE_DAYS = 90;

export interface AbuseIpdbOptions {
  /** Default {@link ABUSEIPDB_DEFAULT_BASE_URL}; the API is under `/api/v2`. */
  baseUrl?: string;
  /** Sent as `Key`. */
  apiKey: string;
  /** Reports older than this do not count (1..365, default {@link ABUSEIPDB_DEFAULT_MAX_AGE_DAYS}). */
  maxAgeInDays?: number;
  allowList: AllowList;
  timeoutMs?: number;
  logger?: Logger;
  now?: () => number;
}

const checkSchema = z.object({
  data: z.object({
    abuseConfidenceScore: z.number().min(0).max(100),
    totalReports: z.number().int().nonnegative().catch(0),
    // Vendor text ends up in notifications: only a country code and a timestamp are let through here.
    countryCode: z
      .string()
      .regex(/^[A-Za-z]{2}$/)
      .transform((c) => c.toUpperCase())
      .nullish()
      .catch(undefined),
    isWhitelisted: z.boolean().nullish().catch(undefined),
    lastReportedAt: z
      .string()
      .regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)$/)
      .nullish()
      .catch(undefined),
  }),
});

function abuseMessage(res: HttpResponse): string | undefined {
  const detail = pickString(res.json, 'errors', 0, 'detail');
  const parameter = pickString(res.json, 'errors', 0, 'source', 'parameter');
  return detail ? `${detail}${parameter ? ` (${parameter})` : ''}` : undefined;
}

/**
 * AbuseIPDB API v2 reports on IP addresses (any API key; the free plan allows 1,000 checks a day).
 *
 * Contract followed (docs.abuseipdb.com: "CHECK Endpoint", "Rate Limiting", "Error Handling"):
 * - `GET /api/v2/check?ipAddress=<ip>&maxAgeInDays=<n>` with `Key: <key>` and `Accept: application/json`;
 *   the address is validated and normalized first. IPs only: domains and hashes are not supported.
 * - 200 `data`: `abuseConfidenceScore` (0..100), `totalReports`, `countryCode`, `isWhitelisted`,
 *   `lastReportedAt` (null when never reported). Every address gets an answer, reported or not:
 *   `found` is whether any report falls in the window.
 * - Errors are `{"errors": [{"detail", "status", "source": {"parameter"}}]}`: 401 auth; 422 (a parameter
 *   refused) permanent; 429 rate_limited after `Retry-After` (seconds), else `X-RateLimit-Reset` (epoch
 *   seconds, when the daily quota resets); 5xx transient.
 */
export class AbuseIpdbIntel implements ThreatIntelSource {
  readonly vendor = 'abuseipdb';
  private readonly http: HttpClient;
  private readonly base: string;
  private readonly maxAgeInDays: number;

  constructor(opts: AbuseIpdbOptions) {
    this.base = (opts.baseUrl ?? ABUSEIPDB_DEFAULT_BASE_URL).replace(/\/+$/, '');
    this.maxAgeInDays = opts.maxAgeInDays ?? ABUSEIPDB_DEFAULT_MAX_AGE_DAYS;
    this.http = new HttpClient({
      vendor: this.vendor,
      allowList: opts.allowList,
      timeoutMs: opts.timeoutMs,
      logger: opts.logger,
      now: opts.now,
      defaultHeaders: { key: opts.apiKey, accept: 'application/json' },
    });
  }

  supports(kind: IndicatorKind): boolean {
    return kind === 'ip';
  }

  async lookup(kind: IndicatorKind, indicator: string): Promise<AbuseIpdbFinding> {
    if (kind !== 'ip') {
      throw new PermanentConnectorError(`${this.vendor}: only IP addresses can be checked, not a ${kind}`, {
        vendor: this.vendor,
      });
    }
    const ip = normalizeIndicator('ip', indicator, this.vendor);
    const op = `check ip ${ip}`;
    const res = await this.http.request({
      method: 'GET',
      url: `${this.base}/api/v2/check${queryString({ ipAddress: ip, maxAgeInDays: this.maxAgeInDays })}`,
      op,
    });
    if (res.status === 429) throw this.rateLimited(res, op);
    if (res.status !== 200) throw this.http.errorFor(res, op, abuseMessage(res));
    const parsed = checkSchema.safeParse(res.json);
    if (!parsed.success) {
      throw new PermanentConnectorError(`${this.vendor}: ${op}: the answer is not an AbuseIPDB check`, {
        vendor: this.vendor,
        status: res.status,
      });
    }
    const d = parsed.data.data;
    return {
      source: this.vendor,
      indicator: ip,
      kind: 'ip',
      found: d.totalReports > 0,
      confidence: d.abuseConfidenceScore,
      totalReports: d.totalReports,
      ...(d.countryCode ? { countryCode: d.countryCode } : {}),
      ...(typeof d.isWhitelisted === 'boolean' ? { isWhitelisted: d.isWhitelisted } : {}),
      ...(d.lastReportedAt ? { lastReportedAt: d.lastReportedAt } : {}),
    };
  }

  private rateLimited(res: HttpResponse, op: string): RateLimitedError {
    const now = this.http.now();
    let delay = parseRetryAfter(res.headers.get('retry-after'), now);
    const reset = res.headers.get('x-ratelimit-reset')?.trim();
    if (delay === undefined && reset && /^\d+$/.test(reset)) delay = Math.max(0, Number(reset) * 1000 - now);
    const detail = abuseMessage(res);
    return new RateLimitedError(
      `${this.vendor}: ${op} failed with HTTP 429${detail ? `: ${detail}` : ''}`,
      delay ?? DEFAULT_RETRY_AFTER_MS,
      { vendor: this.vendor, status: 429 },
    );
  }
}

/** `QUELL_INTEL=...,abuseipdb`: AbuseIPDB API v2 with an API key. */
export const abuseipdbIntel = defineVendor({
  env: {
    QUELL_ABUSEIPDB_BASE_URL: optionalUrl,
    QUELL_ABUSEIPDB_API_KEY: optionalString,
    QUELL_ABUSEIPDB_MAX_AGE_DAYS: z.coerce
      .number()
      .int()
      .min(1)
      .max(365)
      .default(ABUSEIPDB_DEFAULT_MAX_AGE_DAYS),
  },
  secrets: ['QUELL_ABUSEIPDB_API_KEY'],
  resolve: (e, ctx) => ({
    baseUrl: e.QUELL_ABUSEIPDB_BASE_URL ?? ABUSEIPDB_DEFAULT_BASE_URL,
    apiKey: ctx.need('QUELL_ABUSEIPDB_API_KEY'),
    maxAgeInDays: e.QUELL_ABUSEIPDB_MAX_AGE_DAYS,
  }),
  endpoints: (s) => [s.baseUrl],
  build: (s, ctx) => new AbuseIpdbIntel({ ...s, ...ctx }),
  describe: (s) => `AbuseIPDB (${origin(s.baseUrl)}, reports of the last ${s.maxAgeInDays} days)`,
});

/** AbuseIPDB in `QUELL_INTEL=lab` (the default): the lab estate's AbuseIPDB contract with the lab's key. */
export const labAbuseIpdbIntel = defineLabVendor(LAB_PREFIXES.abuseipdb, {
  build: (s, ctx) =>
    new AbuseIpdbIntel({ baseUrl: s.baseUrl, apiKey: LAB_CREDENTIALS.abuseipdb.apiKey, ...ctx }),
  describe: (s) => `lab estate (${s.baseUrl}), AbuseIPDB contract`,
});
