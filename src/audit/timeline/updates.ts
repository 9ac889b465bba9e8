/**
 * Alerts, approval decisions, failed-action retries and skips, checklist items, notes and close requests, read
 * from updates: `WorkflowExecutionUpdateAccepted` (the arguments, with the verified actor and roles) and
 * `WorkflowExecutionUpdateCompleted` (the workflow's answer, or the failure of a decision or close it
 * refused). Rejected updates leave no history, so no entry.
 */
import type { NormalizedAlert } from '../../domain/alert';
import {
  addNoteUpdate,
  closeIncidentUpdate,
  completeChecklistItemUpdate,
  decideApprovalUpdate,
  ingestAlertUpdate,
  resolveFailedActionUpdate,
  type AlertReceipt,
  type ApprovalDecisionRequest,
} from '../../contracts';
import type { Approval, ChecklistItem, IncidentAction, IncidentNote } from '../../domain/incident';
import type { HistoryEventJson } from '../history-json';
import { firstPayloadValue } from '../payloads';
import type { TimelineCollector } from './collector';
import { describeFailure, failureSummary, ref, refOf, type FailureJson } from './events';
import type { StateSnapshots } from './snapshots';
import type { EntryBody, EventReader, EventRef, RunEvent } from './types';

interface AcceptedUpdate {
  accepted: HistoryEventJson;
  name: string;
  arg: unknown;
}

/** One run's updates: an entry when each completes, and one for each still running at the end of the run. */
export class UpdateReader implements EventReader {
  private readonly open = new Map<string, AcceptedUpdate>();

  constructor(
    private readonly timeline: TimelineCollector,
    private readonly snapshots: StateSnapshots,
    private readonly includeDeduplicated: boolean,
  ) {}

  read(ev: RunEvent): void {
    if (ev.event.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED') this.accepted(ev);
    else if (ev.event.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED') this.completed(ev);
  }

  private accepted({ event, id, attrs }: RunEvent): void {
    const req = attrs.acceptedRequest as
      { meta?: { updateId?: string }; input?: { name?: string; args?: unknown } } | undefined;
    this.open.set(req?.meta?.updateId ?? String(id), {
      accepted: event,
      name: req?.input?.name ?? '?',
      arg: firstPayloadValue(req?.input?.args),
    });
  }

  private completed(ev: RunEvent): void {
    const updateId = (ev.attrs.meta as { updateId?: string } | undefined)?.updateId ?? '';
    const u = this.open.get(updateId);
    if (!u) return;
    this.open.delete(updateId);
    const outcome = ev.attrs.outcome as { success?: unknown; failure?: FailureJson } | undefined;
    const result = outcome?.success !== undefined ? firstPayloadValue(outcome.success) : undefined;
    const refs = [ref(ev.runId, u.accepted), refOf(ev)];
    const entry = updateEntry(u.name, u.arg, result, outcome?.failure, refs);
    if (entry.kind === 'alert_deduplicated' && !this.includeDeduplicated) return;
    if (entry.kind === 'approval_decision' && result)
      this.snapshots.recordApproval(result as Approval, refOf(ev), ev.runIndex);
    if (entry.kind === 'note_added' && result)
      this.snapshots.notesByUpdate.add((result as IncidentNote).noteId);
    this.add(ev.runIndex, u, entry);
  }

  /** Updates accepted but not completed when the history was exported. */
  finish(runIndex: number, runId: string): void {
    for (const u of this.open.values())
      this.add(runIndex, u, updateEntry(u.name, u.arg, undefined, undefined, [ref(runId, u.accepted)]));
  }

  private add(runIndex: number, u: AcceptedUpdate, entry: EntryBody): void {
    this.timeline.add(
      { runIndex, eventId: Number(u.accepted.eventId) },
      { at: u.accepted.eventTime ?? '', ...entry },
    );
  }
}

interface Actor {
  subject?: string;
  roles?: string[];
}

/** An update as the history holds it, with what every entry of it says. */
interface UpdateCall {
  name: string;
  arg: unknown;
  result: unknown;
  refs: EventRef[];
  actor?: Actor;
  /** The actor and roles as entry fields. */
  who: { actor?: string; roles?: string[] };
  /** Accepted and not answered yet. */
  inProgress: boolean;
}

function updateEntry(
  name: string,
  arg: unknown,
  result: unknown,
  failure: FailureJson | undefined,
  refs: EventRef[],
): EntryBody {
  const actor = (arg as { actor?: Actor } | undefined)?.actor;
  const call: UpdateCall = {
    name,
    arg,
    result,
    refs,
    ...(actor ? { actor } : {}),
    who: {
      ...(actor?.subject ? { actor: actor.subject } : {}),
      ...(actor?.roles ? { roles: actor.roles } : {}),
    },
    inProgress: result === undefined && !failure,
  };
  if (failure) return failedEntry(call, failure);
  const answered = ANSWERED.get(name);
  if (answered) return answered(call);
  return {
    kind: 'update_received',
    summary: `Update ${name}${actor?.subject ? ` by ${actor.subject}` : ''}`,
    ...call.who,
    refs,
    details: { update: name, request: arg, result },
  };
}

/** The entry of each update the incident defines, answered or still running. */
const ANSWERED = new Map<string, (call: UpdateCall) => EntryBody>([
  [ingestAlertUpdate.name, alertEntry],
  [decideApprovalUpdate.name, decisionEntry],
  [resolveFailedActionUpdate.name, resolutionEntry],
  [completeChecklistItemUpdate.name, checklistEntry],
  [addNoteUpdate.name, noteEntry],
  [closeIncidentUpdate.name, closeEntry],
]);

/**
 * A failed update. The incident accepts a decision or a close it refuses and then fails it, so the refusal is
 * in the history.
 */
function failedEntry({ name, arg, refs, actor, who }: UpdateCall, failure: FailureJson): EntryBody {
  const f = failureSummary(failure);
  const refusal = { type: f.type, reason: f.message };
  if (name === decideApprovalUpdate.name) {
    const req = arg as ApprovalDecisionRequest | undefined;
    return {
      kind: 'approval_decision',
      summary: `${actor?.subject ?? '?'}'s "${req?.decision ?? '?'}" on ${req?.approvalId ?? '?'} refused: ${describeFailure(f)}`,
      ...who,
      refs,
      details: { ...decisionDetails(req), outcome: 'refused', refusal },
    };
  }
  if (name === closeIncidentUpdate.name) {
    const req = arg as { resolution?: string; comment?: string } | undefined;
    return {
      kind: 'close_requested',
      summary: `${actor?.subject ?? '?'}'s close as ${req?.resolution?.replace('_', ' ') ?? '?'} refused: ${describeFailure(f)}`,
      ...who,
      refs,
      details: {
        resolution: req?.resolution,
        ...(req?.comment ? { comment: req.comment } : {}),
        outcome: 'refused',
        refusal,
      },
    };
  }
  return {
    kind: 'update_failed',
    summary: `${name} by ${actor?.subject ?? '?'} failed: ${describeFailure(f)}`,
    ...who,
    refs,
    details: { update: name, request: arg, failure: f },
  };
}

function alertEntry({ arg, result, refs, inProgress }: UpdateCall): EntryBody {
  const req = arg as { alert?: NormalizedAlert; raisedBy?: string } | undefined;
  const receipt = result as AlertReceipt | undefined;
  const alert = req?.alert;
  const dedup = receipt?.deduplicated === true;
  return {
    kind: dedup ? 'alert_deduplicated' : 'alert_received',
    summary: dedup
      ? `Alert ${receipt?.alertId ?? '?'} redelivered (deduplicated)`
      : `Alert received from ${alert?.source ?? '?'}: ${alert?.title ?? '?'} [${alert?.severity ?? '?'}]` +
        (receipt ? ` (alert #${receipt.alertCount}, incident severity ${receipt.severity})` : ''),
    ...(req?.raisedBy ? { actor: req.raisedBy } : {}),
    refs,
    details: {
      alertId: receipt?.alertId,
      source: alert?.source,
      sourceAlertId: alert?.sourceAlertId,
      title: alert?.title,
      rule: alert?.ruleName,
      type: alert?.type,
      severity: alert?.severity,
      detectedAt: alert?.detectedAt,
      firstSeenAt: alert?.firstSeenAt,
      entities: alert?.entities,
      raisedBy: req?.raisedBy,
      deduplicated: dedup,
      alertCount: receipt?.alertCount,
      incidentSeverity: receipt?.severity,
      ...(inProgress ? { inProgress: true } : {}),
    },
  };
}

function decisionEntry({ arg, result, refs, actor, who, inProgress }: UpdateCall): EntryBody {
  const req = arg as ApprovalDecisionRequest | undefined;
  const approval = result as Approval | undefined;
  return {
    kind: 'approval_decision',
    summary:
      `${actor?.subject ?? '?'} ${req?.decision === 'approve' ? 'approved' : 'rejected'} ${req?.approvalId ?? '?'}` +
      (approval
        ? ` (${approval.request.action} ${approval.request.target}; approval now ${approval.state})`
        : ''),
    ...who,
    refs,
    details: {
      ...decisionDetails(req),
      outcome: inProgress ? 'in progress' : 'applied',
      ...(approval
        ? {
            approvalState: approval.state,
            action: approval.request.action,
            target: approval.request.target,
          }
        : {}),
    },
  };
}

/** What a decision entry says of the request, applied or refused. */
function decisionDetails(req: ApprovalDecisionRequest | undefined): Record<string, unknown> {
  return {
    // A Slack button arrives as an update that says so, with who clicked.
    via: req?.via ?? 'update',
    ...(req?.slack ? { slack: req.slack } : {}),
    approvalId: req?.approvalId,
    decision: req?.decision,
    ...(req?.comment ? { comment: req.comment } : {}),
  };
}

function resolutionEntry({ arg, result, refs, actor, who }: UpdateCall): EntryBody {
  const req = arg as { actionId?: string; resolution?: string; comment?: string } | undefined;
  const action = result as IncidentAction | undefined;
  return {
    kind: 'action_resolution',
    summary:
      `${actor?.subject ?? '?'} chose ${req?.resolution ?? '?'} for failed action ${req?.actionId ?? '?'}` +
      (action ? ` (${action.kind} ${action.target})` : ''),
    ...who,
    refs,
    details: {
      actionId: req?.actionId,
      resolution: req?.resolution,
      ...(req?.comment ? { comment: req.comment } : {}),
      ...(action ? { kind: action.kind, target: action.target, lastError: action.lastError } : {}),
    },
  };
}

function checklistEntry({ arg, result, refs, actor, who }: UpdateCall): EntryBody {
  const req = arg as { itemId?: string; note?: string } | undefined;
  const item = result as ChecklistItem | undefined;
  return {
    kind: 'checklist_item_completed',
    summary: `${actor?.subject ?? '?'} completed checklist item ${req?.itemId ?? '?'}${item ? `: ${item.text}` : ''}`,
    ...who,
    refs,
    details: { itemId: req?.itemId, ...(req?.note ? { note: req.note } : {}), text: item?.text },
  };
}

function noteEntry({ arg, result, refs, actor, who }: UpdateCall): EntryBody {
  const req = arg as { text?: string; kind?: string } | undefined;
  const note = result as IncidentNote | undefined;
  return {
    kind: 'note_added',
    summary: `${req?.kind === 'lessons_learned' ? 'Lesson learned' : 'Note'} by ${actor?.subject ?? '?'}: ${req?.text ?? ''}`,
    ...who,
    refs,
    details: { noteId: note?.noteId, kind: req?.kind, text: req?.text },
  };
}

function closeEntry({ arg, result, refs, actor, who }: UpdateCall): EntryBody {
  const req = arg as { resolution?: string; comment?: string } | undefined;
  const receipt = result as { compensating?: string[] } | undefined;
  return {
    kind: 'close_requested',
    summary:
      `${actor?.subject ?? '?'} closed the incident as ${req?.resolution?.replace('_', ' ') ?? '?'}` +
      (receipt?.compensating?.length ? `; undoing ${receipt.compensating.join(', ')} first` : ''),
    ...who,
    refs,
    details: {
      resolution: req?.resolution,
      ...(req?.comment ? { comment: req.comment } : {}),
      compensating: receipt?.compensating ?? [],
    },
  };
}
