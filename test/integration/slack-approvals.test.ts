import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createApp, settleBackgroundWork } from '../../src/api/app';
import type { SlackInteractionsConfig } from '../../src/api/slack-interactions';
import { createAuditService } from '../../src/audit/service';
import { createConnectors } from '../../src/connectors/config';
import {
  LAB_CREDENTIALS,
  LAB_SLACK_TEAM_ID,
  labSlackInteraction,
  startLabServer,
  type LabMessage,
  type RunningLab,
} from '../../src/connectors/lab';
import { SLACK_APPROVE_ACTION, SLACK_REJECT_ACTION } from '../../src/connectors/notify/slack-approval';
import { slackSignature } from '../../src/connectors/notify/slack-signature';
import { testAuth, memoryLogger } from '../api/support/harness';
import { actors, startHarness, testPlaybookYaml, type Harness } from '../support/incident-harness';
import { waitFor } from '../support/processes';

// Disabling an account always waits for one approver; isolating a host is automatic.
const playbook = testPlaybookYaml(`containment:
  isolate_host:
    approval: { critical: auto, high: auto, medium: auto, low: auto }
  disable_account:
    approval: { critical: approve, high: approve, medium: two_person, low: two_person }`);
const expiring = testPlaybookYaml(`containment:
  disable_account:
    approval: { critical: approve, high: approve, medium: approve, low: approve }
approvals: { escalateAfter: 1s, expireAfter: 2s, onExpiry: reject, escalationRoutes: [oncall] }`);

const USERS = {
  alice: 'U0ALICE01', // approver
  bob: 'U0BOB0001', // approver
  rita: 'U0RITA001', // responder only
  siem: 'U0SIEM001', // the identity that raised the alert, mapped with the approver role
  nobody: 'U0NOBODY1', // not mapped
};

describe('Slack approvals: the lab posts the card, a signed click decides through the incident workflow', () => {
  let lab: RunningLab;
  let dataDir: string;
  let h: Harness;
  let app: ReturnType<typeof createApp>;
  /** A second worker and API whose playbook lets approvals expire in 2 s. */
  let hx: Harness;
  let appX: ReturnType<typeof createApp>;

  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-slack-'));
    lab = await startLabServer({ port: 0 });
    const connectors = createConnectors(
      {
        QUELL_HTTP_TIMEOUT_MS: '2000',
        LAB_SLACK_BOT_TOKEN: LAB_CREDENTIALS.slack.botToken,
        QUELL_NOTIFY_ROUTES: JSON.stringify({
          soc: {
            type: 'slack',
            channel: '#soc',
            tokenEnv: 'LAB_SLACK_BOT_TOKEN',
            baseUrl: `${lab.url}/slack`,
          },
          oncall: { type: 'lab' },
        }),
      },
      { dataDir, labUrl: lab.url },
    );
    h = await startHarness({ connectors, playbookYaml: playbook });
    const slack: SlackInteractionsConfig = {
      signingSecret: LAB_CREDENTIALS.slack.signingSecret,
      users: new Map([
        [USERS.alice, { subject: actors.alice.subject, roles: actors.alice.roles }],
        [USERS.bob, { subject: actors.bob.subject, roles: actors.bob.roles, team: LAB_SLACK_TEAM_ID }],
        [USERS.rita, { subject: actors.rita.subject, roles: actors.rita.roles }],
        [USERS.siem, { subject: actors.siem.subject, roles: ['approver'] }],
      ]),
      responseUrlAllowList: [`${lab.url}/slack/`],
    };
    const api = (harness: Harness) =>
      createApp({
        client: harness.client,
        incidents: harness.service,
        taskQueue: harness.worker.taskQueue,
        logger: memoryLogger().logger,
        auth: testAuth(),
        rateLimit: false,
        slack,
      });
    app = api(h);
    hx = await startHarness({ connectors, playbookYaml: expiring });
    appX = api(hx);
  });
  afterAll(async () => {
    await hx?.stop();
    await h?.stop();
    await lab?.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  const card = (incidentId: string) =>
    waitFor(
      async () =>
        lab.store
          .messages({ channel: 'soc', kind: 'slack' })
          .find((m) => JSON.stringify(m.blocks ?? []).includes(`${incidentId} apr-1`)),
      20_000,
      'the approval card in #soc',
    );
  const message = (ts: string) => lab.store.messages().find((m) => m.ts === ts)!;
  const click = (msg: LabMessage, userId: string, actionId = SLACK_APPROVE_ACTION, to = app) => {
    const i = labSlackInteraction({ labUrl: lab.url, message: msg, userId, actionId });
    return request(to).post('/api/v1/integrations/slack/interactions').set(i.headers).send(i.body);
  };
  /** Waits for the n-th post to the message's response_url. */
  const response = (ts: string, n: number) =>
    waitFor(async () => message(ts).responses?.[n - 1], 20_000, `response ${n} to ${ts}`);

  async function openIncident(raisedBy?: string) {
    const account = `slack.user.${randomUUID().slice(0, 8)}`;
    const { incidentId } = await h.ingest({ severity: 'high', hosts: [], accounts: [account] }, raisedBy);
    await h.until(incidentId, (s) => s.approvals.some((a) => a.state === 'pending'), 'pending approval');
    return { incidentId, account, card: await card(incidentId) };
  }

  it('posts Approve / Reject with the approval context; refusals are told in words; an approver decides via slack', async () => {
    const { incidentId, account, card: posted } = await openIncident();
    const original = structuredClone(posted);
    const blocks = JSON.stringify(posted.blocks);
    for (const expected of [
      SLACK_APPROVE_ACTION,
      SLACK_REJECT_ACTION,
      'disable_account',
      account,
      '*Why*',
      '*Undo*',
      're-enable the account',
      '*Severity*\\nhigh',
      `*Requested by*\\n${actors.siem.subject}`,
      '1 of 1 still needed',
      '*Expires*',
    ]) {
      expect(blocks).toContain(expected);
    }
    expect(posted.channelId).toMatch(/^C0LAB/);

    // The alert's raiser may not approve it (the workflow refuses and records it, Slack identity included).
    expect((await click(posted, USERS.siem)).status).toBe(200);
    const self = await response(posted.ts, 1);
    expect(self).toMatchObject({ replaceOriginal: false, responseType: 'ephemeral' });
    expect(self.text).toContain('raised or requested this action');
    // Unmapped Slack user: refused before the workflow, visibly.
    expect((await click(posted, USERS.nobody)).status).toBe(200);
    expect((await response(posted.ts, 2)).text).toContain(`Quell does not know Slack user ${USERS.nobody}`);
    // A responder without the approver role.
    expect((await click(posted, USERS.rita)).status).toBe(200);
    expect((await response(posted.ts, 3)).text).toContain('rita does not hold the approver role');

    let s = await h.state(incidentId);
    const pending = s.approvals.find((a) => a.approvalId === 'apr-1')!;
    expect(pending.state).toBe('pending');
    expect(pending.refusedAttempts).toEqual([
      expect.objectContaining({
        decider: actors.siem.subject,
        type: 'SelfApproval',
        via: 'slack',
        slack: { userId: USERS.siem, teamId: LAB_SLACK_TEAM_ID },
      }),
      expect.objectContaining({ decider: 'rita', type: 'NotAnApprover', via: 'slack' }),
    ]);

    // An approver approves: recorded as alice via slack, and the card is replaced with the outcome.
    expect((await click(posted, USERS.alice)).status).toBe(200);
    const decided = await response(posted.ts, 4);
    expect(decided.replaceOriginal).toBe(true);
    expect(decided.text).toContain('Approved by alice');
    expect(JSON.stringify(decided.blocks)).toContain('approved by *alice* via slack');
    expect(JSON.stringify(decided.blocks)).not.toContain(SLACK_APPROVE_ACTION);
    expect(JSON.stringify(message(posted.ts).blocks)).not.toContain(SLACK_APPROVE_ACTION);
    s = await h.until(incidentId, (x) => x.approvals[0]!.state === 'approved', 'approved');
    expect(s.approvals[0]!.decisions).toEqual([
      expect.objectContaining({
        decision: 'approve',
        decider: 'alice',
        via: 'slack',
        slack: { userId: USERS.alice, teamId: LAB_SLACK_TEAM_ID },
      }),
    ]);
    await h.until(
      incidentId,
      (x) => x.actions.some((a) => a.kind === 'disable_account' && a.state === 'succeeded'),
      'account disabled',
    );

    // History says so too: the auditor's timeline shows the decision and the refusals as made via Slack.
    const timeline = await createAuditService(h.client).timeline(incidentId);
    const decisions = timeline.entries.filter((e) => e.kind === 'approval_decision');
    expect(decisions.map((e) => [e.actor, e.details?.via, e.details?.slack])).toEqual(
      expect.arrayContaining([
        ['alice', 'slack', { userId: USERS.alice, teamId: LAB_SLACK_TEAM_ID }],
        [actors.siem.subject, 'slack', { userId: USERS.siem, teamId: LAB_SLACK_TEAM_ID }],
      ]),
    );

    // A later click on the card as it was first posted: already decided, and by whom.
    expect((await click(original, USERS.bob, SLACK_REJECT_ACTION)).status).toBe(200);
    const late = await response(posted.ts, 5);
    expect(late.text).toContain('apr-1 is already decided: Approved by alice');
    expect((await h.state(incidentId)).approvals[0]!.decisions).toHaveLength(1);
  });

  it('two-person: the card keeps its buttons after the first approver, the same person is refused, a second decides', async () => {
    const account = `slack.user.${randomUUID().slice(0, 8)}`;
    const { incidentId } = await h.ingest({ severity: 'medium', hosts: [], accounts: [account] });
    await h.until(incidentId, (s) => s.approvals.some((a) => a.state === 'pending'), 'pending approval');
    const posted = await card(incidentId);
    expect(JSON.stringify(posted.blocks)).toContain('2 of 2 still needed (two distinct people)');

    expect((await click(posted, USERS.alice)).status).toBe(200);
    const first = await response(posted.ts, 1);
    expect(first.replaceOriginal).toBe(true);
    expect(first.text).toContain('another approver is needed');
    expect(JSON.stringify(first.blocks)).toContain('1 of 2 still needed');
    expect(JSON.stringify(first.blocks)).toContain(SLACK_APPROVE_ACTION);

    // The updated card, as Slack now shows it: the same approver clicks again.
    expect((await click(message(posted.ts), USERS.alice)).status).toBe(200);
    expect((await response(posted.ts, 2)).text).toContain('it needs a second, different approver');

    expect((await click(message(posted.ts), USERS.bob)).status).toBe(200);
    const second = await response(posted.ts, 3);
    expect(second.text).toContain('Approved by alice and bob');
    const s = await h.until(incidentId, (x) => x.approvals[0]!.state === 'approved', 'approved by two');
    expect(s.approvals[0]!.decisions.map((d) => [d.decider, d.via])).toEqual([
      ['alice', 'slack'],
      ['bob', 'slack'],
    ]);
    expect(s.approvals[0]!.refusedAttempts).toEqual([
      expect.objectContaining({ decider: 'alice', type: 'DuplicateApprover', via: 'slack' }),
    ]);
  });

  it('on shutdown, a click acknowledged to Slack is decided before the app lets the client go', async () => {
    const { incidentId, card: posted } = await openIncident();
    const ack = await click(posted, USERS.alice);
    expect(ack.status).toBe(200);
    // What runtime.ts does after the server stops taking requests and before the Temporal client closes.
    await settleBackgroundWork(app);
    // Already recorded by the time settling returns: no waiting for it here.
    const s = await h.state(incidentId);
    expect(s.approvals[0]).toMatchObject({ state: 'approved' });
    expect(s.approvals[0]!.decisions).toEqual([expect.objectContaining({ decider: 'alice', via: 'slack' })]);
  });

  it('refuses a Slack user pinned to another workspace', async () => {
    const { incidentId, card: posted } = await openIncident();
    const i = labSlackInteraction({
      labUrl: lab.url,
      message: posted,
      userId: USERS.bob,
      teamId: 'T0OTHER01',
      actionId: SLACK_APPROVE_ACTION,
    });
    const res = await request(app)
      .post('/api/v1/integrations/slack/interactions')
      .set(i.headers)
      .send(i.body);
    expect(res.status).toBe(200);
    expect((await response(posted.ts, 1)).text).toContain(
      `Quell does not know Slack user ${USERS.bob} in T0OTHER01`,
    );
    expect((await h.state(incidentId)).approvals[0]!.state).toBe('pending');
  });

  it('an expired approval is refused in words, and the refusal is recorded', async () => {
    const account = `slack.user.${randomUUID().slice(0, 8)}`;
    const { incidentId } = await hx.ingest({ severity: 'high', hosts: [], accounts: [account] });
    const posted = await card(incidentId);
    await hx.until(incidentId, (x) => x.approvals[0]?.state === 'expired', 'expired', 15_000);
    expect((await click(posted, USERS.alice, SLACK_APPROVE_ACTION, appX)).status).toBe(200);
    expect((await response(posted.ts, 1)).text).toContain('apr-1 has expired; nothing was decided');
    const s = await hx.state(incidentId);
    expect(s.approvals[0]!.decisions).toEqual([]);
    expect(s.approvals[0]!.refusedAttempts).toEqual([
      expect.objectContaining({ decider: 'alice', type: 'ApprovalExpired', via: 'slack' }),
    ]);
  });

  it('refuses unsigned, badly signed and stale clicks with 401 problem+json, and nothing is decided', async () => {
    const { incidentId, card: posted } = await openIncident();
    const i = labSlackInteraction({
      labUrl: lab.url,
      message: posted,
      userId: USERS.alice,
      actionId: SLACK_APPROVE_ACTION,
    });
    const post = () => request(app).post('/api/v1/integrations/slack/interactions').type('form');

    const missing = await post().send(i.body);
    expect(missing.status).toBe(401);
    expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(missing.body).toMatchObject({ status: 401, reason: 'missing' });

    const wrongSecret = labSlackInteraction({
      labUrl: lab.url,
      message: posted,
      userId: USERS.alice,
      actionId: SLACK_APPROVE_ACTION,
      signingSecret: 'not-the-signing-secret-0123456789',
    });
    const bad = await post().set(wrongSecret.headers).send(wrongSecret.body);
    expect(bad.status).toBe(401);
    expect(bad.body).toMatchObject({ reason: 'mismatch' });

    // The body changed after signing (another user put in): the signature no longer matches.
    const tampered = await post().set(i.headers).send(i.body.replace(USERS.alice, USERS.bob));
    expect(tampered.status).toBe(401);

    const stale = labSlackInteraction({
      labUrl: lab.url,
      message: posted,
      userId: USERS.alice,
      actionId: SLACK_APPROVE_ACTION,
      timestamp: Math.floor(Date.now() / 1000) - 6 * 60,
    });
    const old = await post().set(stale.headers).send(stale.body);
    expect(old.status).toBe(401);
    expect(old.body).toMatchObject({ reason: 'stale' });

    // Signed, but the payload is not a Slack interaction: 400 naming the field.
    const body = new URLSearchParams({
      payload: JSON.stringify({ type: 'block_actions', user: {} }),
    }).toString();
    const t = Math.floor(Date.now() / 1000);
    const invalid = await post()
      .set({
        'x-slack-request-timestamp': String(t),
        'x-slack-signature': slackSignature(LAB_CREDENTIALS.slack.signingSecret, t, body),
      })
      .send(body);
    expect(invalid.status).toBe(400);
    expect(invalid.body.errors).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: 'payload.user.id' })]),
    );

    await new Promise((r) => setTimeout(r, 300));
    const s = await h.state(incidentId);
    expect(s.approvals[0]).toMatchObject({ state: 'pending', decisions: [], refusedAttempts: [] });
    expect(message(posted.ts).responses ?? []).toEqual([]);
  });

  it('answers 404, saying what to set, when Slack approvals are not configured', async () => {
    const bare = createApp({
      client: h.client,
      incidents: h.service,
      taskQueue: h.worker.taskQueue,
      logger: memoryLogger().logger,
      auth: testAuth(),
      rateLimit: false,
    });
    const res = await request(bare)
      .post('/api/v1/integrations/slack/interactions')
      .type('form')
      .send('payload=%7B%7D');
    expect(res.status).toBe(404);
    expect(res.body.detail).toContain('QUELL_SLACK_SIGNING_SECRET');
  });
});
