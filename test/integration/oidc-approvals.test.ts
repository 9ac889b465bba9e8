import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { loadAuthConfig } from '../../src/api/auth';
import { testApp } from '../api/support/harness';
import { LocalIssuer } from '../api/support/oidc-issuer';
import { genericAlert } from '../support/alerts';
import { actionOf, approvalFor, startHarness, type Harness } from '../support/incident-harness';
import { MemoryEstate } from '../support/memory-estate';

/**
 * OIDC callers on the real workflow: the subject and roles from a verified JWT are what the incident sees and
 * records, so its rules (no self-approval, approvers only, two distinct approvers) hold for them as for tokens.
 */
describe('approvals by bearer JWTs, on the real Temporal server', () => {
  let estate: MemoryEstate;
  let h: Harness;
  let issuer: LocalIssuer;
  beforeAll(async () => {
    estate = new MemoryEstate();
    h = await startHarness({ connectors: estate.connectors() });
    issuer = await LocalIssuer.start();
    await issuer.addKey('soc-key-1', 'RS256');
  });
  afterAll(async () => {
    await h?.stop();
    await issuer?.close();
  });

  it('records JWT subjects as alert raiser and deciders, and the incident refuses as for static tokens', async () => {
    const auth = loadAuthConfig(
      {
        QUELL_OIDC_ISSUER: issuer.url,
        QUELL_OIDC_AUDIENCE: 'quell-api',
        QUELL_OIDC_SUBJECT_CLAIM: 'preferred_username',
        QUELL_OIDC_ROLE_MAP: JSON.stringify({
          'siem-forwarders': ['ingest'],
          'soc-responders': ['responder'],
          'soc-approvers': ['approver'],
        }),
      },
      { production: false },
    );
    const { app } = testApp({ client: h.client, incidents: h.service, taskQueue: h.worker.taskQueue, auth });
    const jwtOf = async (username: string, groups: string[]) =>
      `Bearer ${await issuer.sign({ sub: randomUUID(), preferred_username: username, groups })}`;
    const nina = await jwtOf('nina', ['siem-forwarders', 'soc-approvers']);
    const rita = await jwtOf('rita-oidc', ['soc-responders']);
    const olga = await jwtOf('olga', ['soc-approvers']);
    const pavel = await jwtOf('pavel', ['soc-approvers']);
    const outsider = await jwtOf('quinn', ['marketing']);

    // medium: isolate_host waits for two approvers; nina raises the alert.
    const host = `ws-oidc-${randomUUID().slice(0, 8)}`;
    const posted = await request(app)
      .post('/api/v1/alerts')
      .set('Authorization', nina)
      .send(genericAlert({ severity: 'medium', hosts: [host], accounts: [] }))
      .expect(202);
    const id: string = posted.body.incidentId;
    const s = await h.until(id, (x) => x.approvals.some((a) => a.state === 'pending'), 'approval');
    expect(s.alerts.recent[0]).toMatchObject({ raisedBy: 'nina' });
    const apr = approvalFor(s, actionOf(s, 'isolate_host', host).actionId).approvalId;
    const decide = (authorization: string) =>
      request(app)
        .post(`/api/v1/incidents/${id}/approvals/${apr}`)
        .set('Authorization', authorization)
        .send({ decision: 'approve' });

    expect((await decide(nina)).body).toMatchObject({ status: 403, refusal: 'SelfApproval' });
    expect((await decide(rita)).body).toMatchObject({ status: 403, refusal: 'NotAnApprover' });
    const unmapped = await decide(outsider);
    expect(unmapped.status).toBe(403);
    expect(unmapped.body.refusal).toBeUndefined(); // refused at the door, before the incident
    await decide(olga).expect(200);
    expect((await decide(olga)).body).toMatchObject({ status: 409, refusal: 'DuplicateApprover' });
    const approved = await decide(pavel).expect(200);
    expect(approved.body).toMatchObject({ state: 'approved' });

    const after = await h.until(
      id,
      (x) => actionOf(x, 'isolate_host', host).state === 'succeeded',
      'contained',
    );
    const held = after.approvals.find((a) => a.approvalId === apr)!;
    expect(held.decisions.map((d) => [d.decider, d.roles])).toEqual([
      ['olga', ['approver']],
      ['pavel', ['approver']],
    ]);
    expect(held.refusedAttempts.map((r) => [r.decider, r.type])).toEqual([
      ['nina', 'SelfApproval'],
      ['rita-oidc', 'NotAnApprover'],
      ['olga', 'DuplicateApprover'],
    ]);
    expect(estate.effects('contain', host)).toHaveLength(1);
  });
});
