/**
 * The incident workflow: one security incident from its first alert to closure, through the response phases.
 * Deterministic code only. This function registers the messages, resumes what the state says was live, runs
 * the phase loop and continues as new when the history grows; the parts live beside it:
 * run.ts (state), handlers.ts (messages), alerts.ts, approvals.ts, actions.ts, evidence.ts, recovery.ts,
 * phases.ts, notify.ts, tickets.ts.
 */
import { allHandlersFinished, condition, continueAsNew, log, workflowInfo } from '@temporalio/workflow';
import { RESUMABLE_ACTION_STATES } from '../../src/domain/actions';
import type { IncidentWorkflowInput } from '../../src/contracts';
import type { IncidentState } from '../../src/domain/incident';
import { startRunner } from './actions';
import { recordPendingApprovals, watchApproval } from './approvals';
import { registerHandlers } from './handlers';
import { runPhases } from './phases';
import { IncidentRun } from './run';
import { startTicketSync } from './tickets';

export type { IncidentWorkflowInput };

/** Continue as new well before Temporal's history warning (10,240 events) and its 2,000-updates-per-run cap. */
const HISTORY_EVENTS_BEFORE_CONTINUE = 8_000;
const MESSAGES_BEFORE_CONTINUE = 1_000;

/** One security incident, from the first alert to closure. */
export async function incidentWorkflow(input: IncidentWorkflowInput): Promise<IncidentState> {
  const run = new IncidentRun(input);
  const { state } = run;
  registerHandlers(run);

  // After continue-as-new: restart the coroutines the state says were live.
  for (const approval of state.approvals) if (approval.state === 'pending') watchApproval(run, approval);
  for (const action of state.actions)
    if (RESUMABLE_ACTION_STATES.includes(action.state)) startRunner(run, action);
  run.syncSearchAttributes();
  recordPendingApprovals(run);
  startTicketSync(run);

  const shouldContinueAsNew = () =>
    state.status === 'open' &&
    (workflowInfo().continueAsNewSuggested ||
      workflowInfo().historyLength >= HISTORY_EVENTS_BEFORE_CONTINUE ||
      run.messagesThisRun >= MESSAGES_BEFORE_CONTINUE);
  // Only at a quiet moment: the phase loop parked, no activity in flight (activities cannot cross runs), and
  // every message handler finished.
  const continueWhenQuiet = async (): Promise<'continue'> => {
    await condition(
      () => shouldContinueAsNew() && run.mainParked && run.inFlight === 0 && allHandlersFinished(),
    );
    return 'continue';
  };

  const outcome = await Promise.race([runPhases(run), continueWhenQuiet()]);
  if (outcome === 'continue') {
    state.runs++;
    log.info('continuing as new', {
      incidentId: state.incidentId,
      historyLength: workflowInfo().historyLength,
    });
    return continueAsNew<typeof incidentWorkflow>({ ...input, carried: run.carried() });
  }
  return state;
}
