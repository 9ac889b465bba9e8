import request from 'supertest';
import { buildAuditBundle, loadIncidentAudit, reportOf } from '../../src/audit/service';
import { renderReportMarkdown } from '../../src/audit/report';
import type { Role } from '../../src/domain/incident';
import { testApp, TOKENS, SUBJECTS } from '../api/support/harness';
import { actionOf, actors, approvalFor, startHarness, type Harness } from '../support/incident-harness';
import { MemoryEstate } from '../support/memory-estate';

const admin = { subject: 'root-admin', roles: ['admin'] as Role[] };

/**
 * Every refused decision leaves a trace: in the workflow history (the update is accepted, recorded, then failed
 * with its refusal type), the state, the timeline, the report and the audit bundle; and callers still get their
 * 403/409 with the refusal type. Admin alone does not approve or close (separation of duties).
 */
describe('refused decisions are recorded for auditors', () => {
  let estate: MemoryEstate;
  let h: Harness;
  beforeAll(async () => {
    estate = new MemoryEstate();
    h = await startHarness({ connectors: estate.connectors() });
  });
  afterAll(() => h?.stop());

  it('self-approval, a second decision, non-approvers and admin are refused and recorded everywhere', async () => {
    // medium: isolate_host needs two approvers; alice raised the alert.
    const { incidentId: id } = await h.ingest(
      { severity: 'medium', hosts: ['ws-ref-1'], accounts: [] },
      'alice',
    );
    let s = await h.until(id, (x) => x.approvals.some((a) => a.state === 'pending'), 'approval');
    const approval = approvalFor(s, actionOf(s, 'isolate_host', 'ws-ref-1').actionId);
    const apr = approval.approvalId;

    const refused = async (p: Promise<unknown>, type: string, status: number): Promise<void> =>
      expect(p).rejects.toMatchObject({ type, httpStatus: status });
    await refused(h.service.decideApproval(id, apr, 'approve', undefined, actors.alice), 'SelfApproval', 403);
    await refused(h.service.decideApproval(id, apr, 'approve', undefined, actors.rita), 'NotAnApprover', 403);
    await refused(h.service.decideApproval(id, apr, 'approve', 'I run this', admin), 'NotAnApprover', 403);
    await h.service.decideApproval(id, apr, 'approve', 'looks right', actors.bob);
    await refused(
      h.service.decideApproval(id, apr, 'approve', undefined, actors.bob),
      'DuplicateApprover',
      409,
    );
    await refused(
      h.service.decideApproval(id, 'apr-999', 'reject', undefined, actors.bob),
      'ApprovalNotFound',
      404,
    );
    await refused(h.service.close(id, 'false_positive', undefined, admin), 'NotAnApprover', 403);
    await refused(h.service.close(id, 'resolved', undefined, actors.carol), 'WrongPhase', 409);

    s = await h.state(id);
    const held = s.approvals.find((a) => a.approvalId === apr)!;
    expect(held.decisions.map((d) => d.decider)).toEqual(['bob']);
    expect(held.refusedAttempts.map((r) => [r.decider, r.type, r.via])).toEqual([
      ['alice', 'SelfApproval', 'update'],
      ['rita', 'NotAnApprover', 'update'],
      ['root-admin', 'NotAnApprover', 'update'],
      ['bob', 'DuplicateApprover', 'update'],
    ]);
    expect(held.refusedAttempts[2]).toMatchObject({
      roles: ['admin'],
      reason: expect.stringContaining('separation of duties'),
    });
    expect(s.refusedRequests?.map((r) => [r.request, r.decider, r.type, r.approvalId ?? null])).toEqual([
      ['decideApproval', 'bob', 'ApprovalNotFound', 'apr-999'],
      ['closeIncident', 'root-admin', 'NotAnApprover', null],
      ['closeIncident', 'carol', 'WrongPhase', null],
    ]);
    // The refusals changed nothing: the action still waits for its second approver.
    expect(actionOf(s, 'isolate_host', 'ws-ref-1').state).toBe('pending_approval');
    expect(estate.effects('contain', 'ws-ref-1')).toHaveLength(0);

    await h.service.decideApproval(id, apr, 'approve', undefined, actors.carol);
    await h.until(id, (x) => x.phase === 'eradication', 'eradication');
    await h.service.close(id, 'false_positive', 'drill', actors.carol);
    await h.until(id, (x) => x.status === 'closed', 'closed');

    // In the history: each refusal is an accepted update completed with its typed failure.
    const audit = await loadIncidentAudit(h.client, id);
    const events = audit.readable.runs.flatMap((r) => r.history.events);
    const refusedDecisions = audit.timeline.filter(
      (e) => e.kind === 'approval_decision' && e.details.outcome === 'refused',
    );
    expect(refusedDecisions.map((e) => [e.actor, (e.details.refusal as { type: string }).type])).toEqual([
      ['alice', 'SelfApproval'],
      ['rita', 'NotAnApprover'],
      ['root-admin', 'NotAnApprover'],
      ['bob', 'DuplicateApprover'],
      ['bob', 'ApprovalNotFound'],
    ]);
    for (const entry of refusedDecisions) {
      expect(entry.refs.map((r) => r.eventType)).toEqual([
        'WorkflowExecutionUpdateAccepted',
        'WorkflowExecutionUpdateCompleted',
      ]);
      for (const r of entry.refs) expect(events.find((e) => Number(e.eventId) === r.eventId)).toBeDefined();
    }
    const refusedCloses = audit.timeline.filter(
      (e) => e.kind === 'close_requested' && e.details.outcome === 'refused',
    );
    expect(refusedCloses.map((e) => e.actor)).toEqual(['root-admin', 'carol']);

    // In the report (JSON and Markdown) and the signed bundle.
    const report = reportOf(audit);
    const reportApproval = report.approvals.find((a) => a.approvalId === apr)!;
    expect(reportApproval.refused.map((r) => r.type)).toEqual([
      'SelfApproval',
      'NotAnApprover',
      'NotAnApprover',
      'DuplicateApprover',
    ]);
    expect(report.refusedRequests.map((r) => r.type)).toEqual([
      'ApprovalNotFound',
      'NotAnApprover',
      'WrongPhase',
    ]);
    const md = renderReportMarkdown(report);
    expect(md).toContain('SelfApproval');
    expect(md).toContain('Refused requests without an approval');
    const { bundle } = await buildAuditBundle(h.client, id);
    expect(JSON.stringify(bundle)).toContain('DuplicateApprover');
  });

  it('through the HTTP API: admin and responders get 403 NotAnApprover from the incident, ingest tokens at the door', async () => {
    const { incidentId: id } = await h.ingest({ severity: 'high', hosts: ['ws-ref-2'], accounts: [] });
    const s = await h.until(id, (x) => x.approvals.some((a) => a.state === 'pending'), 'approval');
    const apr = approvalFor(s, actionOf(s, 'isolate_host', 'ws-ref-2').actionId).approvalId;
    const { app } = testApp({ client: h.client, incidents: h.service, taskQueue: h.worker.taskQueue });
    const decide = (token: string) =>
      request(app)
        .post(`/api/v1/incidents/${id}/approvals/${apr}`)
        .set('Authorization', `Bearer ${token}`)
        .send({ decision: 'approve' });

    for (const token of [TOKENS.admin, TOKENS.responder, TOKENS.auditor]) {
      const res = await decide(token);
      expect(res.status).toBe(403);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.body).toMatchObject({ refusal: 'NotAnApprover' });
    }
    const ingest = await decide(TOKENS.ingest);
    expect(ingest.status).toBe(403);
    expect(ingest.body.refusal).toBeUndefined();

    const closeAsAdmin = await request(app)
      .post(`/api/v1/incidents/${id}/close`)
      .set('Authorization', `Bearer ${TOKENS.admin}`)
      .send({ resolution: 'false_positive' });
    expect(closeAsAdmin.status).toBe(403);
    expect(closeAsAdmin.body).toMatchObject({ refusal: 'NotAnApprover' });

    const after = await h.state(id);
    expect(after.approvals.find((a) => a.approvalId === apr)!.refusedAttempts.map((r) => r.decider)).toEqual([
      SUBJECTS.admin,
      SUBJECTS.responder,
      SUBJECTS.auditor,
    ]);
    expect(after.refusedRequests?.map((r) => r.decider)).toEqual([SUBJECTS.admin]);
    await decide(TOKENS.approver).expect(200);
  });
});
