import type { Logger } from 'pino';
import {
  ConnectorAuthError,
  type ConnectorError,
  PermanentConnectorError,
  RateLimitedError,
  TargetNotFoundError,
  TransientConnectorError,
} from '../errors';
import { type AllowList, HttpClient, type HttpResponse, pick, pickString, retryAfterMsFrom } from '../http';
import type { Notification } from '../types';
import { type NotificationChannel, plainLine, slackBlocks } from './channel';

export const SLACK_DEFAULT_BASE_URL = 'https://slack.com';

const AUTH_ERRORS = new Set([
  'invalid_auth',
  'not_authed',
  'token_revoked',
  'token_expired',
  'account_inactive',
  'no_permission',
  'missing_scope',
  'not_allowed_token_type',
  'ekm_access_denied',
]);
const NOT_FOUND_ERRORS = new Set(['channel_not_found', 'not_in_channel', 'user_not_found']);
const TRANSIENT_ERRORS = new Set(['fatal_error', 'internal_error', 'service_unavailable', 'request_timeout']);

/** Maps a Slack Web API `{ok:false, error}` (or HTTP failure) to the connector error taxonomy. */
export function slackError(res: HttpResponse, http: HttpClient, op: string): ConnectorError {
  const code = pickString(res.json, 'error') ?? res.text.trim().slice(0, 100);
  const details = { vendor: http.vendor, status: res.status };
  const message = `${http.vendor}: ${op} failed: ${code || `HTTP ${res.status}`}`;
  if (res.status === 429 || code === 'ratelimited' || code === 'rate_limited') {
    return new RateLimitedError(message, retryAfterMsFrom(res.headers, http.now()), details);
  }
  if (AUTH_ERRORS.has(code)) return new ConnectorAuthError(message, details);
  if (NOT_FOUND_ERRORS.has(code)) return new TargetNotFoundError(message, details);
  if (TRANSIENT_ERRORS.has(code)) return new TransientConnectorError(message, details);
  if (res.status >= 300) return http.errorFor(res, op, code || undefined);
  return new PermanentConnectorError(message, details);
}

export interface SlackWebApiOptions {
  baseUrl?: string;
  /** Bot token (`xoxb-...`), from the environment. */
  token: string;
  /** Channel ID or name (`C0123456` or `#soc`). */
  channel: string;
  allowList: AllowList;
  timeoutMs?: number;
  logger?: Logger;
}

/**
 * Slack Web API `POST /api/chat.postMessage` with `Authorization: Bearer xoxb-...`, body
 * `{channel, text, blocks}`. Slack answers HTTP 200 with `{ok:false, error}` on failure: invalid_auth,
 * not_authed, token_revoked (and similar) are auth errors; channel_not_found is not found; ratelimited or an
 * HTTP 429 is rate limited with its Retry-After; internal errors are transient; the rest permanent.
 */
export class SlackWebApiChannel implements NotificationChannel {
  readonly kind = 'slack';
  private readonly http: HttpClient;
  private readonly url: string;

  constructor(private readonly opts: SlackWebApiOptions) {
    this.url = `${(opts.baseUrl ?? SLACK_DEFAULT_BASE_URL).replace(/\/+$/, '')}/api/chat.postMessage`;
    this.http = new HttpClient({
      vendor: 'slack',
      allowList: opts.allowList,
      timeoutMs: opts.timeoutMs,
      logger: opts.logger,
      defaultHeaders: { authorization: `Bearer ${opts.token}` },
    });
  }

  describe(): string {
    return `Slack ${this.opts.channel} via ${new URL(this.url).origin}`;
  }

  async deliver(n: Notification): Promise<{ vendorRef?: string }> {
    const op = `post to ${this.opts.channel}`;
    const res = await this.http.request({
      method: 'POST',
      url: this.url,
      op,
      json: { channel: this.opts.channel, text: plainLine(n), blocks: slackBlocks(n), unfurl_links: false },
    });
    if (res.status === 200 && pick(res.json, 'ok') === true) return { vendorRef: pickString(res.json, 'ts') };
    throw slackError(res, this.http, op);
  }
}

export interface SlackWebhookOptions {
  /** The incoming-webhook URL: a secret (its path is the credential), never logged. */
  url: string;
  allowList: AllowList;
  timeoutMs?: number;
  logger?: Logger;
  /** A name for banners, e.g. the route. */
  label?: string;
}

/**
 * Slack incoming webhook: `POST <url>` `{text, blocks}`, answered `200 ok`. Failures come as HTTP statuses
 * with a short text (`invalid_payload` 400, `action_prohibited` 403, `channel_not_found`/`no_service` 404,
 * `channel_is_archived` 410, 429 with Retry-After), mapped by status; the URL's path is never logged.
 */
export class SlackWebhookChannel implements NotificationChannel {
  readonly kind = 'slack-webhook';
  private readonly http: HttpClient;

  constructor(private readonly opts: SlackWebhookOptions) {
    this.http = new HttpClient({
      vendor: 'slack-webhook',
      allowList: opts.allowList,
      timeoutMs: opts.timeoutMs,
      logger: opts.logger,
      redactPath: true,
    });
  }

  describe(): string {
    let origin = '(invalid URL)';
    try {
      origin = new URL(this.opts.url).origin;
    } catch {
      /* shown as invalid */
    }
    return `Slack incoming webhook at ${origin}${this.opts.label ? ` (${this.opts.label})` : ''}`;
  }

  async deliver(n: Notification): Promise<{ vendorRef?: string }> {
    const op = 'post to incoming webhook';
    const res = await this.http.request({
      method: 'POST',
      url: this.opts.url,
      op,
      json: { text: plainLine(n), blocks: slackBlocks(n) },
    });
    if (res.status === 200) return {};
    if (res.status === 410) {
      throw new TargetNotFoundError(`slack-webhook: ${op} failed: channel_is_archived`, {
        vendor: 'slack-webhook',
        status: 410,
      });
    }
    throw slackError(res, this.http, op);
  }
}
