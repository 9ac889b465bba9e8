/** `buildReport`: the report's JSON from the incident's state and the timeline derived from its history. */
import type { IncidentState, RefusedRequest } from '../../domain/incident';
import { PHASES } from '../../domain/incident';
import { formatDuration } from '../../domain/metrics';
import type { IncidentHistoryExport } from '../history';
import type { EventRef, TimelineEntry } from '../timeline';
import { REPORT_FORMAT, type ActionExecution, type IncidentReport } from './types';

export function buildReport(
  state: IncidentState,
  timeline: TimelineEntry[],
  opts: { exported?: IncidentHistoryExport; stateSource?: 'history' | 'query'; now?: () => Date } = {},
): IncidentReport {
  const executions = new Map<string, ActionExecution[]>();
  for (const e of timeline) {
    if (e.kind !== 'action_executed') continue;
    const id = e.details.actionId as string | undefined;
    if (!id) continue;
    executions.set(id, [
      ...(executions.get(id) ?? []),
      {
        at: e.at,
        outcome: String(e.details.outcome),
        attempts: Number(e.details.attempts ?? 0),
        ...(typeof e.details.durationSeconds === 'number'
          ? { durationSeconds: e.details.durationSeconds }
          : {}),
        ...(e.details.failure ? { failure: e.details.failure } : {}),
        refs: e.refs,
      },
    ]);
  }
  const evidenceRefs = new Map<string, EventRef[]>();
  for (const e of timeline) {
    const ev = e.details.evidence as { evidenceId?: string } | undefined;
    if (e.kind === 'evidence_collected' && ev?.evidenceId) evidenceRefs.set(ev.evidenceId, e.refs);
  }
  const m = state.metrics;
  const byRoute: Record<string, number> = {};
  for (const n of state.notifications) byRoute[n.route] = (byRoute[n.route] ?? 0) + 1;
  const raisedBy = [
    ...new Set(
      timeline
        .filter((e) => e.kind === 'alert_received' || e.kind === 'alert_deduplicated')
        .map((e) => e.actor)
        .filter((a): a is string => !!a),
    ),
  ];
  const sources = [
    ...new Set(
      timeline
        .filter((e) => e.kind === 'alert_received')
        .map((e) => e.details.source)
        .filter((s): s is string => typeof s === 'string'),
    ),
  ];
  const contained = state.actions.filter(
    (a) => a.purpose === 'containment' && ['succeeded', 'compensated'].includes(a.state),
  );
  const scopeText = [
    state.scope.hosts.length ? `${state.scope.hosts.length} host(s)` : '',
    state.scope.accounts.length ? `${state.scope.accounts.length} account(s)` : '',
    state.scope.ips.length ? `${state.scope.ips.length} IP(s)` : '',
    state.scope.domains.length ? `${state.scope.domains.length} domain(s)` : '',
  ]
    .filter(Boolean)
    .join(', ');
  const summary =
    `${state.severity.toUpperCase()} incident "${state.title}" (${state.incidentId}), opened ${state.openedAt} ` +
    `under playbook ${state.playbook.id} v${state.playbook.version}; ${state.alerts.count} alert(s) ` +
    `(${state.alerts.deduplicated} duplicate deliveries), scope ${scopeText || 'empty'}. ` +
    `${contained.length} containment action(s) took effect; ` +
    `${state.approvals.length} approval(s) requested. ` +
    (state.status === 'closed'
      ? `Closed ${state.milestones.closedAt ?? ''} as ${(state.resolution ?? 'resolved').replace('_', ' ')}.`
      : `Still open, in ${state.phase.replace('_', ' ')}.`) +
    ` MTTA ${formatDuration(m.mttaSeconds)}, MTTC ${formatDuration(m.mttcSeconds)}, MTTR ${formatDuration(m.mttrSeconds)}.`;

  return {
    format: REPORT_FORMAT,
    generatedAt: (opts.now?.() ?? new Date()).toISOString(),
    stateSource: opts.stateSource ?? 'history',
    incident: {
      incidentId: state.incidentId,
      workflowId: state.workflowId,
      title: state.title,
      severity: state.severity,
      status: state.status,
      ...(state.resolution ? { resolution: state.resolution } : {}),
      phase: state.phase,
      playbook: state.playbook,
      correlationKey: state.correlationKey,
      openedAt: state.openedAt,
      ...(state.milestones.closedAt ? { closedAt: state.milestones.closedAt } : {}),
      runs: state.runs + 1,
      reopened: state.reopened,
    },
    summary,
    scope: state.scope,
    alerts: { count: state.alerts.count, deduplicated: state.alerts.deduplicated, sources, raisedBy },
    metrics: {
      ...m,
      formatted: {
        MTTD: formatDuration(m.mttdSeconds),
        MTTA: formatDuration(m.mttaSeconds),
        MTTC: formatDuration(m.mttcSeconds),
        MTTR: formatDuration(m.mttrSeconds),
      },
    },
    milestones: state.milestones,
    phases: PHASES.filter((p) => state.phaseTimestamps[p]).map((p) => ({
      phase: p,
      enteredAt: state.phaseTimestamps[p]!,
    })),
    actions: state.actions.map((a) => ({
      actionId: a.actionId,
      kind: a.kind,
      target: a.target,
      purpose: a.purpose,
      policy: a.policy,
      state: a.state,
      attempts: a.attempts,
      responderRetries: a.responderRetries,
      ...(a.approvalId ? { approvalId: a.approvalId } : {}),
      ...(a.undoes ? { undoes: a.undoes } : {}),
      ...(a.compensatedBy ? { compensatedBy: a.compensatedBy } : {}),
      ...(a.reason ? { reason: a.reason } : {}),
      ...(a.lastError ? { lastError: a.lastError } : {}),
      ...(a.startedAt ? { startedAt: a.startedAt } : {}),
      ...(a.finishedAt ? { finishedAt: a.finishedAt } : {}),
      resolutions: a.resolutions,
      executions: executions.get(a.actionId) ?? [],
    })),
    approvals: state.approvals.map((ap) => ({
      approvalId: ap.approvalId,
      action: ap.request.action,
      target: ap.request.target,
      policy: ap.policy,
      state: ap.state,
      requestedAt: ap.requestedAt,
      requestedBy: ap.requestedBy,
      why: ap.request.why,
      ...(ap.decidedAt ? { decidedAt: ap.decidedAt } : {}),
      ...(ap.escalatedAt ? { escalatedAt: ap.escalatedAt } : {}),
      ...(ap.expiryOutcome ? { expiryOutcome: ap.expiryOutcome } : {}),
      deciders: ap.decisions.map((d) => ({
        decider: d.decider,
        roles: d.roles,
        decision: d.decision,
        ...(d.comment ? { comment: d.comment } : {}),
        at: d.at,
        via: d.via,
      })),
      refused: ap.refusedAttempts.map((r) => ({
        decider: r.decider,
        ...(r.roles ? { roles: r.roles } : {}),
        decision: r.decision,
        type: r.type,
        reason: r.reason,
        at: r.at,
        via: r.via,
      })),
    })),
    refusedRequests: [
      ...(state.refusedRequests ?? []),
      ...(state.refusedSignals ?? []).map((x): RefusedRequest => ({
        request: 'decideApproval',
        approvalId: x.approvalId,
        decision: x.decision,
        decider: x.decider,
        roles: x.roles ?? [],
        reason: x.reason,
        type: x.type,
        at: x.at,
        via: x.via,
      })),
    ].sort((a, b) => a.at.localeCompare(b.at)),
    evidence: state.evidence.map((e) => ({ ...e, refs: evidenceRefs.get(e.evidenceId) ?? [] })),
    notifications: {
      total: state.notifications.length,
      failed: state.notifications.filter((n) => !n.delivered).length,
      byRoute,
    },
    checklist: state.checklist,
    notes: state.notes,
    lessonsLearned: state.notes.filter((n) => n.kind === 'lessons_learned'),
    timeline,
    history: {
      runs: (opts.exported?.runs ?? []).map((r) => ({
        runId: r.runId,
        status: r.status,
        events: r.history.events.length,
      })),
      events: (opts.exported?.runs ?? []).reduce((n, r) => n + r.history.events.length, 0),
    },
  };
}
