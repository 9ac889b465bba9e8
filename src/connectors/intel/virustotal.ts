import type { Logger } from 'pino';
import { z } from 'zod';
import { defineLabVendor, defineVendor, optionalString, optionalUrl, origin } from '../descriptor';
import { PermanentConnectorError, RateLimitedError } from '../errors';
import { type AllowList, HttpClient, type HttpResponse, parseRetryAfter, pickString } from '../http';
import { LAB_CREDENTIALS, LAB_PREFIXES } from '../lab/credentials';
import { normalizeIndicator } from './indicators';
import type { IndicatorKind, ThreatIntelSource, VirusTotalFinding } from './types';

export const VIRUSTOTAL_DEFAULT_BASE_URL = 'https://www.virustotal.com';
/**
 * How long to wait after a 429 that names no delay: VirusTotal's public quota is counted per minute, so an
 * earlier retry would only spend an attempt.
 */
export const VIRUSTOTAL_DEFAULT_RETRY_AFTER_MS = 60_000;

export interface VirusTotalOptions {
  /** Default {@link VIRUSTOTAL_DEFAULT_BASE_URL}; the API is under `/api/v3`. */
  baseUrl?: string;
  /** Sent as `x-apikey`. */
  apiKey: string;
  allowList: AllowList;
  timeoutMs?: number;
  logger?: Logger;
  now?: () => number;
}

/** The collection each kind of indicator lives in, and the GUI page a person reads it on. */
const COLLECTION: Record<IndicatorKind, { api: string; gui: string }> = {
  ip: { api: 'ip_addresses', gui: 'ip-address' },
  domain: { api: 'domains', gui: 'domain' },
  file: { api: 'files', gui: 'file' },
};

const count = z.number().int().nonnegative().catch(0);
const objectSchema = z.object({
  data: z.object({
    attributes: z.object({
      last_analysis_stats: z
        .object({ malicious: count, suspicious: count, harmless: count, undetected: count })
        .optional(),
      reputation: z.number().int().optional().catch(undefined),
    }),
  }),
});

function vtMessage(res: HttpResponse): string | undefined {
  const code = pickString(res.json, 'error', 'code');
  const message = pickString(res.json, 'error', 'message');
  if (!code && !message) return undefined;
  return [code, message].filter(Boolean).join(': ');
}

/**
 * VirusTotal API v3 reputation of IP addresses, domains and files (any API key; the public one allows 4
 * lookups a minute).
 *
 * Contract followed (docs.virustotal.com: "IP addresses", "Domains", "Files" objects and "Errors"):
 * - `GET /api/v3/ip_addresses/{ip}`, `/api/v3/domains/{domain}`, `/api/v3/files/{md5|sha1|sha256}` with the
 *   key in `x-apikey`; the indicator is validated and normalized first, so nothing else reaches the path.
 * - 200: `data.attributes.last_analysis_stats` {malicious, suspicious, harmless, undetected} (engines per
 *   category; other categories such as `timeout` are ignored) and `reputation`.
 * - Errors are `{"error": {"code", "message"}}`: 404 NotFoundError is a finding with `found: false`;
 *   401 AuthenticationRequiredError / WrongCredentialsError and 403 ForbiddenError are auth errors; 429
 *   QuotaExceededError / TooManyRequestsError is rate_limited; 503 TransientError and other 5xx transient;
 *   other 4xx permanent.
 *
 * ASSUMPTION: VirusTotal documents no Retry-After on 429; one is honoured when present, else
 * {@link VIRUSTOTAL_DEFAULT_RETRY_AFTER_MS}.
 */
export class VirusTotalIntel implements ThreatIntelSource {
  readonly vendor = 'virustotal';
  private readonly http: HttpClient;
  private readonly base: string;

  constructor(opts: VirusTotalOptions) {
    this.base = (opts.baseUrl ?? VIRUSTOTAL_DEFAULT_BASE_URL).replace(/\/+$/, '');
    this.http = new HttpClient({
      vendor: this.vendor,
      allowList: opts.allowList,
      timeoutMs: opts.timeoutMs,
      logger: opts.logger,
      now: opts.now,
      defaultHeaders: { 'x-apikey': opts.apiKey },
    });
  }

  supports(kind: IndicatorKind): boolean {
    return Object.hasOwn(COLLECTION, kind);
  }

  async lookup(kind: IndicatorKind, indicator: string): Promise<VirusTotalFinding> {
    const value = normalizeIndicator(kind, indicator, this.vendor);
    const { api, gui } = COLLECTION[kind];
    const op = `look up ${kind} ${value}`;
    const res = await this.http.request({
      method: 'GET',
      url: `${this.base}/api/v3/${api}/${encodeURIComponent(value)}`,
      op,
    });
    const link = `${this.base}/gui/${gui}/${encodeURIComponent(value)}`;
    const unknown = {
      source: this.vendor,
      indicator: value,
      kind,
      malicious: 0,
      suspicious: 0,
      harmless: 0,
      undetected: 0,
    } as const;
    if (res.status === 404 && pickString(res.json, 'error', 'code') === 'NotFoundError') {
      return { ...unknown, found: false };
    }
    if (res.status === 429) {
      const delay = parseRetryAfter(res.headers.get('retry-after'), this.http.now());
      const detail = vtMessage(res);
      throw new RateLimitedError(
        `${this.vendor}: ${op} failed with HTTP 429${detail ? `: ${detail}` : ''}`,
        delay ?? VIRUSTOTAL_DEFAULT_RETRY_AFTER_MS,
        { vendor: this.vendor, status: 429 },
      );
    }
    if (res.status !== 200) throw this.http.errorFor(res, op, vtMessage(res));
    const parsed = objectSchema.safeParse(res.json);
    if (!parsed.success) {
      throw new PermanentConnectorError(`${this.vendor}: ${op}: the answer is not a VirusTotal object`, {
        vendor: this.vendor,
        status: res.status,
      });
    }
    const { last_analysis_stats: stats, reputation } = parsed.data.data.attributes;
    return {
      ...unknown,
      found: true,
      ...(stats ?? {}),
      ...(reputation !== undefined ? { reputation } : {}),
      link,
    };
  }
}

/** `QUELL_INTEL=...,virustotal`: VirusTotal API v3 with an API key. */
export const virustotalIntel = defineVendor({
  env: { QUELL_VIRUSTOTAL_BASE_URL: optionalUrl, QUELL_VIRUSTOTAL_API_KEY: optionalString },
  secrets: ['QUELL_VIRUSTOTAL_API_KEY'],
  resolve: (e, ctx) => ({
    baseUrl: e.QUELL_VIRUSTOTAL_BASE_URL ?? VIRUSTOTAL_DEFAULT_BASE_URL,
    apiKey: ctx.need('QUELL_VIRUSTOTAL_API_KEY'),
  }),
  endpoints: (s) => [s.baseUrl],
  build: (s, ctx) => new VirusTotalIntel({ baseUrl: s.baseUrl, apiKey: s.apiKey, ...ctx }),
  describe: (s) => `VirusTotal (${origin(s.baseUrl)})`,
});

/** VirusTotal in `QUELL_INTEL=lab` (the default): the lab estate's VirusTotal contract with the lab's key. */
export const labVirusTotalIntel = defineLabVendor(LAB_PREFIXES.virustotal, {
  build: (s, ctx) =>
    new VirusTotalIntel({ baseUrl: s.baseUrl, apiKey: LAB_CREDENTIALS.virustotal.apiKey, ...ctx }),
  describe: (s) => `lab estate (${s.baseUrl}), VirusTotal contract`,
});
