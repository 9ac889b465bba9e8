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

/** Escapes Slack mrkdwn control characters (`&`, `<`, `>`). */
export function slackEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The one-line text of a notification (Slack fallback text, e-mail subject). */
export function plainLine(n: Notification): string {
  const action = n.eventAction === 'resolve' ? 'RESOLVED ' : '';
  return `[${n.severity.toUpperCase()}] ${action}${n.incidentId}: ${n.subject}`;
}

/** Slack Block Kit blocks for a notification: a header, the text, and a context line. */
export function slackBlocks(n: Notification): unknown[] {
  const header = `${n.eventAction === 'resolve' ? 'Resolved: ' : ''}${n.subject}`.slice(0, 150);
  const context = [
    `${SEVERITY_EMOJI[n.severity]} *${n.severity}*`,
    `incident \`${slackEscape(n.incidentId)}\``,
    ...(n.link ? [`<${n.link.replace(/[<>|]/g, '')}|open in Quell>`] : []),
  ].join('  ·  ');
  return [
    { type: 'header', text: { type: 'plain_text', text: header || n.incidentId } },
    { type: 'section', text: { type: 'mrkdwn', text: slackEscape(n.text).slice(0, 3000) || '_(no text)_' } },
    { type: 'context', elements: [{ type: 'mrkdwn', text: context }] },
  ];
}
