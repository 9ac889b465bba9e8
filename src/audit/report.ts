/**
 * The post-incident report, as JSON and as Markdown: summary, scope, timeline, actions (attempts, outcomes),
 * approvals (deciders), evidence (hashes), MTTD/MTTA/MTTC/MTTR, lessons learned. Built from the incident's
 * state (as its history records it, or as the workflow query answers for an open incident) and the timeline
 * derived from its history; every section that comes from history cites the event IDs.
 */
import type { EvidenceSummary, IncidentState, Phase, RefusedRequest } from '../domain/incident';
import { PHASES } from '../domain/incident';
import { formatDuration } from '../domain/metrics';
import type { IncidentHistoryExport } from './history';
import { markdownCode, markdownCodeBlock, markdownText } from '../domain/untrusted-text';
import { formatTimelineLine, type EventRef, type TimelineEntry } from './timeline';

export const REPORT_FORMAT = 'quell.incident-report/v1';

export interface ActionExecution {
  at: string;
  outcome: string;
  attempts: number;
  durationSeconds?: number;
  failure?: unknown;
  refs: EventRef[];
}

export interface IncidentReport {
  format: typeof REPORT_FORMAT;
  generatedAt: string;
  /** Where the state came from: the history (`history`) or the live workflow query (`query`). */
  stateSource: 'history' | 'query';
  incident: {
    incidentId: string;
    workflowId: string;
    title: string;
    severity: string;
    status: string;
    resolution?: string;
    phase: string;
    playbook: IncidentState['playbook'];
    correlationKey: string;
    openedAt: string;
    closedAt?: string;
    runs: number;
    reopened: number;
  };
  summary: string;
  scope: IncidentState['scope'];
  alerts: { count: number; deduplicated: number; sources: string[]; raisedBy: string[] };
  metrics: IncidentState['metrics'] & { formatted: Record<string, string> };
  milestones: IncidentState['milestones'];
  phases: { phase: Phase; enteredAt: string }[];
  actions: {
    actionId: string;
    kind: string;
    target: string;
    purpose: string;
    policy: string;
    state: string;
    attempts: number;
    responderRetries: number;
    approvalId?: string;
    undoes?: string;
    compensatedBy?: string;
    reason?: string;
    lastError?: unknown;
    startedAt?: string;
    finishedAt?: string;
    resolutions: IncidentState['actions'][number]['resolutions'];
    executions: ActionExecution[];
  }[];
  approvals: {
    approvalId: string;
    action: string;
    target: string;
    policy: string;
    state: string;
    requestedAt: string;
    requestedBy: string[];
    why: string;
    decidedAt?: string;
    escalatedAt?: string;
    expiryOutcome?: string;
    deciders: {
      decider: string;
      roles: string[];
      decision: string;
      comment?: string;
      at: string;
      via: string;
    }[];
    refused: {
      decider: string;
      roles?: string[];
      decision: string;
      type: string;
      reason: string;
      at: string;
      via: string;
    }[];
  }[];
  /** Refused requests with no approval to be kept on (decisions on unknown approvals, refused closes). */
  refusedRequests: RefusedRequest[];
  evidence: (EvidenceSummary & { refs: EventRef[] })[];
  notifications: { total: number; failed: number; byRoute: Record<string, number> };
  checklist: IncidentState['checklist'];
  notes: IncidentState['notes'];
  lessonsLearned: IncidentState['notes'];
  timeline: TimelineEntry[];
  history: { runs: { runId: string; status: string; events: number }[]; events: number };
}

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

/** Untrusted text inside the Markdown: escaped, one line (see src/domain/untrusted-text.ts). */
const md = (s: string | number | undefined | null) => markdownText(String(s ?? ''));
const code = (s: string | number | undefined | null) => markdownCode(String(s ?? ''));

/** The report as Markdown (GitHub-flavoured tables). Every value that came from outside is escaped. */
export function renderReportMarkdown(r: IncidentReport, opts: { maxTimelineEntries?: number } = {}): string {
  const i = r.incident;
  const out: string[] = [];
  out.push(`# Post-incident report: ${md(i.title)}`, '');
  out.push(
    `| | |`,
    `|---|---|`,
    `| Incident | ${code(i.incidentId)} |`,
    `| Workflow | ${code(i.workflowId)} (${i.runs} run${i.runs === 1 ? '' : 's'}) |`,
    `| Severity | ${md(i.severity)} |`,
    `| Status | ${md(i.status)}${i.resolution ? ` (${md(i.resolution.replace('_', ' '))})` : ''}, phase ${md(i.phase.replace('_', ' '))} |`,
    `| Playbook | ${md(i.playbook.name)} (${code(i.playbook.id)} v${i.playbook.version}, sha256 ${code(`${i.playbook.hash.slice(0, 12)}…`)}) |`,
    `| Opened | ${md(i.openedAt)} |`,
    ...(i.closedAt ? [`| Closed | ${md(i.closedAt)} |`] : []),
    `| Report generated | ${md(r.generatedAt)} (state from ${r.stateSource}) |`,
    '',
  );
  out.push('## Summary', '', md(r.summary), '');
  out.push('## Metrics', '', '| MTTD | MTTA | MTTC | MTTR |', '|---|---|---|---|');
  out.push(
    `| ${r.metrics.formatted.MTTD} | ${r.metrics.formatted.MTTA} | ${r.metrics.formatted.MTTC} | ${r.metrics.formatted.MTTR} |`,
    '',
    'MTTD: first activity to detection; MTTA: opening to first human response; MTTC: opening to containment ' +
      'complete; MTTR: opening to recovery complete (or closure as a false positive).',
    '',
  );
  out.push('## Scope', '');
  for (const [k, v] of Object.entries(r.scope) as [string, string[]][])
    out.push(`- **${md(k)}**: ${v.length ? v.map((x) => code(x)).join(', ') : '-'}`);
  out.push(
    '',
    `Alerts: ${r.alerts.count} (${r.alerts.deduplicated} duplicate deliveries) from ${md(r.alerts.sources.join(', ')) || '-'}, raised by ${md(r.alerts.raisedBy.join(', ')) || '-'}.`,
    '',
  );
  out.push('## Phases', '', '| Phase | Entered |', '|---|---|');
  for (const p of r.phases) out.push(`| ${md(p.phase.replace('_', ' '))} | ${md(p.enteredAt)} |`);
  out.push('');
  out.push(
    '## Actions',
    '',
    '| Action | Target | Purpose | Policy | Outcome | Attempts | Executions (history events) |',
    '|---|---|---|---|---|---|---|',
  );
  for (const a of r.actions) {
    const execs = a.executions
      .map(
        (x) =>
          `${x.outcome} after ${x.attempts} attempt(s)${x.durationSeconds !== undefined ? ` in ${x.durationSeconds.toFixed(2)}s` : ''} (#${x.refs.map((ref) => ref.eventId).join(',#')})`,
      )
      .join('; ');
    out.push(
      `| ${md(a.actionId)} ${md(a.kind)} | ${code(a.target)} | ${md(a.purpose)} | ${md(a.policy)} | ${md(a.state)}${a.reason ? ` (${md(a.reason)})` : ''} | ${a.attempts}${a.responderRetries ? ` (${a.responderRetries} responder retr${a.responderRetries === 1 ? 'y' : 'ies'})` : ''} | ${md(execs) || '-'} |`,
    );
  }
  out.push('');
  out.push(
    '## Approvals',
    '',
    '| Approval | Request | Policy | Outcome | Deciders | Refused attempts |',
    '|---|---|---|---|---|---|',
  );
  for (const ap of r.approvals) {
    const deciders = ap.deciders
      .map(
        (d) =>
          `${md(d.decider)} (${md(d.roles.join('/'))}) ${md(d.decision)} via ${md(d.via)} at ${md(d.at)}${d.comment ? `: "${md(d.comment)}"` : ''}`,
      )
      .join('; ');
    const refused = ap.refused
      .map(
        (x) =>
          `${md(x.decider)}${x.roles?.length ? ` (${md(x.roles.join('/'))})` : ''} ${md(x.decision)} via ${md(x.via)} at ${md(x.at)}: ${md(x.type)}`,
      )
      .join('; ');
    out.push(
      `| ${md(ap.approvalId)} | ${md(ap.action)} ${code(ap.target)} (requested ${md(ap.requestedAt)} by ${md(ap.requestedBy.join(', ')) || '-'}) | ${md(ap.policy)} | ${md(ap.state)}${ap.expiryOutcome ? ` (on expiry: ${md(ap.expiryOutcome)})` : ''}${ap.escalatedAt ? `, escalated ${md(ap.escalatedAt)}` : ''} | ${deciders || '-'} | ${refused || '-'} |`,
    );
  }
  out.push('');
  if (r.refusedRequests.length) {
    out.push(
      '### Refused requests without an approval',
      '',
      'Decisions on approvals that do not exist, and close requests the incident refused.',
      '',
      '| When | Who | Request | Refusal |',
      '|---|---|---|---|',
    );
    for (const x of r.refusedRequests) {
      out.push(
        `| ${md(x.at)} | ${md(x.decider)}${x.roles.length ? ` (${md(x.roles.join('/'))})` : ''} | ${md(x.request)} ${md(x.decision)}${x.approvalId ? ` on ${md(x.approvalId)}` : ''} via ${md(x.via)} | ${md(x.type)}: ${md(x.reason)} |`,
      );
    }
    out.push('');
  }
  out.push(
    '## Evidence',
    '',
    '| Evidence | Subject | SHA-256 | Size | Collected | Custody | History events |',
    '|---|---|---|---|---|---|---|',
  );
  for (const e of r.evidence) {
    out.push(
      `| ${code(e.evidenceId)} ${md(e.name)} | ${code(e.subject)} | ${code(e.sha256)} | ${e.sizeBytes} B | ${md(e.collectedAt)} (${md(e.timeZone)}) | ${md(e.collectedBy)}, ${md(e.location)} | ${e.refs.map((x) => `#${x.eventId}`).join(' ') || '-'} |`,
    );
  }
  if (!r.evidence.length) out.push('| - | | | | | | |');
  out.push('');
  out.push(
    '## Notifications',
    '',
    `${r.notifications.total} sent (${r.notifications.failed} failed): ${
      Object.entries(r.notifications.byRoute)
        .map(([k, v]) => `${md(k)} ${v}`)
        .join(', ') || '-'
    }.`,
    '',
  );
  out.push('## Eradication checklist', '');
  for (const c of r.checklist)
    out.push(
      `- [${c.completedAt ? 'x' : ' '}] ${md(c.text)}${c.completedBy ? ` — ${md(c.completedBy)}, ${md(c.completedAt)}${c.note ? `: ${md(c.note)}` : ''}` : ''}`,
    );
  out.push('');
  out.push('## Lessons learned', '');
  if (r.lessonsLearned.length)
    for (const n of r.lessonsLearned) out.push(`- ${md(n.text)} — ${md(n.author)}, ${md(n.at)}`);
  else out.push('_None recorded._');
  const otherNotes = r.notes.filter((n) => n.kind !== 'lessons_learned');
  if (otherNotes.length) {
    out.push('', '### Notes', '');
    for (const n of otherNotes) out.push(`- ${md(n.text)} — ${md(n.author)}, ${md(n.at)}`);
  }
  out.push('');
  const max = opts.maxTimelineEntries ?? 500;
  const shown = r.timeline.filter((e) => e.kind !== 'alert_deduplicated');
  out.push(
    '## Timeline',
    '',
    `From the workflow history (${r.history.events} events in ${r.history.runs.length || r.incident.runs} run(s)); ` +
      'each line cites its history events as `#<event ID>` in the run shown.',
    '',
  );
  const lines = shown.slice(0, max).map((e) => formatTimelineLine(e));
  if (shown.length > max) lines.push(`... ${shown.length - max} more entries (see the JSON report)`);
  out.push(...markdownCodeBlock(lines), '');
  return out.join('\n');
}
