/**
 * Undoing containment: recovery once eradication is complete (each undo under the playbook's recovery
 * policy), the saga that compensates everything when the incident is closed as a false positive, and closing.
 */
import { allHandlersFinished, condition, patched, upsertMemo } from '@temporalio/workflow';
import { isSettled, resolveKind, specsOf, type UndoSpec } from '../../src/domain/actions';
import type { IncidentState, WaitingFor } from '../../src/domain/incident';
import { formatDuration } from '../../src/domain/metrics';
import { oneLine } from '../../src/domain/untrusted-text';
import { phaseRoutes, recoveryPolicy } from '../../src/playbooks/policy';
import { compensationOrder, proposeAction, startRunner } from './actions';
import { settleApproval } from './approvals';
import { notify } from './notify';
import { PATCHES } from './patches';
import type { IncidentRun } from './run';
import { ticketSyncEnabled, ticketsSettled } from './tickets';

/** What recovery waits for while containment is unsettled (pure: the state says it all). */
export function describeContainmentWait(state: IncidentState, since: string): WaitingFor {
  return describeActionsWait(state, since, 'containment');
}

/** What recovery waits for while a phase's actions are unsettled (pure: the state says it all). */
export function describeActionsWait(
  state: IncidentState,
  since: string,
  purpose: 'containment' | 'eradication',
): WaitingFor {
  const unsettled = state.actions.filter((a) => a.purpose === purpose && !isSettled(a));
  const approvals = unsettled
    .filter((a) => a.state === 'pending_approval' && a.approvalId)
    .map((a) => ({ approvalId: a.approvalId!, action: a.kind, target: a.target }));
  const failedActions = unsettled
    .filter((a) => a.state === 'failed')
    .map((a) => ({ actionId: a.actionId, kind: a.kind, target: a.target }));
  const runningActions = unsettled
    .filter((a) => a.state === 'running' || a.state === 'approved')
    .map((a) => a.actionId);
  const parts = [
    ...approvals.map(
      (a) => `${a.approvalId} (${a.action} ${oneLine(a.target)}) awaits an approver's decision`,
    ),
    ...failedActions.map((a) => `${a.actionId} (${a.kind} ${oneLine(a.target)}) failed: retry or skip it`),
    ...(runningActions.length ? [`${runningActions.join(', ')} still running`] : []),
  ];
  return {
    phase: state.phase,
    since,
    summary: `Recovery waits for ${purpose === 'containment' ? 'containment' : "eradication's actions"} to settle: ${parts.join('; ')}.`,
    approvals,
    failedActions,
    runningActions,
  };
}

const PENDING_AT_RECOVERY_NOTICE =
  'Eradication is complete and recovery waits for this decision: approving applies the containment ' +
  'now, and recovery then asks to undo it. Reject it if the containment is no longer needed.';

/** Whether every action of a phase has reached a final state. */
function phaseSettled(state: IncidentState, purpose: 'containment' | 'eradication'): boolean {
  return state.actions.filter((a) => a.purpose === purpose).every(isSettled);
}

/**
 * Parks until every action of the phase has settled (or the incident is closing as a false positive), saying
 * for what in `state.waitingFor` (and, with `recordInHistory`, the memo, hence the history and the timeline);
 * approvals still pending carry `notice`.
 */
async function waitForPhaseActions(
  run: IncidentRun,
  purpose: 'containment' | 'eradication',
  notice: string,
  recordInHistory: boolean,
): Promise<void> {
  const { state } = run;
  const done = () => phaseSettled(state, purpose) || run.closingAsFalsePositive();
  const since = run.now();
  for (;;) {
    const waiting = describeActionsWait(state, since, purpose);
    const key = waiting.summary;
    state.waitingFor = waiting;
    for (const a of waiting.approvals) {
      const approval = run.approvalById(a.approvalId);
      if (approval && !approval.notice) approval.notice = notice;
    }
    if (recordInHistory) upsertMemo({ waitingFor: waiting.summary });
    await run.parkUntil(() => done() || describeActionsWait(state, since, purpose).summary !== key);
    if (done()) break;
  }
  delete state.waitingFor;
  if (recordInHistory) upsertMemo({ waitingFor: undefined });
}

/**
 * Recovery undoes only containment that took effect, so it first waits for every containment action to
 * settle: running ones to finish, pending approvals to be decided (or to expire), failed ones to be retried
 * or skipped. Approvals still pending say that approving now contains, and recovery then asks to undo it.
 */
async function waitForContainmentToSettle(run: IncidentRun): Promise<void> {
  if (run.containmentSettled() || run.closingAsFalsePositive()) return;
  const recordInHistory = patched(PATCHES.recoveryWaitVisible);
  await waitForPhaseActions(run, 'containment', PENDING_AT_RECOVERY_NOTICE, recordInHistory);
}

const PENDING_ERADICATION_NOTICE =
  "Eradication's checklist is complete and recovery waits for this decision: approving runs the action now, " +
  'before containment is undone. Reject it if it is no longer needed.';

/**
 * Recovery undoes containment only once eradication is over: an eradication action still pending, running or
 * failed (one no checklist item names, or named by an item a person completed) is waited for, as containment
 * is, so a host is not released while its scan or quarantine is still in flight. Incidents recorded before
 * this wait replay without it (a patch); incidents with nothing unsettled never reach it.
 */
export async function waitForEradicationActions(run: IncidentRun): Promise<void> {
  if (phaseSettled(run.state, 'eradication') || run.closingAsFalsePositive()) return;
  if (!patched(PATCHES.eradicationActionsSettle)) return;
  await waitForPhaseActions(run, 'eradication', PENDING_ERADICATION_NOTICE, true);
}

/** The undo a containment action declares; none for actions without one (they stay as they are). */
function undoOf(run: IncidentRun, kind: string): UndoSpec | undefined {
  const resolved = resolveKind(specsOf(run.playbook), kind);
  return resolved && !resolved.undo ? resolved.spec.undo : undefined;
}

/** Undoes every containment still in place, each under the recovery approval policy, then verifies it. */
export async function recover(run: IncidentRun): Promise<void> {
  const { state, playbook } = run;
  await waitForContainmentToSettle(run);
  if (run.closingAsFalsePositive()) return;
  const policy = recoveryPolicy(playbook, state.severity);
  // Whoever completed eradication may not approve undoing the containment (four eyes).
  const eradicators = [...new Set(state.checklist.map((i) => i.completedBy).filter((s): s is string => !!s))];
  for (const original of compensationOrder(state.actions)) {
    const undoing = state.actions.some(
      (a) =>
        a.undoes === original.actionId &&
        a.state !== 'failed' &&
        a.state !== 'rejected' &&
        a.state !== 'expired' &&
        a.state !== 'skipped',
    );
    const kind = undoOf(run, original.kind)?.name;
    if (undoing || !kind) continue;
    proposeAction(run, {
      kind,
      target: original.target,
      purpose: 'recovery',
      undoes: original.actionId,
      policy,
      neverReason: 'playbook recovery policy is never: undo it by hand',
      approval: () => ({
        why: `Recovery: ${kind} ${original.target}, undoing ${original.actionId} now that eradication is complete.`,
        requestedBy: eradicators,
      }),
    });
  }
  await run.parkUntil(() => run.recoverySettled() || run.closingAsFalsePositive() || run.reopenRequested);
}

/** Saga compensation: undo every containment already done, newest first, each retried until done. */
export async function closeAsFalsePositive(run: IncidentRun): Promise<void> {
  const { state } = run;
  for (const approval of state.approvals) {
    if (approval.state === 'pending')
      settleApproval(
        state,
        approval,
        'cancelled',
        'skipped',
        run.now(),
        'incident closed as a false positive',
      );
  }
  // Let running actions finish first: their effect must be known before it can be undone.
  await run.parkUntil(() => !state.actions.some((a) => a.state === 'running' || a.state === 'approved'));
  for (const a of state.actions) {
    if (a.state === 'failed' && a.purpose === 'containment') {
      a.state = 'skipped';
      a.reason = 'incident closed as a false positive';
    }
  }
  for (const original of compensationOrder(state.actions)) {
    const undoKind = undoOf(run, original.kind)?.name;
    if (!undoKind) continue;
    let undo = state.actions.find((a) => a.undoes === original.actionId && a.saga);
    if (!undo) {
      // A recovery undo that failed or waits for approval is superseded by the compensation.
      for (const stale of state.actions) {
        if (stale.undoes === original.actionId && !isSettled(stale)) {
          stale.state = 'skipped';
          stale.reason = 'superseded by false-positive compensation';
          stale.finishedAt = run.now();
        }
      }
      undo = run.newAction({
        kind: undoKind,
        target: original.target,
        purpose: 'recovery',
        undoes: original.actionId,
        policy: 'auto',
        state: 'approved',
        reason: 'false-positive compensation',
        saga: true,
      });
      startRunner(run, undo);
    }
    const u = undo;
    // One at a time, in reverse order: a later containment may depend on an earlier one still holding.
    await run.parkUntil(() => isSettled(u));
  }
  await finishClose(run, 'false_positive');
}

/** Closes the incident: metrics, the closing notice, the closed phase; waits for message handlers to finish. */
export async function finishClose(
  run: IncidentRun,
  resolution: 'false_positive' | 'resolved',
): Promise<void> {
  const { state, playbook } = run;
  if (run.lateSnapshots > 0) await condition(() => run.lateSnapshots === 0);
  state.resolution = resolution;
  if (!state.milestones.recoveredAt) state.milestones.recoveredAt = run.now();
  state.milestones.closedAt = run.now();
  run.refreshMetrics();
  const comment = run.closeRequest?.comment;
  await notify(
    run,
    phaseRoutes(playbook, 'closed', state.severity).concat(playbook.notifications.responders),
    `closed (${resolution.replace('_', ' ')})`,
    `Incident closed as ${resolution.replace('_', ' ')}${comment ? `: ${comment}` : ''}. ` +
      `MTTA ${formatDuration(state.metrics.mttaSeconds)}, MTTC ${formatDuration(state.metrics.mttcSeconds)}, ` +
      `MTTR ${formatDuration(state.metrics.mttrSeconds)}.`,
    'closed',
  );
  state.status = 'closed';
  // One closing time: the report's "Closed" and the phase table's must not differ by the notification's time.
  run.enterPhase('closed', state.milestones.closedAt);
  // The ticket's close (and any comment still queued) goes out before the run completes.
  if (ticketSyncEnabled(run)) await ticketsSettled(run);
  // Let in-flight message handlers finish before the run completes, so no update is cut off.
  await condition(allHandlersFinished);
}
