/**
 * Signals. A decision sent as a signal (`WorkflowExecutionSignaled`) has an entry at once; whether the
 * incident applied or refused it (and why) is internal state, so it is completed from the state snapshots once
 * the whole history is read: matched on the decider and the time of the workflow task that processed it.
 */
import { decideApprovalSignal, type ApprovalDecisionRequest } from '../../contracts';
import type { Approval, IncidentState } from '../../domain/incident';
import { firstPayloadValue } from '../payloads';
import type { TimelineCollector } from './collector';
import { anchorAt, refOf, timeOf } from './events';
import type { Recorded } from './snapshots';
import { taskRefs, type WorkflowTasks } from './tasks';
import type { EntryDraft, EventReader, RunEvent } from './types';

interface SignalDecision {
  entry: EntryDraft;
  req: ApprovalDecisionRequest;
  runIndex: number;
  eventId: number;
}

/** The signals of every run; decisions wait in `decisions` until `settle`. */
export class SignalReader implements EventReader {
  private readonly decisions: SignalDecision[] = [];

  constructor(private readonly timeline: TimelineCollector) {}

  read(ev: RunEvent): void {
    if (ev.event.eventType !== 'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED') return;
    const name = typeof ev.attrs.signalName === 'string' ? ev.attrs.signalName : '';
    const req = firstPayloadValue<ApprovalDecisionRequest>(ev.attrs.input);
    if (name === decideApprovalSignal.name && req) {
      const entry = this.timeline.add(anchorAt(ev), {
        at: timeOf(ev),
        kind: 'approval_decision',
        summary: `${req.actor?.subject ?? '(unknown)'} sent "${req.decision}" on ${req.approvalId} (signal)`,
        ...(req.actor?.subject ? { actor: req.actor.subject } : {}),
        ...(req.actor?.roles ? { roles: req.actor.roles } : {}),
        refs: [refOf(ev)],
        details: {
          via: 'signal',
          approvalId: req.approvalId,
          decision: req.decision,
          ...(req.comment ? { comment: req.comment } : {}),
          outcome: 'unknown',
        },
      });
      this.decisions.push({ entry, req, runIndex: ev.runIndex, eventId: ev.id });
      return;
    }
    this.timeline.add(anchorAt(ev), {
      at: timeOf(ev),
      kind: 'signal_received',
      summary: `Signal ${name} received`,
      refs: [refOf(ev)],
      details: { signal: name, input: req },
    });
  }

  /**
   * Completes each decision: applied (in the approval's decisions) or refused (in its refused attempts, or the
   * incident's refused-signal list when the approval is unknown), and cites the task that processed it.
   */
  settle(
    tasks: WorkflowTasks,
    approvals: Map<string, Recorded<Approval>>,
    latest: Recorded<IncidentState> | undefined,
  ): void {
    for (const s of this.decisions) {
      const task = tasks.ofSignal(s.runIndex, s.eventId);
      const processedAt = task?.startedAt;
      const atTask = (r: { at: string }) => !processedAt || r.at === processedAt;
      const subject = s.req.actor?.subject ?? '(unknown)';
      const approval = approvals.get(s.req.approvalId)?.value;
      const applied = approval?.decisions.find(
        (d) => d.via === 'signal' && d.decider === subject && atTask(d),
      );
      const refused =
        approval?.refusedAttempts.find((r) => r.decider === subject && atTask(r)) ??
        latest?.value.refusedSignals?.find(
          (r) => r.approvalId === s.req.approvalId && r.decider === subject && atTask(r),
        );
      const details = s.entry.details;
      if (applied) {
        details.outcome = 'applied';
        s.entry.summary = `${subject} ${s.req.decision === 'approve' ? 'approved' : 'rejected'} ${s.req.approvalId} (signal)`;
      } else if (refused) {
        details.outcome = 'refused';
        details.refusal = { type: refused.type, reason: refused.reason };
        s.entry.summary = `${subject}'s "${s.req.decision}" on ${s.req.approvalId} (signal) refused: ${refused.type}: ${refused.reason}`;
      }
      s.entry.refs.push(...taskRefs(task));
    }
  }
}
