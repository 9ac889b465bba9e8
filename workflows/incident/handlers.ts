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

export function registerHandlers(run: IncidentRun): void {
  const { state } = run;
  const counted = () => run.messagesThisRun++;
  /** Messages for a closed incident leave no trace: its run is over (the API answers 409 before sending). */
  const requireOpen = () => {
    if (state.status !== 'open') refuse('IncidentClosed', `incident ${state.incidentId} is closed`);
  };

  setHandler(incidentStateQuery, () => state);

  setHandler(
    ingestAlertUpdate,
    ({ alert, raisedBy }) => {
      counted();
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

  // Refused decisions are accepted, recorded, then failed with their refusal type: a validator's refusal would
  // leave no trace in history, and auditors must see self-approvals, second decisions and non-approvers trying.
  // (Histories from before hold no refused updates at all, so replaying them takes no other path.)
  setHandler(
    decideApprovalUpdate,
    (req) => {
      counted();
      const refusal = decisionRefusal(state, req);
      if (refusal) {
        recordRefusedDecision(run, req, refusal, 'update');
        throw refusalFailure(refusal);
      }
      return applyDecision(run, req, 'update');
    },
    {
      validator: (req: ApprovalDecisionRequest) => {
        requireOpen();
        if (!req?.actor?.subject || !req.approvalId || !['approve', 'reject'].includes(req.decision))
          refuse(
            'InvalidRequest',
            'a decision needs an approval ID, approve or reject, and the verified actor',
          );
      },
    },
  );

  setHandler(decideApprovalSignal, (req) => {
    counted();
    const refusal =
      state.status !== 'open'
        ? { type: 'IncidentClosed' as const, message: 'incident is closed' }
        : decisionRefusal(state, req);
    // A signal cannot be answered, so the refusal is kept where responders and auditors can see it.
    if (refusal) recordRefusedDecision(run, req, refusal, 'signal');
    else applyDecision(run, req, 'signal');
  });

  setHandler(
    resolveFailedActionUpdate,
    (req) => {
      counted();
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
        requireOpen();
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

  setHandler(
    completeChecklistItemUpdate,
    (req) => {
      counted();
      run.acknowledge();
      const item = state.checklist.find((i) => i.itemId === req.itemId)!;
      item.completedBy = req.actor.subject;
      item.completedAt = run.now();
      if (req.note) item.note = req.note;
      return item;
    },
    {
      validator: (req: CompleteChecklistItemRequest) => {
        requireOpen();
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

  setHandler(
    addNoteUpdate,
    (req) => {
      counted();
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
        requireOpen();
        if (!req.text || req.text.length > 20_000)
          refuse('InvalidRequest', 'a note needs 1 to 20,000 characters');
      },
    },
  );

  setHandler(
    closeIncidentUpdate,
    (req) => {
      counted();
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
        requireOpen();
        if (!req?.actor?.subject || !['resolved', 'false_positive'].includes(req.resolution))
          refuse(
            'InvalidRequest',
            'a close needs a resolution (resolved or false_positive) and the verified actor',
          );
      },
    },
  );
}
