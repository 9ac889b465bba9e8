import express, { type Router } from 'express';
import { bearer, bodyOf, locals, str } from '../http';
import { LAB_SLACK_CHANNELS } from '../estate/inbox';
import type { LabStore } from '../store';

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
