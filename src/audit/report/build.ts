/** `buildReport`: the report's JSON, one section at a time (each from its section's module). */
import type { IncidentState } from '../../domain/incident';
import type { IncidentHistoryExport } from '../history';
import type { TimelineEntry } from '../timeline';
import { actionsOf } from './actions';
import { approvalsOf, refusedRequestsOf } from './approvals';
import { evidenceOf } from './evidence';
import { alertsOf, incidentOf, summaryOf } from './incident';
import { metricsOf, phasesOf } from './metrics';
import { notificationsOf } from './notifications';
import { historyOf } from './timeline';
import { REPORT_FORMAT, type IncidentReport } from './types';

/**
 * The report from the incident's state (as its history records it, or as the workflow query answers for an
 * open incident) and the timeline derived from its history. `exported`: the history, for its run and event
 * counts; `stateSource` (default `history`) is recorded in the report.
 */
export function buildReport(
  state: IncidentState,
  timeline: TimelineEntry[],
  opts: { exported?: IncidentHistoryExport; stateSource?: 'history' | 'query'; now?: () => Date } = {},
): IncidentReport {
  return {
    format: REPORT_FORMAT,
    generatedAt: (opts.now?.() ?? new Date()).toISOString(),
    stateSource: opts.stateSource ?? 'history',
    incident: incidentOf(state),
    summary: summaryOf(state),
    scope: state.scope,
    alerts: alertsOf(state, timeline),
    metrics: metricsOf(state.metrics),
    milestones: state.milestones,
    phases: phasesOf(state),
    actions: actionsOf(state, timeline),
    approvals: approvalsOf(state),
    refusedRequests: refusedRequestsOf(state),
    evidence: evidenceOf(state, timeline),
    ...(state.enrichment ? { enrichment: state.enrichment } : {}),
    ...(state.ticket ? { ticket: state.ticket } : {}),
    notifications: notificationsOf(state),
    checklist: state.checklist,
    notes: state.notes,
    lessonsLearned: state.notes.filter((n) => n.kind === 'lessons_learned'),
    timeline,
    history: historyOf(opts.exported),
  };
}
