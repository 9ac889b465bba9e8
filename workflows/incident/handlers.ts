/**
 * The incident's messages: registered before the workflow's first await, since update-with-start delivers the
 * first alert in the first workflow task. Validators refuse what must leave no trace (a closed incident, a
 * malformed request); the rules people can break are checked in the handlers, so their refusals are recorded.
 */
import { setHandler } from '@temporalio/workflow';
import type { NormalizedAlert } from '../../src/domain/alert';
import {
  addNoteUpdate,
  closeIncidentUpdate,
  completeChecklistItemUpdate,
  decideApprovalSignal,
  decideApprovalUpdate,
  incidentStateQuery,
  ingestAlertUpdate,
  resolveFailedActionUpdate,
  type AddNoteRequest,
  type ApprovalDecisionRequest,
  type CloseIncidentRequest,
  type CompleteChecklistItemRequest,
  type ResolveFailedActionRequest,
} from '../../src/contracts';
import { compensationOrder } from './actions';
import { ingestAlert } from './alerts';
import {
  applyDecision,
  closeRefusal,
  decisionRefusal,
  recordRefusedDecision,
  recordRefusedRequest,
  refusalFailure,
  refuse,
} from './approvals';
import type { IncidentRun } from './run';

/** Registers every message handler, in a fixed order. */
export function registerHandlers(run: IncidentRun): void {
  setHandler(incidentStateQuery, () => run.state);
  registerAlertIntake(run);
  registerDecisions(run);
  registerResponderWork(run);
  registerClose(run);
}

/** Counts a message toward continue-as-new (a run takes at most a few thousand updates). */
function counted(run: IncidentRun): void {
  run.messagesThisRun++;
}

/** Messages for a closed incident leave no trace: its run is over (the API answers 409 before sending). */
function requireOpen(run: IncidentRun): void {
  if (run.state.status !== 'open') refuse('IncidentClosed', `incident ${run.state.incidentId} is closed`);
}

function registerAlertIntake(run: IncidentRun): void {
  const { state } = run;
  setHandler(
    ingestAlertUpdate,
    ({ alert, raisedBy }) => {
      counted(run);
      return ingestAlert(run, alert, raisedBy);
    },
    {
      validator: ({ alert, raisedBy }: { alert: NormalizedAlert; raisedBy: string }) => {
        if (!run.open)
          refuse('IncidentClosing', `incident ${state.incidentId} is closing; the alert opens a new one`);
        if (!alert?.source || !alert.sourceAlertId || !raisedBy)
          refuse('InvalidRequest', 'alert has no identity');
      },
    },
  );
}

function registerDecisions(run: IncidentRun): void {
  const { state } = run;

  // Refused decisions are accepted, recorded, then failed with their refusal type: a validator's refusal would
  // leave no trace in history, and auditors must see self-approvals, second decisions and non-approvers trying.
  // (Histories from before hold no refused updates at all, so replaying them takes no other path.)
  setHandler(
    decideApprovalUpdate,
    (req) => {
      counted(run);
      const refusal = decisionRefusal(state, req);
      if (refusal) {
        recordRefusedDecision(run, req, refusal, 'update');
        throw refusalFailure(refusal);
      }
      return applyDecision(run, req, 'update');
    },
    {
      validator: (req: ApprovalDecisionRequest) => {
        requireOpen(run);
        if (!req?.actor?.subject || !req.approvalId || !['approve', 'reject'].includes(req.decision))
          refuse(
            'InvalidRequest',
            'a decision needs an approval ID, approve or reject, and the verified actor',
          );
      },
    },
  );

  setHandler(decideApprovalSignal, (req) => {
    counted(run);
    const refusal =
      state.status !== 'open'
        ? { type: 'IncidentClosed' as const, message: 'incident is closed' }
        : decisionRefusal(state, req);
    // A signal cannot be answered, so the refusal is kept where responders and auditors can see it.
    if (refusal) recordRefusedDecision(run, req, refusal, 'signal');
    else applyDecision(run, req, 'signal');
  });
}

/** Retry or skip of a failed action, checklist items and notes: what responders do while the incident runs. */
function registerResponderWork(run: IncidentRun): void {
  registerFailedActionResolution(run);
  registerChecklist(run);
  registerNotes(run);
}

function registerFailedActionResolution(run: IncidentRun): void {
  const { state } = run;

  setHandler(
    resolveFailedActionUpdate,
    (req) => {
      counted(run);
      run.acknowledge();
      const action = run.actionById(req.actionId)!;
      action.requestedResolution = req.resolution;
      // The answer shows what happens next: queued to run again, or skipped (the runner takes it from here).
      if (req.resolution === 'retry') {
        action.responderRetries++;
        action.state = 'approved';
      } else {
        action.state = 'skipped';
        action.finishedAt = run.now();
      }
      action.resolutions.push({
        resolution: req.resolution,
        by: req.actor.subject,
        at: run.now(),
        ...(req.comment ? { comment: req.comment } : {}),
      });
      return action;
    },
    {
      validator: (req: ResolveFailedActionRequest) => {
        requireOpen(run);
        const action = run.actionById(req.actionId);
        if (!action) refuse('ActionNotFound', `no action ${req.actionId} on ${state.incidentId}`);
        if (action.state !== 'failed' || action.requestedResolution) {
          refuse(
            'ActionNotFailed',
            `action ${req.actionId} is ${action.state}; only failed actions can be retried or skipped`,
          );
        }
      },
    },
  );
}

function registerChecklist(run: IncidentRun): void {
  const { state } = run;
  setHandler(
    completeChecklistItemUpdate,
    (req) => {
      counted(run);
      run.acknowledge();
      const item = state.checklist.find((i) => i.itemId === req.itemId)!;
      item.completedBy = req.actor.subject;
      item.completedAt = run.now();
      if (req.note) item.note = req.note;
      return item;
    },
    {
      validator: (req: CompleteChecklistItemRequest) => {
        requireOpen(run);
        const item = state.checklist.find((i) => i.itemId === req.itemId);
        if (!item) refuse('ChecklistItemNotFound', `no checklist item ${req.itemId} on ${state.incidentId}`);
        if (item.completedAt)
          refuse(
            'ChecklistItemCompleted',
            `checklist item ${req.itemId} was completed by ${item.completedBy}`,
          );
      },
    },
  );
}

function registerNotes(run: IncidentRun): void {
  const { state } = run;
  setHandler(
    addNoteUpdate,
    (req) => {
      counted(run);
      run.acknowledge();
      const note = {
        noteId: `note-${run.nextIds.note++}`,
        kind: req.kind,
        text: req.text,
        author: req.actor.subject,
        at: run.now(),
      };
      state.notes.push(note);
      return note;
    },
    {
      validator: (req: AddNoteRequest) => {
        requireOpen(run);
        if (!req.text || req.text.length > 20_000)
          refuse('InvalidRequest', 'a note needs 1 to 20,000 characters');
      },
    },
  );
}

function registerClose(run: IncidentRun): void {
  const { state } = run;
  setHandler(
    closeIncidentUpdate,
    (req) => {
      counted(run);
      const refusal = closeRefusal(state, run.closeRequest !== undefined, req);
      if (refusal) {
        recordRefusedRequest(state, {
          request: 'closeIncident',
          decision: req.resolution,
          decider: req.actor?.subject ?? '(unknown)',
          roles: req.actor?.roles ?? [],
          reason: refusal.message,
          type: refusal.type,
          at: run.now(),
          via: 'update',
        });
        throw refusalFailure(refusal);
      }
      run.acknowledge();
      run.closeRequest = { ...req, at: run.now() };
      return {
        incidentId: state.incidentId,
        resolution: req.resolution,
        compensating:
          req.resolution === 'false_positive' ? compensationOrder(state.actions).map((a) => a.actionId) : [],
      };
    },
    {
      validator: (req: CloseIncidentRequest) => {
        requireOpen(run);
        if (!req?.actor?.subject || !['resolved', 'false_positive'].includes(req.resolution))
          refuse(
            'InvalidRequest',
            'a close needs a resolution (resolved or false_positive) and the verified actor',
          );
      },
    },
  );
}
