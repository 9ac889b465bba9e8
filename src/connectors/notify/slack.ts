import type { Logger } from 'pino';
import { z } from 'zod';
import { checkUrl, envName, origin, url } from '../descriptor';
import {
  ConnectorAuthError,
  type ConnectorError,
  PermanentConnectorError,
  RateLimitedError,
  TargetNotFoundError,
  TransientConnectorError,
} from '../errors';
import { type AllowList, HttpClient, type HttpResponse, pick, pickString, retryAfterMsFrom } from '../http';
import { LAB_PREFIXES } from '../lab/credentials';
import type { Notification } from '../types';
import { defineChannel, type NotificationChannel, plainLine, slackBlocks } from './channel';

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

const slackEntry = z.strictObject({
  type: z.literal('slack'),
  channel: z.string().min(1),
  tokenEnv: envName,
  baseUrl: url.optional(),
});

/** A route's Slack Web API channel (`chat.postMessage` with a bot token). */
export interface ResolvedSlackChannel {
  type: 'slack';
  route: string;
  channel: string;
  token: string;
  baseUrl: string;
}

/** `{ "type": "slack", "channel", "tokenEnv", "baseUrl"? }`: a bot posts to a channel. */
export const slackChannel = defineChannel<typeof slackEntry, ResolvedSlackChannel>({
  schema: slackEntry,
  secrets: ['tokenEnv'],
  resolve: (c, ctx) => ({
    type: 'slack',
    channel: c.channel,
    token: ctx.secret('tokenEnv', c.tokenEnv),
    baseUrl: c.baseUrl ?? SLACK_DEFAULT_BASE_URL,
  }),
  endpoints: (c) => [c.baseUrl],
  build: (c, ctx) =>
    new SlackWebApiChannel({ baseUrl: c.baseUrl, token: c.token, channel: c.channel, ...ctx }),
  describe: (c) => `Slack ${c.channel} (${origin(c.baseUrl)})`,
});

const slackWebhookEntry = z.strictObject({
  type: z.literal('slack-webhook'),
  url: url.optional(),
  urlEnv: envName.optional(),
});

/** A route's Slack incoming webhook: Slack's, or the lab's receiver (`lab`). */
export interface ResolvedSlackWebhookChannel {
  type: 'slack-webhook';
  route: string;
  url: string;
  lab: boolean;
}

/** `{ "type": "slack-webhook", "url" | "urlEnv" }`: an incoming webhook (its URL is the credential). */
export const slackWebhookChannel = defineChannel<typeof slackWebhookEntry, ResolvedSlackWebhookChannel>({
  schema: slackWebhookEntry,
  secrets: ['urlEnv'],
  resolve(c, ctx) {
    if (Boolean(c.url) === Boolean(c.urlEnv)) {
      ctx.problem('set exactly one of url and urlEnv');
      return { type: 'slack-webhook', url: '', lab: false };
    }
    const hookUrl = c.url ?? ctx.secret('urlEnv', c.urlEnv);
    const problem = hookUrl ? checkUrl(hookUrl) : undefined;
    if (problem) ctx.problem(problem, c.url ? 'url' : 'urlEnv');
    return { type: 'slack-webhook', url: hookUrl, lab: false };
  },
  endpoints: () => [],
  webhook: { url: (c) => c.url, alsoAllowed: 'https://hooks.slack.com/' },
  build: (c, ctx) =>
    new SlackWebhookChannel({ url: c.url, ...ctx, label: c.lab ? `lab, ${c.route}` : c.route }),
  describe: (c) => (c.lab ? `lab webhook ${new URL(c.url).pathname}` : `Slack webhook (${origin(c.url)})`),
});

const labEntry = z.strictObject({
  type: z.literal('lab'),
  /** Webhook name at the lab (`/slack/webhook/<name>`); default the route name. */
  name: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/)
    .optional(),
});

/**
 * `{ "type": "lab", "name"? }` (every default route): the lab's Slack-style webhook receiver, built,
 * allowed and described as a Slack incoming webhook.
 */
export const labChannel = defineChannel<typeof labEntry, ResolvedSlackWebhookChannel>({
  ...slackWebhookChannel,
  schema: labEntry,
  secrets: [],
  lab: true,
  resolve: (c, ctx) => ({
    type: 'slack-webhook',
    url: `${ctx.labUrl}${LAB_PREFIXES.slack}/webhook/${c.name ?? ctx.route}`,
    lab: true,
  }),
});
