/**
 * Facts that live only in the incident's state: actions as planned (including ones that never ran), notes the
 * workflow wrote itself, approval requests, escalations, expiries and cancellations. They are read from the
 * state snapshots the history holds (the result in `WorkflowExecutionCompleted`, the carried state in
 * `WorkflowExecutionContinuedAsNew` and in a later run's `WorkflowExecutionStarted`, and approvals returned
 * by `decideApproval` updates), each anchored to the workflow task in which it happened (tasks.ts).
 */
import type { CarriedIncident } from '../../contracts';
import type { Approval, IncidentAction, IncidentState } from '../../domain/incident';
import { eventAttributes, type HistoryEventJson } from '../history-json';
import type { IncidentHistoryExport } from '../history';
import { firstPayloadValue } from '../payloads';
import type { TimelineCollector } from './collector';
import { ref, refOf } from './events';
import { anchorOf, taskRefs, timerRefs, type WorkflowTasks } from './tasks';
import type { EventReader, EventRef, RunEvent } from './types';

/** A state, or one approval of it, as recorded at an event. */
export interface Recorded<T> {
  value: T;
  ref: EventRef;
  runIndex: number;
}

/** The states the history records and every recorded version of each approval, in history order. */
export class StateSnapshots implements EventReader {
  private readonly states: Recorded<IncidentState>[] = [];
  private readonly approvalVersions: Recorded<Approval>[] = [];
  /** Notes added by `addNote` updates: they have entries of their own, so the state's copies get none. */
  readonly notesByUpdate = new Set<string>();

  /** Records the state carried into or out of a run, or the run's result. */
  read(ev: RunEvent): void {
    const state = recordedState(ev.event);
    if (!state) return;
    this.states.push({ value: state, ref: refOf(ev), runIndex: ev.runIndex });
    for (const approval of state.approvals) this.recordApproval(approval, refOf(ev), ev.runIndex);
  }

  /** An approval as an event recorded it (a snapshot, or a `decideApproval` update's answer). */
  recordApproval(approval: Approval, at: EventRef, runIndex: number): void {
    this.approvalVersions.push({ value: approval, ref: at, runIndex });
  }

  get latest(): Recorded<IncidentState> | undefined {
    return this.states[this.states.length - 1];
  }

  /** The newest version of each approval: later snapshots and update answers replace earlier ones. */
  approvals(): Map<string, Recorded<Approval>> {
    const newest = new Map<string, Recorded<Approval>>();
    for (const v of this.approvalVersions) newest.set(v.value.approvalId, v);
    return newest;
  }
}

/** The state an event records: carried into a run, carried out of it, or the run's result. */
export function recordedState(e: HistoryEventJson): IncidentState | undefined {
  const a = eventAttributes<Record<string, unknown>>(e);
  switch (e.eventType) {
    case 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED':
    case 'EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW':
      return firstPayloadValue<{ carried?: CarriedIncident }>(a.input)?.carried?.state || undefined;
    case 'EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED':
      return firstPayloadValue<IncidentState>(a.result) || undefined;
    default:
      return undefined;
  }
}

/** The incident's last state recorded in its history (the result, or the state carried into the last run). */
export function stateFromHistory(
  exported: IncidentHistoryExport,
): { state: IncidentState; ref: EventRef } | undefined {
  for (let r = exported.runs.length - 1; r >= 0; r--) {
    const run = exported.runs[r]!;
    const events = run.history.events;
    for (let i = events.length - 1; i >= 0; i--) {
      const state = recordedState(events[i]!);
      if (state) return { state, ref: ref(run.runId, events[i]!) };
    }
  }
  return undefined;
}

/** Adds the facts only the state holds, from the latest snapshot and the newest version of each approval. */
export function addStateFacts(
  timeline: TimelineCollector,
  tasks: WorkflowTasks,
  snapshots: StateSnapshots,
  approvals: Map<string, Recorded<Approval>>,
): void {
  const latest = snapshots.latest;
  if (latest) {
    addPlannedActions(timeline, tasks, latest);
    addWorkflowNotes(timeline, tasks, latest, snapshots.notesByUpdate);
  }
  for (const version of approvals.values()) {
    addApprovalRequested(timeline, tasks, version);
    addApprovalEscalated(timeline, tasks, version);
    addApprovalLapsed(timeline, tasks, version, latest);
  }
}

/** Actions as planned, including ones that never ran (rejected, expired, skipped). */
function addPlannedActions(
  timeline: TimelineCollector,
  tasks: WorkflowTasks,
  latest: Recorded<IncidentState>,
): void {
  for (const action of latest.value.actions) {
    const t = tasks.at(action.createdAt);
    timeline.add(anchorOf(t, latest), {
      at: action.createdAt,
      kind: 'action_planned',
      summary: `${action.purpose === 'containment' ? 'Containment' : 'Recovery'} planned: ${action.kind} ${action.target} (${action.actionId}, policy ${action.policy}); final state ${action.state}${action.reason ? ` (${action.reason})` : ''}`,
      refs: [...taskRefs(t), latest.ref],
      details: plannedDetails(action),
    });
  }
}

function plannedDetails(a: IncidentAction): Record<string, unknown> {
  return {
    actionId: a.actionId,
    kind: a.kind,
    target: a.target,
    purpose: a.purpose,
    policy: a.policy,
    ...(a.undoes ? { undoes: a.undoes } : {}),
    ...(a.approvalId ? { approvalId: a.approvalId } : {}),
    finalState: a.state,
    attempts: a.attempts,
    responderRetries: a.responderRetries,
    ...(a.reason ? { reason: a.reason } : {}),
    ...(a.saga ? { saga: true } : {}),
  };
}

/** Notes the workflow wrote itself (e.g. evidence collection failures). */
function addWorkflowNotes(
  timeline: TimelineCollector,
  tasks: WorkflowTasks,
  latest: Recorded<IncidentState>,
  notesByUpdate: ReadonlySet<string>,
): void {
  for (const note of latest.value.notes) {
    if (notesByUpdate.has(note.noteId)) continue;
    const t = tasks.at(note.at);
    timeline.add(anchorOf(t, latest), {
      at: note.at,
      kind: 'note_added',
      summary: `Note by ${note.author}: ${note.text}`,
      actor: note.author,
      refs: [...taskRefs(t), latest.ref],
      details: { noteId: note.noteId, kind: note.kind, text: note.text },
    });
  }
}

function addApprovalRequested(
  timeline: TimelineCollector,
  tasks: WorkflowTasks,
  version: Recorded<Approval>,
): void {
  const approval = version.value;
  const t = tasks.at(approval.requestedAt);
  timeline.add(anchorOf(t, version), {
    at: approval.requestedAt,
    kind: 'approval_requested',
    summary:
      `Approval ${approval.approvalId} requested (${approval.policy === 'two_person' ? 'two approvers' : 'one approver'}): ` +
      `${approval.request.action} ${approval.request.target}`,
    refs: [...taskRefs(t), version.ref],
    details: {
      approvalId: approval.approvalId,
      actionIds: approval.actionIds,
      policy: approval.policy,
      requiredApprovers: approval.requiredApprovers,
      request: approval.request,
      requestedBy: approval.requestedBy,
      escalateAt: approval.escalateAt,
      expiresAt: approval.expiresAt,
      finalState: approval.state,
      deciders: approval.decisions.map((d) => ({
        decider: d.decider,
        decision: d.decision,
        via: d.via,
        at: d.at,
      })),
    },
  });
}

/** No decision after the playbook's escalation time: the task the escalation timer woke. */
function addApprovalEscalated(
  timeline: TimelineCollector,
  tasks: WorkflowTasks,
  version: Recorded<Approval>,
): void {
  const approval = version.value;
  if (!approval.escalatedAt) return;
  const t = tasks.at(approval.escalatedAt);
  timeline.add(anchorOf(t, version), {
    at: approval.escalatedAt,
    kind: 'approval_escalated',
    summary: `Approval ${approval.approvalId} escalated: no decision after the playbook's escalation time`,
    refs: [...timerRefs(t), ...taskRefs(t), version.ref],
    details: { approvalId: approval.approvalId, escalateAt: approval.escalateAt },
  });
}

/** Settled without a decision: expired (its timer fired) or cancelled (with its action's reason). */
function addApprovalLapsed(
  timeline: TimelineCollector,
  tasks: WorkflowTasks,
  version: Recorded<Approval>,
  latest: Recorded<IncidentState> | undefined,
): void {
  const approval = version.value;
  if ((approval.state !== 'expired' && approval.state !== 'cancelled') || !approval.decidedAt) return;
  const t = tasks.at(approval.decidedAt);
  const expired = approval.state === 'expired';
  const actionReason = latest?.value.actions.find((x) => approval.actionIds.includes(x.actionId))?.reason;
  timeline.add(anchorOf(t, version), {
    at: approval.decidedAt,
    kind: expired ? 'approval_expired' : 'approval_cancelled',
    summary: expired
      ? `Approval ${approval.approvalId} expired without a decision; playbook onExpiry: ${approval.expiryOutcome ?? '?'}`
      : `Approval ${approval.approvalId} cancelled${actionReason ? `: ${actionReason}` : ''}`,
    refs: [...(expired ? timerRefs(t) : []), ...taskRefs(t), version.ref],
    details: {
      approvalId: approval.approvalId,
      ...(expired ? { expiryOutcome: approval.expiryOutcome, expiresAt: approval.expiresAt } : {}),
      ...(actionReason ? { reason: actionReason } : {}),
    },
  });
}
