import { oneLine, slackText } from '../../domain/untrusted-text';
import type { Notification } from '../types';

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

/** Slack Block Kit blocks for a notification: a header, the text, and a context line. */
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
    { type: 'context', elements: [{ type: 'mrkdwn', text: context }] },
  ];
}
