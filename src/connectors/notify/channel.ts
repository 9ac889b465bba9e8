import { oneLine, slackText } from '../../domain/untrusted-text';
import type { z } from 'zod';
import type { BuildContext } from '../descriptor';
import type { Notification } from '../types';
import { approvalCardBlocks } from './slack-approval';

/** One delivery channel (a Slack channel, a PagerDuty service, a mailbox, a webhook). */
export interface NotificationChannel {
  /** The channel type, e.g. "slack", "slack-webhook", "pagerduty", "email", "webhook". */
  readonly kind: string;
  /** Where it delivers, for banners and logs: never a secret (no tokens, no webhook paths). */
  describe(): string;
  /** Delivers the notification or throws a connector error; returns the vendor's reference if it gives one. */
  deliver(n: Notification): Promise<{ vendorRef?: string }>;
}

const SEVERITY_EMOJI: Record<Notification['severity'], string> = {
  critical: ':red_circle:',
  high: ':large_orange_circle:',
  medium: ':large_yellow_circle:',
  low: ':white_circle:',
};

/**
 * The one-line text of a notification (Slack fallback text, e-mail subject): the channel, not the workflow, puts
 * the severity and the incident ID in front, once.
 */
export function plainLine(n: Notification): string {
  const action = n.eventAction === 'resolve' ? 'RESOLVED ' : '';
  return oneLine(`[${n.severity.toUpperCase()}] ${action}${n.incidentId}: ${n.subject}`);
}

/**
 * Slack Block Kit blocks for a notification: a header, the text, the approval card with Approve / Reject when
 * the notification asks for a decision, and a context line.
 */
export function slackBlocks(n: Notification): unknown[] {
  const header = oneLine(`${n.eventAction === 'resolve' ? 'Resolved: ' : ''}${n.subject}`).slice(0, 150);
  const context = [
    `${SEVERITY_EMOJI[n.severity]} *${n.severity}*`,
    `incident \`${slackText(n.incidentId)}\``,
    ...(n.link ? [`<${n.link.replace(/[<>|]/g, '')}|open in Quell>`] : []),
  ].join('  ·  ');
  return [
    { type: 'header', text: { type: 'plain_text', text: header || n.incidentId } },
    { type: 'section', text: { type: 'mrkdwn', text: slackText(n.text).slice(0, 3000) || '_(no text)_' } },
    ...(n.approval ? approvalCardBlocks(n.incidentId, n.approval) : []),
    { type: 'context', elements: [{ type: 'mrkdwn', text: context }] },
  ];
}

// ---------------------------------------------------------------------------------------------------------
// Channel types: how a QUELL_NOTIFY_ROUTES entry becomes a channel
// ---------------------------------------------------------------------------------------------------------

/** What a channel type's `resolve` may use besides the route's entry. */
export interface ChannelResolveContext {
  /** The lab estate's base URL, without a trailing slash. */
  readonly labUrl: string;
  readonly route: string;
  /**
   * The value of the environment variable an entry names for a secret (`tokenEnv`, say); reports it when
   * that variable is not set. '' when the entry names none.
   */
  secret(field: string, name: string | undefined): string;
  /** Reports a problem with the entry, or with one of its fields. */
  problem(message: string, field?: string): void;
}

/** A resolved channel: its `type` names the channel type that builds it. */
export interface ResolvedChannelBase {
  type: string;
  route: string;
}

/**
 * One kind of notification channel, declared beside its connector and registered in the channel table
 * (`registry.ts`) under the `type` a route entry gives.
 */
export interface ChannelDescriptor<S extends z.ZodObject, R extends ResolvedChannelBase> {
  /** The route entry: a strict object whose `type` is the channel type's key. */
  schema: S;
  /** The entry's fields that name environment variables holding secrets. */
  secrets: readonly (keyof z.output<S> & string)[];
  /** A lab channel: whoever runs Quell must then run the lab too. */
  lab?: true;
  /** The resolved channel (without `route`, which is added); problems go to `ctx`. */
  resolve(entry: z.output<S>, ctx: ChannelResolveContext): Omit<R, 'route'>;
  /** The URLs the channel calls by configuration (an API base): they go on the outbound allow-list. */
  endpoints(channel: R): string[];
  /**
   * For a channel that posts to an arbitrary configured URL: that URL. It must be on the allow-list
   * (QUELL_OUTBOUND_ALLOWLIST, the vendors' endpoints, the lab) or under `alsoAllowed`, which is then added.
   */
  webhook?: { url(channel: R): string; alsoAllowed?: string };
  build(channel: R, ctx: BuildContext): NotificationChannel;
  /** The banner's words for it: vendor and origin, never a secret. */
  describe(channel: R): string;
}

/** Declares a channel type (the identity function: it checks the descriptor against its two types). */
export function defineChannel<S extends z.ZodObject, R extends ResolvedChannelBase>(
  d: ChannelDescriptor<S, R>,
): ChannelDescriptor<S, R> {
  return d;
}

/** The channel a channel type resolves to. */
export type ChannelOf<D> = D extends ChannelDescriptor<z.ZodObject, infer R> ? R : never;
