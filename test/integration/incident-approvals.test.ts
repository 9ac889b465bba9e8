import { decideApprovalSignal } from '../../src/contracts';
import {
  actionOf,
  actors,
  approvalFor,
  startHarness,
  testPlaybookYaml,
  type Harness,
} from '../support/incident-harness';
import { MemoryEstate } from '../support/memory-estate';

const shortTimers = (onExpiry: 'reject' | 'approve') =>
  `approvals: { escalateAfter: 1s, expireAfter: 2500ms, onExpiry: ${onExpiry}, escalationRoutes: [oncall] }`;

describe('approval rules enforced inside the workflow', () => {
  let estate: MemoryEstate;
  let h: Harness;
  beforeAll(async () => {
    estate = new MemoryEstate();
    h = await startHarness({ connectors: estate.connectors() });
  });
  afterAll(() => h?.stop());

  it('two-person rule: non-approver, requester and the same approver twice are refused; two approvers pass', async () => {
    // medium severity: isolate_host needs two distinct approvers.
    const { incidentId: id } = await h.ingest(
      { severity: 'medium', hosts: ['ws-2p-1'], accounts: [] },
      'alice',
    );
    const s = await h.until(id, (x) => x.approvals.some((a) => a.state === 'pending'), 'approval');
    const action = actionOf(s, 'isolate_host', 'ws-2p-1');
    const approval = approvalFor(s, action.actionId);
    expect(approval).toMatchObject({ policy: 'two_person', requiredApprovers: 2, requestedBy: ['alice'] });

    await expect(
      h.service.decideApproval(id, approval.approvalId, 'approve', undefined, actors.rita),
    ).rejects.toMatchObject({ type: 'NotAnApprover', httpStatus: 403 });
    await expect(
      h.service.decideApproval(id, approval.approvalId, 'approve', undefined, actors.alice),
    ).rejects.toMatchObject({ type: 'SelfApproval', httpStatus: 403 });
    const first = await h.service.decideApproval(
      id,
      approval.approvalId,
      'approve',
      'looks right',
      actors.bob,
    );
    expect(first.state).toBe('pending');
    await expect(
      h.service.decideApproval(id, approval.approvalId, 'approve', undefined, actors.bob),
    ).rejects.toMatchObject({ type: 'DuplicateApprover', httpStatus: 409 });
    // Refused updates leave no trace: still exactly one decision, and the action has not run.
    let now = await h.state(id);
    expect(now.approvals.find((a) => a.approvalId === approval.approvalId)!.decisions).toHaveLength(1);
    expect(estate.effects('contain', 'ws-2p-1')).toHaveLength(0);

    const second = await h.service.decideApproval(
      id,
      approval.approvalId,
      'approve',
      undefined,
      actors.carol,
    );
    expect(second.state).toBe('approved');
    expect(second.decisions.map((d) => d.decider)).toEqual(['bob', 'carol']);
    now = await h.until(id, (x) => actionOf(x, 'isolate_host', 'ws-2p-1').state === 'succeeded', 'isolation');
    expect(estate.effects('contain', 'ws-2p-1')).toHaveLength(1);
  });

  it('decisions sent as signals follow the same rules; refusals are recorded in the state', async () => {
    const { incidentId: id, workflowId } = await h.ingest({
      severity: 'high',
      hosts: ['ws-sig-1'],
      accounts: [],
    });
    const s = await h.until(id, (x) => x.approvals.some((a) => a.state === 'pending'), 'approval');
    const approval = approvalFor(s, actionOf(s, 'isolate_host', 'ws-sig-1').actionId);
    const handle = h.client.workflow.getHandle(workflowId);
    await handle.signal(decideApprovalSignal, {
      approvalId: approval.approvalId,
      decision: 'approve',
      actor: actors.siem,
    });
    await handle.signal(decideApprovalSignal, {
      approvalId: 'apr-404',
      decision: 'approve',
      actor: actors.bob,
    });
    await handle.signal(decideApprovalSignal, {
      approvalId: approval.approvalId,
      decision: 'approve',
      actor: actors.bob,
    });
    const after = await h.until(
      id,
      (x) => x.approvals.find((a) => a.approvalId === approval.approvalId)!.state === 'approved',
      'signal approval',
    );
    const decided = after.approvals.find((a) => a.approvalId === approval.approvalId)!;
    expect(decided.decisions).toEqual([expect.objectContaining({ decider: 'bob', via: 'signal' })]);
    expect(decided.refusedAttempts).toEqual([
      expect.objectContaining({ decider: 'siem-ingest', type: 'NotAnApprover', via: 'signal' }),
    ]);
    expect(after.refusedSignals).toEqual([
      expect.objectContaining({ approvalId: 'apr-404', type: 'ApprovalNotFound' }),
    ]);
  });
});

describe.each(['reject', 'approve'] as const)(
  'approval escalation then expiry with onExpiry=%s',
  (onExpiry) => {
    let estate: MemoryEstate;
    let h: Harness;
    beforeAll(async () => {
      estate = new MemoryEstate();
      h = await startHarness({
        connectors: estate.connectors(),
        playbookYaml: testPlaybookYaml(shortTimers(onExpiry)),
      });
    });
    afterAll(() => h?.stop());

    it(`notifies the escalation route, then ${onExpiry === 'reject' ? 'expires the action' : 'runs the action'}`, async () => {
      const host = `ws-exp-${onExpiry}`;
      const { incidentId: id } = await h.ingest({ severity: 'high', hosts: [host], accounts: [] });
      const pending = await h.until(id, (x) => x.approvals.some((a) => a.state === 'pending'), 'approval');
      const approvalId = pending.approvals[0]!.approvalId;
      const escalated = await h.until(
        id,
        (x) => x.approvals[0]!.escalatedAt !== undefined,
        'escalation',
        10_000,
      );
      expect(escalated.approvals[0]!.state).toBe('pending');
      await h.until(
        id,
        (x) => x.notifications.some((n) => n.route === 'oncall' && n.reason === `escalation ${approvalId}`),
        'escalation notice',
      );
      expect(estate.notifications.some((n) => n.route === 'oncall' && n.text.includes(approvalId))).toBe(
        true,
      );

      const expired = await h.until(id, (x) => x.approvals[0]!.state === 'expired', 'expiry', 10_000);
      expect(expired.approvals[0]!.expiryOutcome).toBe(onExpiry);
      await expect(
        h.service.decideApproval(id, approvalId, 'approve', undefined, actors.bob),
      ).rejects.toMatchObject({ type: 'ApprovalExpired', httpStatus: 409 });
      const settled = await h.until(id, (x) => x.phase === 'eradication', 'eradication');
      const action = actionOf(settled, 'isolate_host', host);
      if (onExpiry === 'reject') {
        expect(action.state).toBe('expired');
        expect(estate.effects('contain', host)).toHaveLength(0);
      } else {
        expect(action.state).toBe('succeeded');
        expect(estate.effects('contain', host)).toHaveLength(1);
      }
    });
  },
);
