import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import { envName, origin, url } from '../descriptor';
import { type AllowList, HttpClient, pickString } from '../http';
import type { Notification } from '../types';
import { defineChannel, type NotificationChannel } from './channel';

export const SIGNATURE_HEADER = 'X-Quell-Signature';

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`: the header Quell verifies inbound. */
export function signQuellPayload(secret: string, rawBody: string | Buffer, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.`).update(rawBody).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/**
 * Verifies a `t=...,v1=...` signature over the raw body, in constant time; accepts any of several `v1`
 * values (key rotation) and refuses timestamps more than `toleranceSeconds` (default 300) away from now.
 */
export function verifyQuellSignature(
  secret: string,
  header: string | undefined,
  rawBody: string | Buffer,
  opts: { toleranceSeconds?: number; nowSeconds?: number } = {},
): boolean {
  if (!header) return false;
  let t: number | undefined;
  const v1: string[] = [];
  for (const part of header.split(',')) {
    const [k, v] = part.trim().split('=', 2);
    if (k === 't' && v && /^\d+$/.test(v)) t = Number(v);
    if (k === 'v1' && v && /^[0-9a-f]{64}$/i.test(v)) v1.push(v.toLowerCase());
  }
  if (t === undefined || v1.length === 0) return false;
  const now = opts.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - t) > (opts.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(
    createHmac('sha256', secret).update(`${t}.`).update(rawBody).digest('hex'),
    'utf8',
  );
  return v1.some((sig) => timingSafeEqual(Buffer.from(sig, 'utf8'), expected));
}

export interface SignedWebhookOptions {
  url: string;
  /** HMAC secret, from the environment. */
  secret: string;
  allowList: AllowList;
  timeoutMs?: number;
  logger?: Logger;
  now?: () => number;
}

/**
 * A generic outbound webhook, signed exactly like the webhooks Quell accepts:
 * `X-Quell-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." + raw body)>`. The body is JSON
 * `{type:"quell.notification", route, incidentId, subject, text, severity, dedupKey, idempotencyKey,
 * eventAction, link, sentAt}`; `Idempotency-Key` carries the notification's key so receivers can dedupe a
 * retried delivery. Any 2xx is delivered; other statuses map to the error taxonomy.
 */
export class SignedWebhookChannel implements NotificationChannel {
  readonly kind = 'webhook';
  private readonly http: HttpClient;

  constructor(private readonly opts: SignedWebhookOptions) {
    this.http = new HttpClient({
      vendor: 'webhook',
      allowList: opts.allowList,
      timeoutMs: opts.timeoutMs,
      logger: opts.logger,
      redactPath: true,
      now: opts.now,
    });
  }

  describe(): string {
    return `signed webhook to ${new URL(this.opts.url).origin}`;
  }

  async deliver(n: Notification): Promise<{ vendorRef?: string }> {
    const body = JSON.stringify({
      type: 'quell.notification',
      route: n.route,
      incidentId: n.incidentId,
      subject: n.subject,
      text: n.text,
      severity: n.severity,
      dedupKey: n.dedupKey,
      idempotencyKey: n.idempotencyKey,
      eventAction: n.eventAction ?? 'trigger',
      ...(n.link ? { link: n.link } : {}),
      sentAt: new Date(this.http.now()).toISOString(),
    });
    const t = Math.floor(this.http.now() / 1000);
    const op = `deliver webhook for ${n.incidentId}`;
    const res = await this.http.request({
      method: 'POST',
      url: this.opts.url,
      op,
      body,
      headers: {
        'content-type': 'application/json',
        [SIGNATURE_HEADER.toLowerCase()]: signQuellPayload(this.opts.secret, body, t),
        'idempotency-key': n.idempotencyKey,
      },
    });
    if (res.status >= 200 && res.status < 300) return { vendorRef: pickString(res.json, 'id') };
    throw this.http.errorFor(res, op, pickString(res.json, 'error') ?? pickString(res.json, 'message'));
  }
}

const webhookEntry = z.strictObject({ type: z.literal('webhook'), url, secretEnv: envName });

/** A route's signed generic webhook. */
export interface ResolvedWebhookChannel {
  type: 'webhook';
  route: string;
  url: string;
  secret: string;
}

/** `{ "type": "webhook", "url", "secretEnv" }`: its URL must be on QUELL_OUTBOUND_ALLOWLIST. */
export const webhookChannel = defineChannel<typeof webhookEntry, ResolvedWebhookChannel>({
  schema: webhookEntry,
  secrets: ['secretEnv'],
  resolve: (c, ctx) => ({ type: 'webhook', url: c.url, secret: ctx.secret('secretEnv', c.secretEnv) }),
  endpoints: () => [],
  webhook: { url: (c) => c.url },
  build: (c, ctx) => new SignedWebhookChannel({ url: c.url, secret: c.secret, ...ctx }),
  describe: (c) => `signed webhook (${origin(c.url)})`,
});
