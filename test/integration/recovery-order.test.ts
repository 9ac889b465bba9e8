import { loadIncidentAudit } from '../../src/audit/service';
import { actionOf, actors, approvalFor, startHarness, type Harness } from '../support/incident-harness';
import { MemoryEstate } from '../support/memory-estate';

/**
 * The order of late work: a host that joins after investigation gets its log snapshot at once; recovery waits
 * for containment to settle and says for what (state, memo, timeline); it undoes only containment that ran.
 */
describe('entities added late, and what recovery waits for', () => {
  let estate: MemoryEstate;
  let h: Harness;
  beforeAll(async () => {
    estate = new MemoryEstate();
    h = await startHarness({ connectors: estate.connectors() });
  });
  afterAll(() => h?.stop());

  it('a host added during eradication is investigated; recovery waits visibly, then undoes only what ran', async () => {
    const rule = `late.${Date.now()}`;
    const first = 'ws-late-a';
    const late = 'ws-late-b';
    const { incidentId: id } = await h.ingest({
      id: 'late-1',
      rule,
      severity: 'high',
      hosts: [first],
      accounts: [],
    });
    let s = await h.until(id, (x) => x.approvals.some((a) => a.state === 'pending'), 'approval');
    await h.service.decideApproval(
      id,
      approvalFor(s, actionOf(s, 'isolate_host', first).actionId).approvalId,
      'approve',
      undefined,
      actors.bob,
    );
    s = await h.until(id, (x) => x.phase === 'eradication', 'eradication');
    expect(s.evidence.map((e) => e.subject)).toEqual([first]);

    // A correlated alert (same rule, same first host) adds a host while responders eradicate.
    await h.ingest({ id: 'late-2', rule, severity: 'high', hosts: [first, late], accounts: [] });
    s = await h.until(
      id,
      (x) => x.evidence.some((e) => e.subject === late) && x.approvals.some((a) => a.request.target === late),
      'evidence and containment for the late host',
    );
    expect(s.phase).toBe('eradication');
    expect(s.investigatedHosts).toEqual([first, late]);
    expect(s.evidence.find((e) => e.subject === late)).toMatchObject({ name: `logs:${late}` });
    const lateIsolation = actionOf(s, 'isolate_host', late);
    expect(lateIsolation.state).toBe('pending_approval');

    // Eradication completes while the late host's containment still waits for a decision.
    for (const item of s.checklist)
      await h.service.completeChecklistItem(id, item.itemId, undefined, actors.rita);
    s = await h.until(id, (x) => x.phase === 'recovery' && x.waitingFor !== undefined, 'recovery waiting');
    expect(s.waitingFor).toMatchObject({
      phase: 'recovery',
      approvals: [{ approvalId: lateIsolation.approvalId, action: 'isolate_host', target: late }],
      failedActions: [],
    });
    expect(s.waitingFor!.summary).toContain(`${lateIsolation.approvalId} (isolate_host ${late}) awaits`);
    expect(s.approvals.find((a) => a.approvalId === lateIsolation.approvalId)!.notice).toContain(
      'recovery waits for this decision',
    );
    // Nothing is undone while containment is unsettled.
    expect(s.actions.filter((a) => a.purpose === 'recovery')).toEqual([]);
    const waitingTimeline = (await loadIncidentAudit(h.client, id)).timeline.filter(
      (e) => e.kind === 'waiting',
    );
    expect(waitingTimeline.map((e) => e.summary)).toEqual([s.waitingFor!.summary]);
    expect(waitingTimeline[0]!.refs[0]!.eventType).toBe('WorkflowPropertiesModified');

    // Rejected: that containment never ran, so recovery plans no undo for it.
    await h.service.decideApproval(id, lateIsolation.approvalId!, 'reject', 'gone already', actors.bob);
    s = await h.until(id, (x) => x.actions.some((a) => a.purpose === 'recovery'), 'recovery planned');
    expect(s.waitingFor).toBeUndefined();
    expect(s.actions.filter((a) => a.purpose === 'recovery').map((a) => [a.kind, a.target])).toEqual([
      ['release_host', first],
    ]);
    const timeline = (await loadIncidentAudit(h.client, id)).timeline.filter((e) => e.kind === 'waiting');
    expect(timeline.map((e) => e.details.waitingFor)).toEqual([expect.any(String), null]);
  });

  it('a host added during investigation is snapshotted before the phase ends', async () => {
    const rule = `late-inv.${Date.now()}`;
    const first = 'ws-inv-a';
    const late = 'ws-inv-b';
    // Hold the first snapshot so the correlated alert lands while investigation runs.
    estate.delays.set('readHostLogs', 1_500);
    try {
      const { incidentId: id } = await h.ingest({
        id: 'inv-1',
        rule,
        severity: 'critical',
        hosts: [first],
        accounts: [],
      });
      await h.until(id, (x) => x.phase === 'investigation', 'investigation');
      await h.ingest({ id: 'inv-2', rule, severity: 'critical', hosts: [first, late], accounts: [] });
      const s = await h.until(id, (x) => x.phase === 'eradication', 'eradication', 30_000);
      expect(s.evidence.map((e) => e.subject).sort()).toEqual([first, late]);
    } finally {
      estate.delays.delete('readHostLogs');
    }
  });
});
