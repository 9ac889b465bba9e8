import { randomUUID } from 'node:crypto';
import { exportIncidentHistory, type IncidentHistoryExport } from '../../src/audit/history';
import { eventAttributes, shortEventType } from '../../src/audit/history-json';
import { buildReport, renderReportMarkdown } from '../../src/audit/report';
import { createAuditService, loadIncidentAudit } from '../../src/audit/service';
import {
  buildTimeline,
  stateFromHistory,
  type TimelineEntry,
  type TimelineKind,
} from '../../src/audit/timeline';
import { decideApprovalSignal } from '../../src/contracts';
import { IncidentNotFoundError } from '../../src/incidents/errors';
import { actors, startHarness, type Harness } from '../support/incident-harness';
import { MemoryEstate } from '../support/memory-estate';
import { testClient } from '../support/temporal';
import { committedExport, runCli, runRichIncident } from './helpers';

/** The event types an entry of each kind must cite (at least one of each listed). */
const CITES: Partial<Record<TimelineKind, string[]>> = {
  incident_opened: ['WorkflowExecutionStarted'],
  alert_received: ['WorkflowExecutionUpdateAccepted', 'WorkflowExecutionUpdateCompleted'],
  alert_deduplicated: ['WorkflowExecutionUpdateAccepted', 'WorkflowExecutionUpdateCompleted'],
  phase_changed: ['UpsertWorkflowSearchAttributes'],
  severity_changed: ['UpsertWorkflowSearchAttributes'],
  status_changed: ['UpsertWorkflowSearchAttributes'],
  action_executed: ['ActivityTaskScheduled'],
  action_verified: ['ActivityTaskScheduled', 'ActivityTaskCompleted'],
  evidence_collected: ['ActivityTaskScheduled', 'ActivityTaskStarted', 'ActivityTaskCompleted'],
  notification: ['ActivityTaskScheduled'],
  escalation_notice: ['ActivityTaskScheduled'],
  approval_requested: ['WorkflowTaskStarted', 'WorkflowTaskCompleted'],
  approval_escalated: ['TimerFired', 'WorkflowTaskStarted'],
  approval_expired: ['TimerFired', 'WorkflowTaskStarted'],
  action_resolution: ['WorkflowExecutionUpdateAccepted', 'WorkflowExecutionUpdateCompleted'],
  checklist_item_completed: ['WorkflowExecutionUpdateAccepted', 'WorkflowExecutionUpdateCompleted'],
  close_requested: ['WorkflowExecutionUpdateAccepted', 'WorkflowExecutionUpdateCompleted'],
  continued_as_new: ['WorkflowExecutionContinuedAsNew', 'WorkflowExecutionStarted'],
  incident_closed: ['WorkflowExecutionCompleted'],
};

/** Every reference names a real event of that run, of the type it claims; kinds cite the right events. */
function expectEntriesMatchHistory(exported: IncidentHistoryExport, timeline: TimelineEntry[]): void {
  const byRun = new Map(
    exported.runs.map((r) => [r.runId, new Map(r.history.events.map((e) => [Number(e.eventId), e]))]),
  );
  expect(timeline.length).toBeGreaterThan(0);
  timeline.forEach((entry, i) => {
    expect(entry.seq).toBe(i);
    expect(entry.refs.length).toBeGreaterThan(0);
    expect(byRun.has(entry.runId)).toBe(true);
    expect(entry.eventIds.length).toBeGreaterThan(0);
    for (const ref of entry.refs) {
      const event = byRun.get(ref.runId)?.get(ref.eventId);
      if (!event)
        throw new Error(`entry ${i} (${entry.kind}) cites missing event ${ref.runId}#${ref.eventId}`);
      expect(shortEventType(event.eventType)).toBe(ref.eventType);
    }
    for (const id of entry.eventIds) expect(byRun.get(entry.runId)!.has(id)).toBe(true);
    const types = new Set(entry.refs.map((r) => r.eventType));
    for (const required of CITES[entry.kind] ?? []) {
      if (!types.has(required))
        throw new Error(
          `entry ${i} (${entry.kind}) does not cite a ${required}: ${JSON.stringify(entry.refs)}`,
        );
    }
    expect(Number.isNaN(Date.parse(entry.at))).toBe(false);
  });
}

const kinds = (t: TimelineEntry[]) => t.map((e) => e.kind);
const of = (t: TimelineEntry[], kind: TimelineKind) => t.filter((e) => e.kind === kind);

describe('timeline from committed histories', () => {
  it('happy path: alerts, every phase, approvals with deciders, actions, evidence with hashes, lessons, closure', () => {
    const exported = committedExport('happy-path');
    const t = buildTimeline(exported);
    expectEntriesMatchHistory(exported, t);
    expect(of(t, 'phase_changed').map((e) => e.details.to)).toEqual([
      'identification',
      'containment',
      'investigation',
      'eradication',
      'recovery',
      'lessons_learned',
      'closed',
    ]);
    const decisions = of(t, 'approval_decision');
    expect(decisions.map((d) => d.actor)).toEqual(['alice', 'bob', 'carol', 'carol', 'carol']);
    expect(decisions[0]).toMatchObject({
      roles: ['approver', 'responder'],
      details: {
        via: 'update',
        decision: 'approve',
        comment: 'confirmed ransomware',
        approvalState: 'approved',
      },
    });
    expect(of(t, 'approval_requested')).toHaveLength(5);
    expect(of(t, 'approval_requested')[0]!.details).toMatchObject({
      policy: 'approve',
      request: { action: expect.any(String), target: expect.any(String), why: expect.any(String) },
    });
    const evidence = of(t, 'evidence_collected');
    expect(evidence).toHaveLength(1);
    expect(evidence[0]!.details.evidence).toMatchObject({
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      subject: 'ws-happy-1',
    });
    const actions = of(t, 'action_executed');
    expect(actions.map((a) => `${String(a.details.action)}:${String(a.details.outcome)}`).sort()).toEqual(
      [
        'block_ip:succeeded',
        'disable_account:succeeded',
        'enable_account:succeeded',
        'isolate_host:succeeded',
        'release_host:succeeded',
        'unblock_ip:succeeded',
      ].sort(),
    );
    for (const a of actions) {
      expect(a.details).toMatchObject({
        attempts: 1,
        durationSeconds: expect.any(Number),
        actionId: expect.stringMatching(/^act-/),
      });
      expect((a.details.input as { target: string }).target).toBe(a.details.target);
    }
    expect(of(t, 'checklist_item_completed').map((e) => e.actor)).toEqual(['rita', 'rita']);
    expect(of(t, 'note_added')).toEqual([
      expect.objectContaining({
        actor: 'rita',
        details: expect.objectContaining({ kind: 'lessons_learned' }),
      }),
    ]);
    expect(of(t, 'close_requested')[0]).toMatchObject({
      actor: 'alice',
      details: { resolution: 'resolved' },
    });
    expect(kinds(t)[0]).toBe('incident_opened');
    expect(kinds(t)[t.length - 1]).toBe('incident_closed');
  });

  it('signal decisions: refusals (with type and reason) and the applied decision come from the history', () => {
    const exported = committedExport('signal-decisions');
    const t = buildTimeline(exported);
    expectEntriesMatchHistory(exported, t);
    const decisions = of(t, 'approval_decision');
    expect(
      decisions.map((d) => [
        d.actor,
        d.details.via,
        d.details.outcome,
        (d.details.refusal as { type?: string })?.type,
      ]),
    ).toEqual([
      ['siem-ingest', 'signal', 'refused', 'NotAnApprover'],
      ['bob', 'signal', 'refused', 'ApprovalNotFound'],
      ['bob', 'signal', 'applied', undefined],
    ]);
    for (const d of decisions) expect(d.refs.map((r) => r.eventType)).toContain('WorkflowExecutionSignaled');
  });

  it.each(['reject', 'approve'])(
    'escalation and expiry (onExpiry=%s) cite the timers that fired',
    (onExpiry) => {
      const exported = committedExport(`expiry-${onExpiry}`);
      const t = buildTimeline(exported);
      expectEntriesMatchHistory(exported, t);
      expect(of(t, 'approval_escalated')).toHaveLength(1);
      expect(of(t, 'escalation_notice')[0]!.details).toMatchObject({ route: 'oncall', approvalId: 'apr-1' });
      expect(of(t, 'approval_expired')[0]!.details).toMatchObject({
        approvalId: 'apr-1',
        expiryOutcome: onExpiry,
      });
      const isolations = of(t, 'action_executed').filter((a) => a.details.action === 'isolate_host');
      expect(isolations).toHaveLength(onExpiry === 'approve' ? 1 : 0);
    },
  );

  it('retries: transient attempts counted; permanent failure, responder retry and skip', () => {
    const transient = committedExport('transient-retries');
    const tt = buildTimeline(transient);
    expectEntriesMatchHistory(transient, tt);
    const isolate = of(tt, 'action_executed').find((a) => a.details.action === 'isolate_host')!;
    expect(isolate.details).toMatchObject({ outcome: 'succeeded', attempts: 3 });
    expect(isolate.details.lastAttemptFailure).toMatchObject({ type: 'TransientConnectorError' });

    const permanent = committedExport('permanent-failure');
    const tp = buildTimeline(permanent);
    expectEntriesMatchHistory(permanent, tp);
    const runs = of(tp, 'action_executed').filter((a) => a.details.action === 'isolate_host');
    expect(runs.map((r) => r.details.outcome)).toEqual(['failed', 'succeeded']);
    expect(runs[0]!.details.failure).toMatchObject({ type: 'PermanentConnectorError', nonRetryable: true });
    expect(of(tp, 'action_resolution').map((e) => [e.actor, e.details.resolution])).toEqual(
      expect.arrayContaining([
        ['rita', 'retry'],
        ['rita', 'skip'],
      ]),
    );
  });

  it('burst dedup, severity escalation with scope widening, false-positive compensation', () => {
    const burst = committedExport('burst-dedup');
    const tb = buildTimeline(burst);
    expectEntriesMatchHistory(burst, tb);
    expect(of(tb, 'alert_received')).toHaveLength(1);
    expect(of(tb, 'alert_deduplicated')).toHaveLength(49);
    expect(
      buildTimeline(burst, { includeDeduplicated: false }).filter((e) => e.kind === 'alert_deduplicated'),
    ).toEqual([]);

    const esc = committedExport('severity-escalation');
    const te = buildTimeline(esc);
    expectEntriesMatchHistory(esc, te);
    expect(of(te, 'severity_changed').map((e) => [e.details.from, e.details.to])).toEqual([
      ['medium', 'critical'],
    ]);
    expect(of(te, 'approval_cancelled')[0]!.details.reason).toMatch(/severity raised to critical/);
    expect(of(te, 'alert_received')[1]!.details.entities).toMatchObject({ hosts: ['ws-esc-1', 'ws-esc-2'] });

    const fp = committedExport('false-positive-compensation');
    const tf = buildTimeline(fp);
    expectEntriesMatchHistory(fp, tf);
    const undos = of(tf, 'action_executed').filter((a) =>
      ['release_host', 'enable_account', 'unblock_ip'].includes(String(a.details.action)),
    );
    expect(undos).toHaveLength(3);
    expect(of(tf, 'incident_closed')[0]!.details).toMatchObject({ resolution: 'false_positive' });
  });

  it('continue-as-new: one timeline across both runs, the crossing cites both', () => {
    const exported = committedExport('continue-as-new');
    expect(exported.runs).toHaveLength(2);
    const t = buildTimeline(exported);
    expectEntriesMatchHistory(exported, t);
    const crossing = of(t, 'continued_as_new');
    expect(crossing).toHaveLength(1);
    expect(new Set(crossing[0]!.refs.map((r) => r.runId))).toEqual(
      new Set(exported.runs.map((r) => r.runId)),
    );
    expect(of(t, 'alert_received')).toHaveLength(1_100);
    expect(of(t, 'alert_deduplicated')).toHaveLength(1);
    expect(new Set(t.map((e) => e.runId))).toEqual(new Set(exported.runs.map((r) => r.runId)));
    expect(stateFromHistory(exported)?.state).toMatchObject({
      status: 'closed',
      runs: 1,
      alerts: { count: 1_100 },
    });
  });

  it('report: JSON and Markdown with summary, scope, actions, approvals, evidence hashes, metrics, lessons', () => {
    const exported = committedExport('happy-path');
    const t = buildTimeline(exported);
    const { state } = stateFromHistory(exported)!;
    const report = buildReport(state, t, { exported });
    expect(report.incident).toMatchObject({ status: 'closed', resolution: 'resolved', severity: 'high' });
    expect(report.metrics.mttcSeconds).not.toBeNull();
    expect(report.metrics.formatted.MTTR).toMatch(/s|m|h/);
    expect(report.approvals.flatMap((a) => a.deciders.map((d) => d.decider)).sort()).toEqual([
      'alice',
      'bob',
      'carol',
      'carol',
      'carol',
    ]);
    expect(report.actions.find((a) => a.kind === 'isolate_host')!.executions[0]).toMatchObject({
      outcome: 'succeeded',
      attempts: 1,
    });
    expect(report.evidence[0]!.refs.map((r) => r.eventType)).toContain('ActivityTaskCompleted');
    expect(report.lessonsLearned).toHaveLength(1);
    const md = renderReportMarkdown(report);
    for (const heading of [
      '## Summary',
      '## Metrics',
      '## Scope',
      '## Actions',
      '## Approvals',
      '## Evidence',
      '## Lessons learned',
      '## Timeline',
    ])
      expect(md).toContain(heading);
    expect(md).toContain(report.evidence[0]!.sha256);
    expect(md).toContain('Patch the VPN appliance');
    expect(md).toMatch(/\| MTTD \| MTTA \| MTTC \| MTTR \|/);
  });
});

describe('timeline, report and audit service against live incidents', () => {
  let estate: MemoryEstate;
  let h: Harness;
  beforeAll(async () => {
    estate = new MemoryEstate();
    h = await startHarness({ connectors: estate.connectors() });
  });
  afterAll(() => h?.stop());

  it('entries of a live incident point at events of the right type; the API service serves all three views', async () => {
    const tag = randomUUID().slice(0, 8);
    const { incidentId, hosts } = await runRichIncident(h, estate, `tl-${tag}`, {
      signal: async (workflowId, approvalId) => {
        const handle = h.client.workflow.getHandle(workflowId);
        await handle.signal(decideApprovalSignal, { approvalId, decision: 'approve', actor: actors.rita });
        await handle.signal(decideApprovalSignal, { approvalId, decision: 'approve', actor: actors.bob });
      },
    });
    const exported = await exportIncidentHistory(h.client, incidentId);
    const t = buildTimeline(exported);
    expectEntriesMatchHistory(exported, t);
    const viaSignal = of(t, 'approval_decision').filter((d) => d.details.via === 'signal');
    expect(viaSignal.map((d) => [d.actor, d.details.outcome])).toEqual([
      ['rita', 'refused'],
      ['bob', 'applied'],
    ]);
    expect(
      of(t, 'action_executed').find(
        (a) => a.details.action === 'isolate_host' && a.details.outcome === 'failed',
      ),
    ).toBeDefined();

    const audit = createAuditService(h.client);
    const doc = await audit.timeline(incidentId);
    expect(doc).toMatchObject({ incidentId, runs: [expect.objectContaining({ status: 'COMPLETED' })] });
    expect(doc.entries.length).toBe(t.length);
    const history = await audit.history(incidentId);
    expect(history.runs[0]!.history.events.length).toBeGreaterThan(10);
    const md = await audit.report(incidentId, 'markdown');
    expect(typeof md).toBe('string');
    expect(md).toContain(hosts[0]);
    const json = (await audit.report(incidentId, 'json')) as { incident: { incidentId: string } };
    expect(json.incident.incidentId).toBe(incidentId);
    await expect(audit.timeline('INC-0000000000000000-000000')).rejects.toBeInstanceOf(IncidentNotFoundError);

    // CLI views.
    const cliTimeline = await runCli(['audit', 'timeline', incidentId], { connect: () => testClient() });
    expect(cliTimeline.exitCode).toBe(0);
    expect(cliTimeline.stdout.trim().split('\n')).toHaveLength(t.length);
    const cliReport = await runCli(['audit', 'report', incidentId, '--format', 'json'], {
      connect: () => testClient(),
    });
    expect(JSON.parse(cliReport.stdout).incident.incidentId).toBe(incidentId);
  });

  it('an open incident: state from the workflow query, timeline from the history so far', async () => {
    const { incidentId } = await h.ingest({
      severity: 'high',
      hosts: [`ws-open-${randomUUID().slice(0, 8)}`],
      accounts: [],
    });
    await h.until(incidentId, (s) => s.approvals.some((a) => a.state === 'pending'), 'approval');
    const audit = await loadIncidentAudit(h.client, incidentId);
    expect(audit.stateSource).toBe('query');
    expect(audit.stored.runs[0]!.status).toBe('RUNNING');
    expect(kinds(audit.timeline)).toEqual(
      expect.arrayContaining(['incident_opened', 'alert_received', 'phase_changed']),
    );
    const started = audit.stored.runs[0]!.history.events[0]!;
    expect(eventAttributes<{ firstExecutionRunId: string }>(started).firstExecutionRunId).toBe(
      audit.stored.runs[0]!.runId,
    );
    await h.service.close(incidentId, 'false_positive', undefined, actors.alice);
  });
});
