import type { Logger } from 'pino';
import { type ConnectorError, PermanentConnectorError, TransientConnectorError } from '../errors';
import type { Notification, Notifier, NotifyResult } from '../types';
import type { NotificationChannel } from './channel';

export interface NotificationRouterOptions {
  logger?: Logger;
  /** How long delivered (idempotencyKey, channel) pairs are remembered; default 1 hour. */
  rememberMs?: number;
  now?: () => number;
}

/**
 * The Notifier activities use: route names (from configuration) onto one or more channels each.
 * `send` delivers to every channel of `n.route` (fan-out). An unknown route is a
 * {@link PermanentConnectorError}.
 *
 * Partial failures: channels that delivered are remembered by (idempotency key, channel) for `rememberMs`, so
 * a retry of the same notification (an activity retry) only goes to the channels that failed. The error
 * thrown is the first non-retryable failure if there is one (the retry would not help), else the first
 * retryable one. This memory is per process; across processes, PagerDuty's dedup key, the e-mail Message-ID
 * and the webhook Idempotency-Key let receivers drop duplicates.
 */
export class NotificationRouter implements Notifier {
  private readonly routeMap: Map<string, NotificationChannel[]>;
  private readonly delivered = new Map<string, { at: number; vendorRef?: string }>();
  private readonly logger?: Logger;
  private readonly rememberMs: number;
  private readonly now: () => number;

  constructor(
    routes: Record<string, NotificationChannel | NotificationChannel[]>,
    opts: NotificationRouterOptions = {},
  ) {
    this.routeMap = new Map(
      Object.entries(routes).map(([name, ch]) => [name, Array.isArray(ch) ? ch : [ch]] as const),
    );
    for (const [name, chans] of this.routeMap) {
      if (chans.length === 0) {
        throw new PermanentConnectorError(`notify: route ${name} has no channels`, { vendor: 'notify' });
      }
    }
    this.logger = opts.logger;
    this.rememberMs = opts.rememberMs ?? 3_600_000;
    this.now = opts.now ?? Date.now;
  }

  routes(): string[] {
    return [...this.routeMap.keys()].sort();
  }

  /** Each route with the channels it delivers to (no secrets), for banners. */
  describeRoutes(): Record<string, string[]> {
    return Object.fromEntries(
      this.routes().map((r) => [r, (this.routeMap.get(r) ?? []).map((c) => c.describe())]),
    );
  }

  async send(n: Notification): Promise<NotifyResult> {
    const channels = this.routeMap.get(n.route);
    if (!channels) {
      throw new PermanentConnectorError(
        `notify: unknown route ${JSON.stringify(n.route)} (configured: ${this.routes().join(', ') || 'none'})`,
        { vendor: 'notify' },
      );
    }
    this.prune();
    const refs: string[] = [];
    const failures: { channel: NotificationChannel; error: unknown }[] = [];
    await Promise.all(
      channels.map(async (channel, i) => {
        const key = `${n.idempotencyKey}\u0000${n.route}\u0000${i}`;
        const done = this.delivered.get(key);
        if (done) {
          if (done.vendorRef) refs.push(done.vendorRef);
          return;
        }
        try {
          const { vendorRef } = await channel.deliver(n);
          this.delivered.set(key, { at: this.now(), vendorRef });
          if (vendorRef) refs.push(vendorRef);
        } catch (error) {
          failures.push({ channel, error });
        }
      }),
    );
    if (failures.length === 0) {
      return { route: n.route, delivered: true, ...(refs.length ? { vendorRef: refs.join(',') } : {}) };
    }
    for (const f of failures) {
      this.logger?.warn(
        { route: n.route, channel: f.channel.describe(), error: (f.error as Error).message },
        'notification channel failed',
      );
    }
    const errors = failures.map((f) => f.error);
    const fatal = errors.find((e) => !isRetryable(e));
    const chosen = fatal ?? errors[0];
    if (failures.length < channels.length || failures.length > 1) {
      const summary = failures.map((f) => `${f.channel.kind}: ${(f.error as Error).message}`).join('; ');
      if (chosen instanceof Error && 'kind' in chosen) {
        (chosen as ConnectorError).message =
          `notify route ${n.route}: ${failures.length}/${channels.length} channel(s) failed: ${summary}`;
      }
    }
    if (chosen instanceof Error) throw chosen;
    throw new TransientConnectorError(`notify route ${n.route} failed`, { vendor: 'notify', cause: chosen });
  }

  private prune(): void {
    const cutoff = this.now() - this.rememberMs;
    for (const [k, v] of this.delivered) if (v.at < cutoff) this.delivered.delete(k);
  }
}

function isRetryable(e: unknown): boolean {
  return Boolean(e && typeof e === 'object' && (e as { retryable?: unknown }).retryable === true);
}
