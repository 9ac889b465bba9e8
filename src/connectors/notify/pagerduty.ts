import type { Logger } from 'pino';
import { z } from 'zod';
import { envName, origin, url } from '../descriptor';
import { PermanentConnectorError } from '../errors';
import { type AllowList, HttpClient, type HttpResponse, pick, pickString } from '../http';
import type { Notification } from '../types';
import { sha256Hex, truncate } from '../util';
import { defineChannel, type NotificationChannel } from './channel';

export const PAGERDUTY_DEFAULT_BASE_URL = 'https://events.pagerduty.com';

/** Our severities onto PagerDuty's four. */
export const PAGERDUTY_SEVERITY: Record<Notification['severity'], 'critical' | 'error' | 'warning' | 'info'> =
  {
    critical: 'critical',
    high: 'error',
    medium: 'warning',
    low: 'info',
  };

/** A dedup key within PagerDuty's 255 characters: long keys keep a prefix and a hash of the whole. */
export function pagerDutyDedupKey(key: string): string {
  if (key.length <= 255) return key;
  return `${key.slice(0, 190)}:${sha256Hex(key)}`;
}

export interface PagerDutyOptions {
  baseUrl?: string;
  /** The integration's routing key (Events API v2), from the environment. */
  routingKey: string;
  allowList: AllowList;
  timeoutMs?: number;
  logger?: Logger;
  /** `payload.component`; default `quell`. */
  component?: string;
}

function pdMessage(res: HttpResponse): string | undefined {
  const message = pickString(res.json, 'message');
  const errors = pick(res.json, 'errors');
  const list = Array.isArray(errors) ? errors.filter((e): e is string => typeof e === 'string') : [];
  return message || list.length ? [message, ...list].filter(Boolean).join('; ') : undefined;
}

/**
 * PagerDuty Events API v2: `POST /v2/enqueue` with `{routing_key, event_action, dedup_key, payload}`,
 * answered 202. The dedup key is the notification's `dedupKey` (the incident ID when empty), so repeated
 * triggers for one incident update one PagerDuty alert and a `resolve` closes it; keys over 255 characters are
 * shortened with a hash. Severity: critical -> critical, high -> error, medium -> warning, low -> info.
 * 400 (invalid event) is permanent, 429 rate limited, 5xx transient.
 */
export class PagerDutyChannel implements NotificationChannel {
  readonly kind = 'pagerduty';
  private readonly http: HttpClient;
  private readonly url: string;

  constructor(private readonly opts: PagerDutyOptions) {
    this.url = `${(opts.baseUrl ?? PAGERDUTY_DEFAULT_BASE_URL).replace(/\/+$/, '')}/v2/enqueue`;
    this.http = new HttpClient({
      vendor: 'pagerduty',
      allowList: opts.allowList,
      timeoutMs: opts.timeoutMs,
      logger: opts.logger,
    });
  }

  describe(): string {
    return `PagerDuty Events v2 at ${new URL(this.url).origin}`;
  }

  async deliver(n: Notification): Promise<{ vendorRef?: string }> {
    const dedupKey = pagerDutyDedupKey(n.dedupKey || n.incidentId);
    const eventAction = n.eventAction ?? 'trigger';
    const body: Record<string, unknown> = {
      routing_key: this.opts.routingKey,
      event_action: eventAction,
      dedup_key: dedupKey,
      client: 'Quell',
      ...(n.link
        ? { client_url: n.link, links: [{ href: n.link, text: `Quell incident ${n.incidentId}` }] }
        : {}),
    };
    if (eventAction === 'trigger') {
      body.payload = {
        summary: truncate(`${n.incidentId}: ${n.subject}`, 1024),
        source: 'quell',
        severity: PAGERDUTY_SEVERITY[n.severity],
        timestamp: new Date().toISOString(),
        component: this.opts.component ?? 'quell',
        group: n.route,
        class: 'security-incident',
        custom_details: {
          incidentId: n.incidentId,
          text: truncate(n.text, 8000),
          severity: n.severity,
          idempotencyKey: n.idempotencyKey,
          ...(n.link ? { link: n.link } : {}),
        },
      };
    }
    const op = `${eventAction} event for ${n.incidentId}`;
    const res = await this.http.request({ method: 'POST', url: this.url, op, json: body });
    if (res.status === 202) return { vendorRef: pickString(res.json, 'dedup_key') ?? dedupKey };
    if (res.status >= 200 && res.status < 300) {
      throw new PermanentConnectorError(`pagerduty: ${op}: expected HTTP 202, got ${res.status}`, {
        vendor: 'pagerduty',
        status: res.status,
      });
    }
    throw this.http.errorFor(res, op, pdMessage(res));
  }
}

const pagerdutyEntry = z.strictObject({
  type: z.literal('pagerduty'),
  routingKeyEnv: envName,
  baseUrl: url.optional(),
  component: z.string().min(1).optional(),
});

/** A route's PagerDuty integration (Events API v2). */
export interface ResolvedPagerDutyChannel {
  type: 'pagerduty';
  route: string;
  routingKey: string;
  baseUrl: string;
  component?: string;
}

/** `{ "type": "pagerduty", "routingKeyEnv", "baseUrl"?, "component"? }`. */
export const pagerdutyChannel = defineChannel<typeof pagerdutyEntry, ResolvedPagerDutyChannel>({
  schema: pagerdutyEntry,
  secrets: ['routingKeyEnv'],
  resolve: (c, ctx) => ({
    type: 'pagerduty',
    routingKey: ctx.secret('routingKeyEnv', c.routingKeyEnv),
    baseUrl: c.baseUrl ?? PAGERDUTY_DEFAULT_BASE_URL,
    ...(c.component ? { component: c.component } : {}),
  }),
  endpoints: (c) => [c.baseUrl],
  build: (c, ctx) =>
    new PagerDutyChannel({
      baseUrl: c.baseUrl,
      routingKey: c.routingKey,
      ...ctx,
      ...(c.component ? { component: c.component } : {}),
    }),
  describe: (c) => `PagerDuty (${origin(c.baseUrl)})`,
});
