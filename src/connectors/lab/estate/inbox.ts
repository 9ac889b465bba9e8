import { type EstateContext, isoAt, trim } from './history';

export interface LabMessage {
  seq: number;
  at: string;
  kind: 'slack' | 'slack-webhook';
  /** Channel (chat.postMessage) or webhook name (`/slack/webhook/<name>`). */
  channel: string;
  text?: string;
  blocks?: unknown;
  ts: string;
  /** For chat.postMessage: the channel's ID, as interaction payloads name it. */
  channelId?: string;
  /** What was posted to this message's response_url (lab interactions), oldest first. */
  responses?: LabSlackResponse[];
}

/** A post to a lab response_url: Slack's message fields as Quell sent them. */
export interface LabSlackResponse {
  at: string;
  replaceOriginal: boolean;
  responseType?: string;
  text?: string;
  blocks?: unknown;
}

export interface LabPagerDutyEvent {
  seq: number;
  at: string;
  eventAction: string;
  dedupKey: string;
  /** Only the last 4 characters of the routing key are kept. */
  routingKeyHint: string;
  payload?: unknown;
}

export const LAB_SLACK_CHANNELS: readonly string[] = [
  'soc',
  'oncall',
  'management',
  'responders',
  'incidents',
];

type AlertState = { status: 'triggered' | 'acknowledged' | 'resolved'; events: number };

/** What the estate received: Slack messages (Web API and incoming webhooks) and PagerDuty events. */
export class LabInbox {
  private messageList: LabMessage[] = [];
  private events: LabPagerDutyEvent[] = [];
  private readonly alerts = new Map<string, AlertState>();

  constructor(private readonly ctx: EstateContext) {}

  addMessage(m: Omit<LabMessage, 'seq' | 'at' | 'ts'>): LabMessage {
    const now = this.ctx.now();
    const seq = this.ctx.nextSeq();
    const msg: LabMessage = {
      ...m,
      seq,
      at: isoAt(now),
      ts: `${Math.floor(now / 1000)}.${String(seq).padStart(6, '0')}`,
    };
    this.messageList.push(msg);
    trim(this.messageList);
    this.ctx.changed();
    return msg;
  }

  /**
   * Records a post to a message's response_url; `replace_original` replaces the message's text and blocks,
   * as Slack does. Undefined when no message has that ts.
   */
  respondTo(ts: string, r: Omit<LabSlackResponse, 'at'>): LabSlackResponse | undefined {
    const msg = this.messageList.find((m) => m.ts === ts);
    if (!msg) return undefined;
    const response: LabSlackResponse = { at: isoAt(this.ctx.now()), ...r };
    msg.responses = [...(msg.responses ?? []), response];
    if (r.replaceOriginal) {
      if (r.text !== undefined) msg.text = r.text;
      if (r.blocks !== undefined) msg.blocks = r.blocks;
    }
    this.ctx.changed();
    return response;
  }

  addPagerDutyEvent(e: Omit<LabPagerDutyEvent, 'seq' | 'at'>): LabPagerDutyEvent {
    const event: LabPagerDutyEvent = { ...e, seq: this.ctx.nextSeq(), at: isoAt(this.ctx.now()) };
    this.events.push(event);
    trim(this.events);
    const alert = this.alerts.get(e.dedupKey);
    const status =
      e.eventAction === 'resolve'
        ? 'resolved'
        : e.eventAction === 'acknowledge'
          ? 'acknowledged'
          : 'triggered';
    if (alert) {
      // A trigger on a resolved alert opens a new one at PagerDuty; the lab just reopens it.
      alert.status = status;
      alert.events += 1;
    } else if (e.eventAction === 'trigger') {
      this.alerts.set(e.dedupKey, { status, events: 1 });
    }
    this.ctx.changed();
    return event;
  }

  messages(filter: { channel?: string; kind?: LabMessage['kind'] } = {}): LabMessage[] {
    return this.messageList.filter(
      (m) => (!filter.channel || m.channel === filter.channel) && (!filter.kind || m.kind === filter.kind),
    );
  }

  pagerDutyEvents(): LabPagerDutyEvent[] {
    return [...this.events];
  }

  pagerDutyAlerts(): Record<string, { status: string; events: number }> {
    return Object.fromEntries([...this.alerts].map(([k, v]) => [k, { ...v }]));
  }

  persisted(): {
    messages: LabMessage[];
    pagerduty: LabPagerDutyEvent[];
    pagerdutyAlerts: [string, AlertState][];
  } {
    return { messages: this.messageList, pagerduty: this.events, pagerdutyAlerts: [...this.alerts] };
  }

  restore(messages: LabMessage[], pagerduty: LabPagerDutyEvent[], alerts: [string, AlertState][]): void {
    this.messageList = messages;
    this.events = pagerduty;
    this.alerts.clear();
    for (const [k, v] of alerts) this.alerts.set(k, v);
  }
}
