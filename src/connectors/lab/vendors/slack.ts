import express, { type Router } from 'express';
import { bearer, bodyOf, locals, str } from '../http';
import { LAB_SLACK_CHANNELS } from '../estate/inbox';
import { LAB_CREDENTIALS, LAB_PREFIXES } from '../credentials';
import type { LabMessage } from '../estate/inbox';
import type { LabStore } from '../store';
import { slackSignature } from '../../notify/slack-signature';

/** The lab's Slack workspace, as interaction payloads name it. */
export const LAB_SLACK_TEAM_ID = 'T0LAB00001';

/** The lab's Slack: `chat.postMessage` with the bot token, and incoming webhooks by name. */
export function slackRouter(store: LabStore): Router {
  const r = express.Router();
  const channels = new Map(
    LAB_SLACK_CHANNELS.map((name, i) => [name, `C0LAB${String(i + 1).padStart(4, '0')}`]),
  );
  r.post('/api/chat.postMessage', (req, res) => {
    const token = bearer(req) ?? str(bodyOf(req).token);
    if (!token) {
      res.json({ ok: false, error: 'not_authed' });
      return;
    }
    if (token !== store.credentials.slack.botToken || locals(res).authExpired) {
      res.json({ ok: false, error: 'invalid_auth' });
      return;
    }
    const b = bodyOf(req);
    const raw = typeof b.channel === 'string' ? b.channel.replace(/^#/, '') : '';
    const channelId = channels.get(raw) ?? ([...channels.values()].includes(raw) ? raw : undefined);
    if (!channelId) {
      res.json({ ok: false, error: 'channel_not_found' });
      return;
    }
    const text = typeof b.text === 'string' ? b.text : undefined;
    if (!text && !b.blocks) {
      res.json({ ok: false, error: 'no_text' });
      return;
    }
    const name = [...channels].find(([, id]) => id === channelId)?.[0] ?? raw;
    const msg = store.addMessage({
      kind: 'slack',
      channel: name,
      channelId,
      ...(text ? { text } : {}),
      ...(b.blocks ? { blocks: b.blocks } : {}),
    });
    res.json({
      ok: true,
      channel: channelId,
      ts: msg.ts,
      message: { type: 'message', text: text ?? '', ts: msg.ts },
    });
  });
  // A message's response_url (lab interactions point here): Slack answers 200 "ok", or 404 for an unknown URL.
  r.post('/response/:ts', (req, res) => {
    const b = bodyOf(req);
    const recorded = store.respondToSlackMessage(String(req.params.ts), {
      replaceOriginal: b.replace_original === true || b.replace_original === 'true',
      ...(typeof b.response_type === 'string' ? { responseType: b.response_type } : {}),
      ...(typeof b.text === 'string' ? { text: b.text } : {}),
      ...(b.blocks !== undefined ? { blocks: b.blocks } : {}),
    });
    if (!recorded) {
      res.status(404).type('text/plain').send('expired_url');
      return;
    }
    res.status(200).type('text/plain').send('ok');
  });
  r.post('/webhook/:name', (req, res) => {
    if (locals(res).authExpired) {
      res.status(403).type('text/plain').send('invalid_token');
      return;
    }
    const b = bodyOf(req);
    const text = typeof b.text === 'string' ? b.text : undefined;
    if (!text && !b.blocks) {
      res.status(400).type('text/plain').send('no_text');
      return;
    }
    store.addMessage({
      kind: 'slack-webhook',
      channel: String(req.params.name),
      ...(text ? { text } : {}),
      ...(b.blocks ? { blocks: b.blocks } : {}),
    });
    res.status(200).type('text/plain').send('ok');
  });
  return r;
}

export interface LabSlackClick {
  /** The lab's base URL: the payload's response_url points at this lab's `/slack/response/<ts>`. */
  labUrl: string;
  /** The posted message (from the store) whose button is clicked. */
  message: LabMessage;
  userId: string;
  teamId?: string;
  /** The button's action_id. */
  actionId: string;
  /** Default the lab app's signing secret. */
  signingSecret?: string;
  /** Unix seconds the request is signed at; default now. */
  timestamp?: number;
}

/**
 * A click on a button of a posted message, as Slack sends it to an app's interactivity URL: a
 * `block_actions` payload in the `payload` form field, signed with `X-Slack-Signature` /
 * `X-Slack-Request-Timestamp`. Thrown when the message has no button with that action_id.
 */
export function labSlackInteraction(click: LabSlackClick): {
  body: string;
  headers: Record<string, string>;
  payload: Record<string, unknown>;
} {
  const { message, userId } = click;
  const teamId = click.teamId ?? LAB_SLACK_TEAM_ID;
  const blocks = Array.isArray(message.blocks) ? (message.blocks as Record<string, unknown>[]) : [];
  let button: Record<string, unknown> | undefined;
  let blockId: unknown;
  for (const block of blocks) {
    if (block.type !== 'actions' || !Array.isArray(block.elements)) continue;
    button = (block.elements as Record<string, unknown>[]).find((e) => e.action_id === click.actionId);
    if (button) {
      blockId = block.block_id;
      break;
    }
  }
  if (!button) throw new Error(`message ${message.ts} has no button ${click.actionId}`);
  const now = Date.now();
  const payload = {
    type: 'block_actions',
    user: { id: userId, username: userId.toLowerCase(), name: userId.toLowerCase(), team_id: teamId },
    api_app_id: 'A0LAB00001',
    container: {
      type: 'message',
      message_ts: message.ts,
      channel_id: message.channelId,
      is_ephemeral: false,
    },
    trigger_id: `${now}.lab`,
    team: { id: teamId, domain: 'quell-lab' },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: message.channelId ?? message.channel, name: message.channel },
    message: { type: 'message', ts: message.ts, text: message.text ?? '', blocks: message.blocks },
    response_url: `${click.labUrl.replace(/\/+$/, '')}${LAB_PREFIXES.slack}/response/${message.ts}`,
    actions: [
      {
        type: 'button',
        action_id: click.actionId,
        block_id: blockId,
        text: button.text,
        value: button.value,
        ...(button.style ? { style: button.style } : {}),
        action_ts: `${Math.floor(now / 1000)}.000001`,
      },
    ],
  };
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const timestamp = click.timestamp ?? Math.floor(now / 1000);
  return {
    body,
    payload,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': String(timestamp),
      'x-slack-signature': slackSignature(
        click.signingSecret ?? LAB_CREDENTIALS.slack.signingSecret,
        timestamp,
        body,
      ),
    },
  };
}
