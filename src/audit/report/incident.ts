/**
 * The report's opening: the incident's particulars, the one-paragraph summary, and the scope and alerts that
 * raised it.
 */
import type { IncidentState } from '../../domain/incident';
import { formatDuration } from '../../domain/metrics';
import type { TimelineEntry } from '../timeline';
import { code, md } from './escape';
import type { IncidentReport } from './types';

export function incidentOf(state: IncidentState): IncidentReport['incident'] {
  return {
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
  };
}

/** One paragraph: what, since when, how wide, what was contained and approved, where it stands, the metrics. */
export function summaryOf(state: IncidentState): string {
  const m = state.metrics;
  const contained = state.actions.filter(
    (a) => a.purpose === 'containment' && ['succeeded', 'compensated'].includes(a.state),
  );
  return (
    `${state.severity.toUpperCase()} incident "${state.title}" (${state.incidentId}), opened ${state.openedAt} ` +
    `under playbook ${state.playbook.id} v${state.playbook.version}; ${state.alerts.count} alert(s) ` +
    `(${state.alerts.deduplicated} duplicate deliveries), scope ${scopeText(state.scope) || 'empty'}. ` +
    `${contained.length} containment action(s) took effect; ` +
    `${state.approvals.length} approval(s) requested. ` +
    (state.status === 'closed'
      ? `Closed ${state.milestones.closedAt ?? ''} as ${(state.resolution ?? 'resolved').replace('_', ' ')}.`
      : `Still open, in ${state.phase.replace('_', ' ')}.`) +
    ` MTTA ${formatDuration(m.mttaSeconds)}, MTTC ${formatDuration(m.mttcSeconds)}, MTTR ${formatDuration(m.mttrSeconds)}.`
  );
}

function scopeText(scope: IncidentState['scope']): string {
  return [
    scope.hosts.length ? `${scope.hosts.length} host(s)` : '',
    scope.accounts.length ? `${scope.accounts.length} account(s)` : '',
    scope.ips.length ? `${scope.ips.length} IP(s)` : '',
    scope.domains.length ? `${scope.domains.length} domain(s)` : '',
    scope.files?.length ? `${scope.files.length} file hash(es)` : '',
  ]
    .filter(Boolean)
    .join(', ');
}

/** The alert counts from the state; their sources and who raised them from the timeline. */
export function alertsOf(state: IncidentState, timeline: TimelineEntry[]): IncidentReport['alerts'] {
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
  return { count: state.alerts.count, deduplicated: state.alerts.deduplicated, sources, raisedBy };
}

/** The title and the table of the incident's particulars. */
export function headerMarkdown(r: IncidentReport): string[] {
  const i = r.incident;
  return [
    `# Post-incident report: ${md(i.title)}`,
    '',
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
  ];
}

export function summaryMarkdown(r: IncidentReport): string[] {
  return ['## Summary', '', md(r.summary), ''];
}

/** What is in scope, kind by kind, and the alerts. */
export function scopeMarkdown(r: IncidentReport): string[] {
  return [
    '## Scope',
    '',
    ...(Object.entries(r.scope) as [string, string[]][]).map(
      ([k, v]) => `- **${md(k)}**: ${v.length ? v.map((x) => code(x)).join(', ') : '-'}`,
    ),
    '',
    `Alerts: ${r.alerts.count} (${r.alerts.deduplicated} duplicate deliveries) from ${md(r.alerts.sources.join(', ')) || '-'}, raised by ${md(r.alerts.raisedBy.join(', ')) || '-'}.`,
    '',
  ];
}
