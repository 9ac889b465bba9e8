import { IncidentRefusedError } from '../../src/incidents/errors';
import {
  actionOf,
  actors,
  approvalFor,
  startHarness,
  testPlaybookYaml,
  type Harness,
} from '../support/incident-harness';
import { MemoryEstate } from '../support/memory-estate';

describe('incident workflow: phases, approvals, recovery (real Temporal, memory estate)', () => {
  let estate: MemoryEstate;
  let h: Harness;
  beforeAll(async () => {
    estate = new MemoryEstate();
    h = await startHarness({ connectors: estate.connectors(), playbookYaml: testPlaybookYaml() });
  });
  afterAll(() => h?.stop());

  it('walks every phase: approve containment, collect evidence, checklist, approved recovery, lessons, closed', async () => {
    const receipt = await h.ingest({
      severity: 'high',
      hosts: ['ws-happy-1'],
      accounts: ['happy.user'],
      ips: ['203.0.113.7'],
    });
    const id = receipt.incidentId;
    // block_ip is auto at high; isolate and disable wait for one approver each.
    let s = await h.until(
      id,
      (x) => x.approvals.filter((a) => a.state === 'pending').length === 2,
      'two pending approvals',
    );
    expect(s.phase).toBe('containment');
    expect(s.severity).toBe('high');
    const isolate = actionOf(s, 'isolate_host', 'ws-happy-1');
    const disable = actionOf(s, 'disable_account', 'happy.user');
    expect(isolate.state).toBe('pending_approval');
    const approval = approvalFor(s, isolate.actionId);
    expect(approval.request).toMatchObject({
      action: 'isolate_host',
      target: 'ws-happy-1',
      severity: 'high',
    });
    expect(approval.request.why).toContain('ws-happy-1');
    expect(approval.request.undo).toMatch(/release/);
    await h.until(id, (x) => actionOf(x, 'block_ip', '203.0.113.7').state === 'succeeded', 'auto block');

    const decided = await h.service.decideApproval(
      id,
      approval.approvalId,
      'approve',
      'confirmed ransomware',
      actors.alice,
    );
    expect(decided.state).toBe('approved');
    expect(decided.decisions).toEqual([
      expect.objectContaining({
        decider: 'alice',
        decision: 'approve',
        comment: 'confirmed ransomware',
        via: 'update',
      }),
    ]);
    await h.service.decideApproval(
      id,
      approvalFor(s, disable.actionId).approvalId,
      'approve',
      undefined,
      actors.bob,
    );

    s = await h.until(id, (x) => x.phase === 'eradication', 'eradication');
    expect(estate.effects('contain', 'ws-happy-1')).toHaveLength(1);
    expect(estate.effects('disable', 'happy.user')).toHaveLength(1);
    expect(s.milestones.containedAt).toBeDefined();
    expect(s.metrics.mttcSeconds).not.toBeNull();
    expect(s.metrics.mttaSeconds).not.toBeNull();
    // Investigation snapshotted the host's logs as evidence, with hash and custody.
    expect(s.evidence).toEqual([
      expect.objectContaining({
        subject: 'ws-happy-1',
        sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
        timeZone: 'UTC',
      }),
    ]);
    expect(s.evidence[0]!.collectedBy).toMatch(/snapshotLogs/);

    await h.service.completeChecklistItem(id, 'reimage', 'reimaged from gold image', actors.rita);
    await expect(
      h.service.completeChecklistItem(id, 'reimage', undefined, actors.rita),
    ).rejects.toMatchObject({ type: 'ChecklistItemCompleted', httpStatus: 409 });
    await h.service.completeChecklistItem(id, 'reset-credentials', undefined, actors.rita);

    // Recovery: each undo needs one approver who did not do the eradication.
    s = await h.until(
      id,
      (x) => x.phase === 'recovery' && x.approvals.filter((a) => a.state === 'pending').length === 3,
      'recovery approvals',
    );
    const undoApprovals = s.approvals.filter((a) => a.state === 'pending');
    expect(undoApprovals.map((a) => a.request.action).sort()).toEqual([
      'enable_account',
      'release_host',
      'unblock_ip',
    ]);
    await expect(
      h.service.decideApproval(id, undoApprovals[0]!.approvalId, 'approve', undefined, {
        subject: 'rita',
        roles: ['approver'],
      }),
    ).rejects.toMatchObject({
      type: 'SelfApproval',
      httpStatus: 403,
    });
    for (const a of undoApprovals)
      await h.service.decideApproval(id, a.approvalId, 'approve', undefined, actors.carol);

    s = await h.until(id, (x) => x.phase === 'lessons_learned', 'lessons learned');
    expect(estate.hosts.get('ws-happy-1')).toBe('normal');
    expect(estate.accounts.get('happy.user')).toBe('active');
    expect(estate.ips.has('203.0.113.7')).toBe(false);
    expect(actionOf(s, 'isolate_host', 'ws-happy-1').state).toBe('compensated');
    expect(actionOf(s, 'release_host', 'ws-happy-1').result?.verifiedState).toBe('normal');
    expect(s.metrics.mttrSeconds).not.toBeNull();

    await h.service.addNote(
      id,
      'Patch the VPN appliance within 24 h of advisories.',
      'lessons_learned',
      actors.rita,
    );
    const receipt2 = await h.service.close(id, 'resolved', 'done', actors.alice);
    expect(receipt2.compensating).toEqual([]);
    s = await h.until(id, (x) => x.status === 'closed', 'closed');
    expect(s).toMatchObject({ phase: 'closed', resolution: 'resolved' });
    // One closing time: the report's "Closed" is the phase table's.
    expect(s.phaseTimestamps.closed).toBe(s.milestones.closedAt);
    // Channels put the severity and incident ID in front; the workflow sends the bare subject.
    expect(estate.notifications.length).toBeGreaterThan(0);
    for (const n of estate.notifications) expect(n.subject).not.toContain(n.incidentId);
    expect(Object.keys(s.phaseTimestamps)).toEqual([
      'identification',
      'containment',
      'investigation',
      'eradication',
      'recovery',
      'lessons_learned',
      'closed',
    ]);
    expect(s.notifications.map((n) => n.reason)).toEqual(
      expect.arrayContaining([
        'phase identification',
        'phase containment',
        'phase lessons_learned',
        'closed',
      ]),
    );
    expect(s.notes).toEqual([expect.objectContaining({ kind: 'lessons_learned', author: 'rita' })]);
    // Search attributes follow the incident.
    const desc = await h.client.workflow.getHandle(receipt.workflowId).describe();
    expect(desc.status.name).toBe('COMPLETED');
    expect(desc.searchAttributes).toMatchObject({
      QuellPhase: ['closed'],
      QuellStatus: ['closed'],
      QuellSeverity: ['high'],
      QuellHosts: ['ws-happy-1'],
    });
  });

  it('a rejected containment is not applied and the incident moves on', async () => {
    const { incidentId: id } = await h.ingest({ severity: 'high', hosts: ['ws-reject-1'], accounts: [] });
    let s = await h.until(id, (x) => x.approvals.some((a) => a.state === 'pending'), 'approval');
    const action = actionOf(s, 'isolate_host', 'ws-reject-1');
    const decided = await h.service.decideApproval(
      id,
      approvalFor(s, action.actionId).approvalId,
      'reject',
      'false alarm on a kiosk',
      actors.alice,
    );
    expect(decided.state).toBe('rejected');
    s = await h.until(id, (x) => x.phase === 'eradication', 'eradication');
    expect(actionOf(s, 'isolate_host', 'ws-reject-1').state).toBe('rejected');
    expect(estate.effects('contain', 'ws-reject-1')).toHaveLength(0);
    // A decided approval refuses further decisions, with a reason.
    await expect(
      h.service.decideApproval(id, decided.approvalId, 'approve', undefined, actors.bob),
    ).rejects.toMatchObject({
      type: 'ApprovalAlreadyDecided',
      httpStatus: 409,
    });
    await expect(
      h.service.decideApproval(id, 'apr-999', 'approve', undefined, actors.bob),
    ).rejects.toBeInstanceOf(IncidentRefusedError);
  });

  it('blocks only external addresses: internal ones in scope are investigated, never blocked at the edge', async () => {
    const { incidentId: id } = await h.ingest({
      severity: 'critical',
      hosts: [],
      accounts: [],
      ips: ['10.20.4.117', '203.0.113.66'],
    });
    const s = await h.until(
      id,
      (x) => x.phase !== 'identification' && x.phase !== 'containment',
      'containment done',
    );
    expect(s.scope.ips).toEqual(['10.20.4.117', '203.0.113.66']);
    expect(s.actions.map((a) => [a.kind, a.target, a.state])).toEqual([
      ['block_ip', '203.0.113.66', 'succeeded'],
    ]);
    expect(estate.ips.has('10.20.4.117')).toBe(false);
  });
});
