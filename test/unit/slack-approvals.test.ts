import { createHmac } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadSlackInteractionsConfig, SLACK_RESPONSE_ORIGIN } from '../../src/api/slack-interactions';
import { ConfigError } from '../../src/config';
import { slackBlocks } from '../../src/connectors/notify/channel';
import {
  approvalButtonValue,
  parseApprovalButtonValue,
  SLACK_APPROVE_ACTION,
} from '../../src/connectors/notify/slack-approval';
import { slackSignature, verifySlackSignature } from '../../src/connectors/notify/slack-signature';

const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';

describe("Slack request signing (Slack's documented v0 scheme)", () => {
  const body = Buffer.from('payload=%7B%22type%22%3A%22block_actions%22%7D');
  const now = 1_700_000_000_000;
  const ts = String(now / 1000);
  const headers = (signature: string | undefined, timestamp: string | undefined = ts) => ({
    signature,
    timestamp,
  });

  it('is v0= and the hex HMAC-SHA256 of "v0:<timestamp>:<raw body>" with the signing secret', () => {
    const expected = createHmac('sha256', SECRET).update(`v0:${ts}:${body.toString()}`).digest('hex');
    expect(slackSignature(SECRET, ts, body)).toBe(`v0=${expected}`);
    expect(verifySlackSignature(SECRET, headers(`v0=${expected}`), body, now)).toEqual({ ok: true });
  });

  it('refuses a missing header, a malformed one, another secret, and a changed body', () => {
    const good = slackSignature(SECRET, ts, body);
    expect(verifySlackSignature(SECRET, headers(undefined), body, now)).toEqual({
      ok: false,
      reason: 'missing',
    });
    expect(verifySlackSignature(SECRET, { signature: good, timestamp: undefined }, body, now)).toEqual({
      ok: false,
      reason: 'missing',
    });
    expect(verifySlackSignature(SECRET, headers('v1=abc'), body, now)).toMatchObject({ reason: 'malformed' });
    expect(verifySlackSignature(SECRET, headers(good, '17e8'), body, now)).toMatchObject({
      reason: 'malformed',
    });
    expect(verifySlackSignature(SECRET, headers(good.toUpperCase()), body, now)).toMatchObject({ ok: false });
    expect(verifySlackSignature('another-secret', headers(good), body, now)).toMatchObject({
      reason: 'mismatch',
    });
    expect(
      verifySlackSignature(SECRET, headers(good), Buffer.from(`${body.toString()}x`), now),
    ).toMatchObject({
      reason: 'mismatch',
    });
  });

  it('covers the raw bytes: a re-encoding of the same form does not verify', () => {
    const raw = Buffer.from('payload=%7B%22a%22%3A1%7D');
    const sig = slackSignature(SECRET, ts, raw);
    expect(verifySlackSignature(SECRET, headers(sig), Buffer.from('payload={"a":1}'), now)).toMatchObject({
      reason: 'mismatch',
    });
  });

  it('accepts a timestamp within 5 minutes either way and refuses one outside (a replay)', () => {
    for (const skew of [-300, 0, 299]) {
      const t = String(now / 1000 + skew);
      expect(verifySlackSignature(SECRET, headers(slackSignature(SECRET, t, body), t), body, now)).toEqual({
        ok: true,
      });
    }
    for (const skew of [-301, 301, -86_400]) {
      const t = String(now / 1000 + skew);
      expect(verifySlackSignature(SECRET, headers(slackSignature(SECRET, t, body), t), body, now)).toEqual({
        ok: false,
        reason: 'stale',
      });
    }
  });
});

describe('Slack approvals configuration (QUELL_SLACK_SIGNING_SECRET, QUELL_SLACK_USERS[_FILE])', () => {
  it('is off without a signing secret (never defaulted), and a mapping without one is an error', () => {
    expect(loadSlackInteractionsConfig({})).toBeUndefined();
    expect(() => loadSlackInteractionsConfig({ QUELL_SLACK_USERS: '{}' })).toThrow(ConfigError);
    expect(() => loadSlackInteractionsConfig({ QUELL_SLACK_USERS: '{}' })).toThrow(
      /QUELL_SLACK_SIGNING_SECRET/,
    );
  });

  it('maps Slack user IDs to subjects and roles, from the variable or a file', async () => {
    const users = {
      U123ABC: { subject: 'alice', roles: ['approver'] },
      W0GRID1: { subject: 'bob', roles: ['approver'], team: 'T0AAA' },
    };
    const inline = loadSlackInteractionsConfig({
      QUELL_SLACK_SIGNING_SECRET: SECRET,
      QUELL_SLACK_USERS: JSON.stringify(users),
    })!;
    expect(inline.signingSecret).toBe(SECRET);
    expect(inline.users.get('U123ABC')).toEqual({ subject: 'alice', roles: ['approver'] });
    expect(inline.users.get('W0GRID1')).toEqual({ subject: 'bob', roles: ['approver'], team: 'T0AAA' });
    expect(inline.responseUrlAllowList).toEqual([SLACK_RESPONSE_ORIGIN]);

    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-slack-users-'));
    const file = path.join(dir, 'users.json');
    await fs.writeFile(file, JSON.stringify(users));
    const fromFile = loadSlackInteractionsConfig({
      QUELL_SLACK_SIGNING_SECRET: SECRET,
      QUELL_SLACK_USERS_FILE: file,
    })!;
    expect([...fromFile.users.keys()]).toEqual(['U123ABC', 'W0GRID1']);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('names what is wrong: bad JSON, a bad user ID, an unknown role, an unknown field, both sources', () => {
    const load = (users: string) =>
      loadSlackInteractionsConfig({ QUELL_SLACK_SIGNING_SECRET: SECRET, QUELL_SLACK_USERS: users });
    expect(() => load('{')).toThrow(/not valid JSON/);
    expect(() => load('{"alice": {"subject": "alice", "roles": ["approver"]}}')).toThrow(/Slack user ID/);
    expect(() => load('{"U123ABC": {"subject": "alice", "roles": ["boss"]}}')).toThrow(/U123ABC\.roles\.0/);
    expect(() => load('{"U123ABC": {"subject": "alice", "roles": ["approver"], "admin": true}}')).toThrow(
      /U123ABC/,
    );
    expect(() =>
      loadSlackInteractionsConfig({
        QUELL_SLACK_SIGNING_SECRET: SECRET,
        QUELL_SLACK_USERS: '{}',
        QUELL_SLACK_USERS_FILE: '/nonexistent',
      }),
    ).toThrow(/not both/);
  });
});

describe('the approval card', () => {
  const notice = {
    approvalId: 'apr-3',
    action: 'disable_account',
    target: 'j.doe <!channel> <https://evil.example|click>',
    why: 'Ransomware & worse: <@U999>',
    undo: 're-enable the account',
    severity: 'high' as const,
    policy: 'two_person' as const,
    requiredApprovers: 2,
    approversNeeded: 2,
    requestedBy: ['siem-forwarder'],
    expiresAt: '2026-12-01T15:00:00.000Z',
  };
  const blocks = slackBlocks({
    route: 'soc',
    incidentId: 'INC-d7d935a78b34c43d-4b81c0',
    subject: 'approval apr-3',
    text: 'Approval apr-3 requested',
    severity: 'high',
    dedupKey: 'k',
    idempotencyKey: 'k:1',
    approval: notice,
  });
  const json = JSON.stringify(blocks);

  it('carries Approve / Reject naming the incident and the approval', () => {
    const actions = blocks.find((b) => (b as { type: string }).type === 'actions') as {
      elements: { action_id: string; value: string }[];
    };
    expect(actions.elements.map((e) => e.action_id)).toEqual([SLACK_APPROVE_ACTION, 'quell_reject']);
    expect(parseApprovalButtonValue(actions.elements[0]!.value)).toEqual({
      incidentId: 'INC-d7d935a78b34c43d-4b81c0',
      approvalId: 'apr-3',
    });
    expect(json).toContain('2 of 2 still needed (two distinct people)');
    expect(json).toContain('<!date^1796137200^');
  });

  it('escapes untrusted text: no mentions or links from alert data', () => {
    expect(json).not.toContain('<!channel>');
    expect(json).not.toContain('<https://evil');
    expect(json).not.toContain('<@U999>');
    expect(json).toContain('&lt;!channel&gt;');
    expect(json).toContain('Ransomware &amp; worse');
  });

  it('reads back only the values it writes', () => {
    expect(parseApprovalButtonValue(approvalButtonValue('INC-abc-123', 'apr-12'))).toEqual({
      incidentId: 'INC-abc-123',
      approvalId: 'apr-12',
    });
    for (const v of ['', 'INC-abc apr-x', 'INC-abc apr-1 extra', 'x apr-1']) {
      expect(parseApprovalButtonValue(v)).toBeUndefined();
    }
  });
});
