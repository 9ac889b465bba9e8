import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { TRACER_NAME } from '../telemetry/names';
import {
  ConnectorAuthError,
  ConflictError,
  type ConnectorError,
  PermanentConnectorError,
  RateLimitedError,
  TargetNotFoundError,
  TransientConnectorError,
} from './errors';
import { exchange, ExchangeTimeoutError, type ExchangeResult } from './http-exchange';
import { truncate } from './util';

/** Used when a vendor answers 429 without saying how long to wait. */
export const DEFAULT_RETRY_AFTER_MS = 1_000;
/** Default per-request timeout (connect, headers and body together). */
export const DEFAULT_TIMEOUT_MS = 10_000;

// ---------------------------------------------------------------------------------------------------------
// Outbound URL allow-list
// ---------------------------------------------------------------------------------------------------------

/**
 * Entries of an outbound allow-list, from configuration. Each entry is either
 * - a host name (`api.crowdstrike.com`, `127.0.0.1`, `[::1]`), optionally with a port (`127.0.0.1:8080`),
 *   matching that host over http or https; `*.okta.com` matches any sub-domain (not `okta.com` itself); or
 * - a URL prefix (`https://hooks.slack.com/services/T0123/`): same scheme, host and port, and a path that
 *   starts with the prefix's path at a segment boundary.
 * Both sides are normalized by the WHATWG URL parser first (case, IDN, IPv4 shorthand such as `127.1`), so
 * look-alike spellings cannot slip past a textual comparison.
 */
export type AllowList = readonly string[];

function parseUrl(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

function entryMatches(entry: string, target: URL): boolean {
  const e = entry.trim();
  if (!e) return false;
  if (e.includes('://')) {
    const prefix = parseUrl(e);
    if (!prefix) return false;
    if (prefix.protocol !== target.protocol || prefix.host !== target.host) return false;
    const p = prefix.pathname;
    if (p === '/' || p === '') return true;
    if (target.pathname === p || `${target.pathname}/` === p) return true;
    return target.pathname.startsWith(p.endsWith('/') ? p : `${p}/`);
  }
  if (e.startsWith('*.')) {
    const suffix = parseUrl(`http://${e.slice(2)}/`);
    if (!suffix) return false;
    return target.hostname.endsWith(`.${suffix.hostname}`);
  }
  const hostOnly = parseUrl(`http://${e}/`);
  if (!hostOnly) return false;
  if (hostOnly.hostname !== target.hostname) return false;
  // An entry without a port matches any port; with one, only that port.
  if (!hostOnly.port && !/:\d+$/.test(e)) return true;
  const targetPort = target.port || (target.protocol === 'https:' ? '443' : '80');
  return (hostOnly.port || '80') === targetPort;
}

/** Whether the URL is on the allow-list (see {@link AllowList}); http and https only, no user-info. */
export function isAllowedUrl(url: string, allowList: AllowList): boolean {
  const target = parseUrl(url);
  if (!target) return false;
  if (target.protocol !== 'http:' && target.protocol !== 'https:') return false;
  if (target.username || target.password) return false;
  return allowList.some((entry) => entryMatches(entry, target));
}

/**
 * Refuses any URL that is not on the outbound allow-list with a {@link PermanentConnectorError}, so a
 * playbook or alert field can never steer a connector to another host (SSRF). Only the origin is named in
 * the error: paths can carry secrets (Slack webhook URLs do).
 */
export function assertAllowedUrl(url: string, allowList: AllowList, vendor?: string): URL {
  const target = parseUrl(url);
  if (!target || !isAllowedUrl(url, allowList)) {
    const shown = target ? `${target.protocol}//${target.host}` : JSON.stringify(truncate(url, 40));
    throw new PermanentConnectorError(`outbound URL refused: ${shown} is not on the outbound allow-list`, {
      ...(vendor ? { vendor } : {}),
    });
  }
  return target;
}

/** The allow-list entry that admits exactly this base URL and the paths below it. */
export function allowListEntryFor(baseUrl: string): string {
  const u = new URL(baseUrl);
  const path = u.pathname.endsWith('/') ? u.pathname : `${u.pathname}/`;
  return `${u.protocol}//${u.host}${path}`;
}

// ---------------------------------------------------------------------------------------------------------
// Retry-After
// ---------------------------------------------------------------------------------------------------------

/**
 * Parses a `Retry-After` value: delay-seconds (`"30"`, also tolerating decimals) or an HTTP-date
 * (`"Wed, 21 Oct 2015 07:28:00 GMT"`). Returns milliseconds from `now`, never negative; undefined when the
 * value is absent or unreadable.
 */
export function parseRetryAfter(
  value: string | null | undefined,
  now: number = Date.now(),
): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/**
 * How long a 429 asks us to wait: `Retry-After` first; else the epoch-seconds reset headers some vendors
 * send instead (Okta `X-Rate-Limit-Reset`, CrowdStrike `X-RateLimit-RetryAfter`); else
 * {@link DEFAULT_RETRY_AFTER_MS}.
 */
export function retryAfterMsFrom(headers: Headers, now: number = Date.now()): number {
  const ra = parseRetryAfter(headers.get('retry-after'), now);
  if (ra !== undefined) return ra;
  for (const name of ['x-rate-limit-reset', 'x-ratelimit-retryafter']) {
    const v = headers.get(name);
    if (v && /^\d+$/.test(v.trim())) return Math.max(0, Number(v.trim()) * 1000 - now);
  }
  return DEFAULT_RETRY_AFTER_MS;
}

// ---------------------------------------------------------------------------------------------------------
// Status -> error taxonomy
// ---------------------------------------------------------------------------------------------------------

export interface ErrorContext {
  vendor: string;
  /** What we were doing, e.g. "contain host ws-1"; goes into the message. */
  op: string;
  /** The vendor's own error text, already extracted from the body (never the raw body). */
  vendorMessage?: string;
}

/**
 * Maps an HTTP status to the connector error taxonomy: 401/403 auth, 404 not found, 409 conflict, 429 rate
 * limited (with the Retry-After delay), 5xx (and 408) transient, other 4xx permanent.
 */
export function errorForStatus(
  status: number,
  headers: Headers,
  ctx: ErrorContext,
  now: number = Date.now(),
): ConnectorError {
  const detail = ctx.vendorMessage ? `: ${truncate(ctx.vendorMessage, 300)}` : '';
  const message = `${ctx.vendor}: ${ctx.op} failed with HTTP ${status}${detail}`;
  const details = { vendor: ctx.vendor, status };
  if (status === 401 || status === 403) return new ConnectorAuthError(message, details);
  if (status === 404) return new TargetNotFoundError(message, details);
  if (status === 409) return new ConflictError(message, details);
  if (status === 429) return new RateLimitedError(message, retryAfterMsFrom(headers, now), details);
  if (status >= 500 || status === 408) return new TransientConnectorError(message, details);
  return new PermanentConnectorError(message, details);
}

function errorCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e && typeof e === 'object'; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Maps a failure to reach the vendor (no HTTP answer) to the taxonomy: certificate problems are permanent
 * (retrying will not fix them), every other network failure is transient.
 */
export function errorForNetworkFailure(err: unknown, ctx: ErrorContext): ConnectorError {
  const code = errorCode(err) ?? 'unknown';
  const message = `${ctx.vendor}: ${ctx.op} failed: network error ${code}`;
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS_CERT/.test(code)) {
    return new PermanentConnectorError(message, { vendor: ctx.vendor, cause: err });
  }
  // Resets, refusals, DNS hiccups and every code we do not recognise: the next attempt may pass.
  return new TransientConnectorError(message, { vendor: ctx.vendor, cause: err });
}

// ---------------------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------------------

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  /** Short description for messages and logs, e.g. "contain host ws-1". Never a secret. */
  op: string;
  headers?: Record<string, string>;
  /** Serialized as JSON with `Content-Type: application/json`. */
  json?: unknown;
  /** Sent as `application/x-www-form-urlencoded`. */
  form?: Record<string, string>;
  /** Raw body, sent as is (the caller sets the content type). */
  body?: string;
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON; undefined when it is empty or not JSON. */
  json: unknown;
}

export interface HttpClientOptions {
  vendor: string;
  allowList: AllowList;
  timeoutMs?: number;
  logger?: Logger;
  /**
   * Log only the origin of request URLs (for URLs that carry secrets in their path, such as Slack
   * incoming webhooks). Query strings are never logged.
   */
  redactPath?: boolean;
  /** Extra headers on every request (never logged). */
  defaultHeaders?: Record<string, string>;
  /** Injectable clock (tests). */
  now?: () => number;
}

const USER_AGENT = 'quell-connectors/0.1';

/**
 * The HTTP client every vendor connector uses: allow-list check before any I/O, a timeout covering the whole
 * exchange, no redirects (a 3xx could leave the allow-list), typed errors for network
 * failures, and a debug log line per call naming the vendor, operation, method, origin/path and status, and
 * never headers, bodies or query strings.
 */
export class HttpClient {
  readonly vendor: string;
  private readonly allowList: AllowList;
  private readonly timeoutMs: number;
  private readonly logger?: Logger;
  private readonly redactPath: boolean;
  private readonly defaultHeaders: Record<string, string>;
  readonly now: () => number;

  constructor(opts: HttpClientOptions) {
    this.vendor = opts.vendor;
    this.allowList = opts.allowList;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.logger = opts.logger;
    this.redactPath = opts.redactPath ?? false;
    this.defaultHeaders = opts.defaultHeaders ?? {};
    this.now = opts.now ?? Date.now;
  }

  /**
   * Sends a request and returns the answer whatever its status. Throws only when no HTTP answer came:
   * refused URL (permanent), timeout (transient), network failure (see {@link errorForNetworkFailure}),
   * or a redirect (permanent).
   */
  async request(req: HttpRequest): Promise<HttpResponse> {
    const target = assertAllowedUrl(req.url, this.allowList, this.vendor);
    const headers: Record<string, string> = {
      'user-agent': USER_AGENT,
      accept: 'application/json',
      ...this.defaultHeaders,
      ...req.headers,
    };
    let body: string | undefined;
    if (req.json !== undefined) {
      body = JSON.stringify(req.json);
      headers['content-type'] = 'application/json; charset=utf-8';
    } else if (req.form) {
      body = new URLSearchParams(req.form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else if (req.body !== undefined) {
      body = req.body;
    }
    // A CLIENT span per call, its context sent along (traceparent), so the vendor's side joins the trace. Only the
    // method, vendor, operation, host and status are recorded: never headers, bodies, paths or queries. Without a
    // registered tracer provider (tracing off) both are no-ops.
    const span = trace.getTracer(TRACER_NAME).startSpan(`${req.method} ${this.vendor}`, {
      kind: SpanKind.CLIENT,
      attributes: {
        'http.request.method': req.method,
        'server.address': target.hostname,
        'server.port': Number(target.port || (target.protocol === 'https:' ? 443 : 80)),
        'quell.connector.vendor': this.vendor,
        'quell.connector.operation': req.op,
      },
    });
    propagation.inject(trace.setSpan(context.active(), span), headers);
    const timeoutMs = req.timeoutMs ?? this.timeoutMs;
    const started = this.now();
    const where = this.redactPath ? target.origin : `${target.origin}${target.pathname}`;
    const ctx = { vendor: this.vendor, op: req.op };
    try {
      let res: ExchangeResult;
      try {
        res = await exchange(target, req.method, headers, body, timeoutMs);
      } catch (err) {
        throw err instanceof ExchangeTimeoutError
          ? new TransientConnectorError(
              `${this.vendor}: ${req.op} timed out after ${timeoutMs} ms${err.readingBody ? ' (reading body)' : ''}`,
              { vendor: this.vendor },
            )
          : errorForNetworkFailure(err, ctx);
      }
      const text = res.text;
      this.logger?.debug(
        {
          vendor: this.vendor,
          op: req.op,
          method: req.method,
          url: where,
          status: res.status,
          ms: this.now() - started,
        },
        'vendor call',
      );
      span.setAttribute('http.response.status_code', res.status);
      if (res.status >= 400) span.setStatus({ code: SpanStatusCode.ERROR });
      if (res.status >= 300 && res.status < 400) {
        throw new PermanentConnectorError(
          `${this.vendor}: ${req.op} answered a redirect (HTTP ${res.status}); redirects are not followed`,
          { vendor: this.vendor, status: res.status },
        );
      }
      let json: unknown;
      if (text) {
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
      }
      return { status: res.status, headers: res.headers, text, json };
    } catch (err) {
      if (!(err instanceof Error && 'kind' in err)) throw err;
      this.logger?.debug(
        {
          vendor: this.vendor,
          op: req.op,
          method: req.method,
          url: where,
          error: err.message,
          ms: this.now() - started,
        },
        'vendor call failed',
      );
      span.setAttribute('error.type', err.name);
      span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
      throw err;
    } finally {
      span.end();
    }
  }

  /** The typed error for a non-success answer (see {@link errorForStatus}). */
  errorFor(res: HttpResponse, op: string, vendorMessage?: string): ConnectorError {
    return errorForStatus(res.status, res.headers, { vendor: this.vendor, op, vendorMessage }, this.now());
  }
}

/** Reads a property path from parsed JSON without trusting its shape. */
export function pick(value: unknown, ...path: (string | number)[]): unknown {
  let cur: unknown = value;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[key];
  }
  return cur;
}

/** `pick` that keeps only strings. */
export function pickString(value: unknown, ...path: (string | number)[]): string | undefined {
  const v = pick(value, ...path);
  return typeof v === 'string' ? v : undefined;
}
