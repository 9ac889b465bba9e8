/** Alerts joining the incident: dedup by identity, scope and severity, and what a late alert sets off. */
import { patched } from '@temporalio/workflow';
import {
  alertIdentity,
  maxSeverity,
  mergeScope,
  severityRank,
  type NormalizedAlert,
} from '../../src/domain/alert';
import type { AlertReceipt } from '../../src/contracts';
import { digest53 } from '../../src/domain/digest';
import { summarizeAlert } from '../../src/domain/incident';
import { evaluateSeverity, phaseRoutes } from '../../src/playbooks/policy';
import { planContainment } from './actions';
import { applySeverityToPendingApprovals } from './approvals';
import { enrichLaterIndicators } from './enrichment';
import { investigateLateHosts, uninvestigatedHosts } from './evidence';
import { notify } from './notify';
import { PATCHES } from './patches';
import type { IncidentRun } from './run';

const RECENT_ALERTS = 10;

/** Records an alert, or counts it as a redelivery when its identity was seen before (in any run). */
export function ingestAlert(run: IncidentRun, alert: NormalizedAlert, raisedBy: string): AlertReceipt {
  const { state } = run;
  const alertId = alertIdentity(alert);
  const key = digest53(alertId);
  const deduplicated = run.seenAlerts.has(key);
  if (deduplicated) state.alerts.deduplicated++;
  else {
    run.seenAlerts.add(key);
    recordAlert(run, alert, alertId, raisedBy);
    enrichLaterIndicators(run);
  }
  return {
    incidentId: state.incidentId,
    alertId,
    deduplicated,
    alertCount: state.alerts.count,
    severity: state.severity,
  };
}

/** Whether block_ip leaves internal addresses alone: a change made once histories existed. */
export const leaveInternalIps = () => patched(PATCHES.skipInternalIps);

function recordAlert(run: IncidentRun, alert: NormalizedAlert, alertId: string, raisedBy: string): void {
  const { state, playbook } = run;
  const first = state.alerts.count === 0;
  run.raisers.add(raisedBy);
  state.alerts.count++;
  state.alerts.recent = [...state.alerts.recent, summarizeAlert(alert, alertId, raisedBy)].slice(
    -RECENT_ALERTS,
  );
  if (first) {
    state.title = alert.title;
    state.milestones.detectedAt = alert.detectedAt;
    if (alert.firstSeenAt) state.milestones.firstActivityAt = alert.firstSeenAt;
    run.refreshMetrics();
  }
  const added = new Set(mergeScope(state.scope, alert.entities));
  const widened = added.size > 0;
  // A host that joins once investigation is over (eradication onwards) is snapshotted at once: every host in
  // scope gets its evidence, whenever it was added. (During investigation the phase loop takes it.)
  if (
    widened &&
    ['eradication', 'recovery', 'lessons_learned'].includes(state.phase) &&
    !run.closeRequest &&
    uninvestigatedHosts(state).length > 0 &&
    patched(PATCHES.lateEntityEvidence)
  ) {
    investigateLateHosts(run);
  }
  const previous = state.severity;
  run.highestAlertSeverity = first ? alert.severity : maxSeverity(run.highestAlertSeverity, alert.severity);
  const next = evaluateSeverity(playbook, run.highestAlertSeverity, state.scope, state.enrichment);
  // Severity never drops: dedup and correlation must never hide an escalation.
  state.severity = first || severityRank(next) > severityRank(previous) ? next : previous;
  const escalated = !first && severityRank(state.severity) > severityRank(previous);
  run.syncSearchAttributes();
  if (state.phase === 'identification') return;
  if (escalated) {
    applySeverityToPendingApprovals(run);
    void notify(
      run,
      phaseRoutes(playbook, state.phase, state.severity).concat(playbook.notifications.responders),
      `severity raised to ${state.severity}`,
      `A correlated alert (${alert.title}) raised the incident from ${previous} to ${state.severity}. Scope: ${run.scopeSummary()}`,
      'severity escalation',
    );
  }
  if (widened || escalated) {
    const recovering = state.phase === 'recovery' || state.phase === 'lessons_learned';
    // Once recovery has begun, only the entities this alert adds are contained: hosts already released stay
    // released rather than flap with every late alert about them.
    const planned = planContainment(
      run,
      leaveInternalIps,
      recovering && patched(PATCHES.reopenNewEntitiesOnly) ? added : undefined,
    );
    if (planned > 0 && recovering) run.reopenRequested = true;
  }
}
