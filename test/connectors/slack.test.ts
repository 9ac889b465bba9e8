import { LAB_CREDENTIALS } from '../../src/connectors/lab';
import { SlackWebApiChannel, SlackWebhookChannel } from '../../src/connectors/notify/slack';
import type { Notification } from '../../src/connectors/types';
import {
  ERROR_NAMES,
  expectConnectorError,
  faultMatrix,
  json,
  labAllowList,
  startContractServer,
  useLab,
} from './support';

const ctl = useLab();

function note(over: Partial<Notification> = {}): Notification {
  return {
    route: 'soc',
    incidentId: 'INC-42',
    subject: 'Host ws-fin-042 contained',
    text: 'Contained <b>ws-fin-042</b> & revoked sessions',
    severity: 'high',
    dedupKey: 'INC-42',
    idempotencyKey: `INC-42:notify-${Math.random()}`,
    link: 'http://127.0.0.1:8080/incidents/INC-42',
    ...over,
  };
}

function api(opts: { token?: string; channel?: string; timeoutMs?: number } = {}) {
  return new SlackWebApiChannel({
    baseUrl: `${ctl.lab.url}/slack`,
    token: opts.token ?? LAB_CREDENTIALS.slack.botToken,
    channel: opts.channel ?? '#soc',
    allowList: labAllowList(ctl.lab),
    timeoutMs: opts.timeoutMs ?? 2_000,
  });
}

function hook(name = 'soc', timeoutMs = 2_000) {
  return new SlackWebhookChannel({
    url: `${ctl.lab.url}/slack/webhook/${name}`,
    allowList: labAllowList(ctl.lab),
    timeoutMs,
  });
}

describe('Slack Web API channel against the lab', () => {
  it('posts text and blocks with the bot token, returning the message ts', async () => {
    const res = await api().deliver(note());
    expect(res.vendorRef).toMatch(/^\d+\.\d{6}$/);
    const msg = ctl.lab.store.messages({ kind: 'slack' }).at(-1)!;
    expect(msg.channel).toBe('soc');
    expect(msg.text).toBe('[HIGH] INC-42: Host ws-fin-042 contained');
    const blocks = msg.blocks as { type: string; text?: { text: string } }[];
    expect(blocks.map((b) => b.type)).toEqual(['header', 'section', 'context']);
    expect(blocks[1]!.text!.text).toBe('Contained &lt;b&gt;ws-fin-042&lt;/b&gt; &amp; revoked sessions');
  });

  it('maps ok:false errors: invalid_auth and token expiry -> auth, channel_not_found -> not found', async () => {
    await expectConnectorError(api({ token: 'xoxb-wrong' }).deliver(note()), 'auth', ERROR_NAMES.auth);
    ctl.lab.store.addFault({ match: { vendor: 'slack' }, fault: 'auth_expired', times: 1 });
    await expectConnectorError(api().deliver(note()), 'auth');
    await expectConnectorError(api({ channel: '#nope' }).deliver(note()), 'not_found', ERROR_NAMES.not_found);
  });

  describe('error mapping', () => {
    faultMatrix(
      () => ctl.lab,
      'slack',
      (timeoutMs) => api({ timeoutMs }).deliver(note()),
      { pathPattern: 'chat\\.postMessage' },
    );
  });
});

describe('Slack incoming webhook channel against the lab', () => {
  it('posts {text, blocks} and the lab stores it under the webhook name', async () => {
    await hook('responders').deliver(note({ eventAction: 'resolve' }));
    const msg = ctl.lab.store.messages({ kind: 'slack-webhook', channel: 'responders' }).at(-1)!;
    expect(msg.text).toBe('[HIGH] RESOLVED INC-42: Host ws-fin-042 contained');
    expect((msg.blocks as unknown[]).length).toBe(3);
  });

  it('maps webhook refusals by status', async () => {
    ctl.lab.store.addFault({
      match: { vendor: 'slack', pathPattern: '/webhook/' },
      fault: 'auth_expired',
      times: 1,
    });
    await expectConnectorError(hook().deliver(note()), 'auth');
  });

  describe('error mapping', () => {
    faultMatrix(
      () => ctl.lab,
      'slack',
      (timeoutMs) => hook('soc', timeoutMs).deliver(note()),
      { pathPattern: '/webhook/' },
    );
  });
});

describe('Slack contract details', () => {
  it('maps the remaining Web API and webhook answers', async () => {
    const answers: [number, unknown, Record<string, string>?][] = [
      [200, { ok: false, error: 'token_revoked' }],
      [200, { ok: false, error: 'not_authed' }],
      [200, { ok: false, error: 'ratelimited' }, { 'retry-after': '12' }],
      [200, { ok: false, error: 'internal_error' }],
      [200, { ok: false, error: 'msg_too_long' }],
      [410, 'channel_is_archived'],
      [404, 'no_service'],
    ];
    let i = 0;
    const server = await startContractServer((req, res) => {
      const [status, body, headers] = answers[i++]!;
      if (typeof body === 'string')
        res.writeHead(status, { 'content-type': 'text/plain', ...headers }).end(body);
      else json(res, status, body, headers);
      expect(req.headers.authorization === 'Bearer xoxb-t' || req.url.startsWith('/hook')).toBe(true);
    });
    try {
      const ch = new SlackWebApiChannel({
        baseUrl: server.url,
        token: 'xoxb-t',
        channel: 'C1',
        allowList: [server.url],
      });
      await expectConnectorError(ch.deliver(note()), 'auth');
      await expectConnectorError(ch.deliver(note()), 'auth');
      const rl = await expectConnectorError(ch.deliver(note()), 'rate_limited');
      expect(rl.details.retryAfterMs).toBe(12_000);
      await expectConnectorError(ch.deliver(note()), 'transient');
      await expectConnectorError(ch.deliver(note()), 'permanent');
      const wh = new SlackWebhookChannel({
        url: `${server.url}/hook/T1/B1/secretpart`,
        allowList: [server.url],
      });
      await expectConnectorError(wh.deliver(note()), 'not_found');
      await expectConnectorError(wh.deliver(note()), 'not_found');
      expect(wh.describe()).not.toContain('secretpart');
      expect(server.requests[0]!.url).toBe('/api/chat.postMessage');
      expect(JSON.parse(server.requests[0]!.body)).toMatchObject({ channel: 'C1', text: expect.any(String) });
    } finally {
      await server.stop();
    }
  });
});
