/**
 * The audit trail of an incident, derived FROM ITS HISTORY (every run of the continue-as-new chain), not from
 * the query state. Every entry names the history events (run ID, event ID, event type) it was read from.
 *
 * Where each kind of entry comes from:
 * - alerts, approval decisions, failed-action retries/skips, checklist items, notes, close requests: the
 *   update's `WorkflowExecutionUpdateAccepted` (arguments, including the verified actor and roles) and
 *   `WorkflowExecutionUpdateCompleted` (the workflow's answer) events;
 * - decisions sent as signals: `WorkflowExecutionSignaled` (arguments), with the outcome (applied or refused,
 *   and why) read from the state snapshot, matched on the decider and the time of the workflow task that
 *   processed the signal;
 * - phase, severity and status changes: `UpsertWorkflowSearchAttributes` (QuellPhase, QuellSeverity,
 *   QuellStatus);
 * - actions, evidence and notifications: activity events (`ActivityTaskScheduled` input, `ActivityTaskStarted`
 *   attempt, `ActivityTaskCompleted` result / `ActivityTaskFailed` failure / `ActivityTaskTimedOut`), with
 *   durations from the event times;
 * - approval requests, escalations, expiries and cancellations, and actions planned but never run: these are
 *   internal state, so they are read from the state snapshots the history holds (the workflow's result in
 *   `WorkflowExecutionCompleted`, the carried state in `WorkflowExecutionContinuedAsNew` and in a later run's
 *   `WorkflowExecutionStarted` input, and approvals returned by `decideApproval` updates). Each is anchored to
 *   the workflow task in which it happened: workflow code's clock is the `WorkflowTaskStarted` event time, so a
 *   state timestamp such as `requestedAt` names that task exactly (and, for escalations and expiries, the
 *   `TimerFired` event that woke it);
 * - opening, continue-as-new and closure: the run's first and last events.
 */
import type { ApprovalDecisionRequest, CarriedIncident } from '../../domain/contracts';
import { eventAttributes, shortEventType } from '../history-json';
import type { IncidentHistoryExport } from '../history';
import type { JsonPayload } from '../history-json';
import { firstPayloadValue, payloadValue } from '../payloads';
import { ActivityReader } from './activities';
import { UpdateReader } from './updates';
import { addStateFacts, recordedState, StateSnapshots } from './snapshots';
import { TimelineCollector } from './collector';
import { taskRefs, WorkflowTasks } from './tasks';
import { failureSummary, ref, type FailureJson } from './events';
import type { Anchor, EntryDraft, RunEvent, TimelineEntry, TimelineOptions } from './types';

/**
 * Builds the audit timeline from an exported history whose payloads are readable (decrypt encrypted exports
 * first with `decryptExport`). Thrown: `MissingEncryptionKeyError` when a payload it needs is still encrypted.
 */
export function buildTimeline(exported: IncidentHistoryExport, opts: TimelineOptions = {}): TimelineEntry[] {
  const includeDedup = opts.includeDeduplicated ?? true;
  const timeline = new TimelineCollector();
  const push = (anchor: Anchor, entry: EntryDraft) => timeline.add(anchor, entry);

  const tasks = new WorkflowTasks();
  const snapshots = new StateSnapshots();
  const signalEntries: {
    entry: EntryDraft;
    req: ApprovalDecisionRequest;
    runIndex: number;
    eventId: number;
  }[] = [];
  const last: Record<string, string | undefined> = {};
  const runs = exported.runs;

  runs.forEach((run, runIndex) => {
    const runId = run.runId;
    const events = run.history.events;
    const updates = new UpdateReader(timeline, snapshots, includeDedup);
    const activities = new ActivityReader(timeline);
    const runTasks = tasks.run(runIndex, runId);

    for (const e of events) {
      const id = Number(e.eventId);
      const a = eventAttributes<Record<string, unknown>>(e);
      const ev: RunEvent = { runIndex, runId, event: e, id, attrs: a };
      runTasks.see(ev);
      switch (e.eventType) {
        case 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED': {
          const input = firstPayloadValue<{
            correlationKey?: string;
            playbook?: { id?: string; name?: string; version?: number };
            playbookHash?: string;
            carried?: CarriedIncident;
          }>(a.input);
          if (input?.carried?.state) snapshots.record(input.carried.state, ev);
          if (runIndex === 0) {
            push(
              { runIndex, eventId: id },
              {
                at: e.eventTime ?? '',
                kind: 'incident_opened',
                summary: `Incident workflow started under playbook ${input?.playbook?.id ?? '?'} v${input?.playbook?.version ?? '?'} (correlation key ${input?.correlationKey ?? '?'})`,
                refs: [ref(runId, e)],
                details: {
                  correlationKey: input?.correlationKey,
                  playbook: input?.playbook
                    ? { id: input.playbook.id, name: input.playbook.name, version: input.playbook.version }
                    : undefined,
                  playbookHash: input?.playbookHash,
                  taskQueue: (a.taskQueue as { name?: string } | undefined)?.name,
                  firstRunId: a.firstExecutionRunId,
                },
              },
            );
          }
          break;
        }
        case 'EVENT_TYPE_WORKFLOW_TASK_FAILED': {
          const f = failureSummary(a.failure as FailureJson);
          push(
            { runIndex, eventId: id },
            {
              at: e.eventTime ?? '',
              kind: 'workflow_task_failed',
              summary: `Workflow task failed (${typeof a.cause === 'string' ? a.cause : 'unknown cause'}): ${f.message}`,
              refs: [ref(runId, e)],
              details: { cause: a.cause, failure: f },
            },
          );
          break;
        }
        case 'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED':
          updates.accepted(ev);
          break;
        case 'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED':
          updates.completed(ev);
          break;
        case 'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED': {
          const name = typeof a.signalName === 'string' ? a.signalName : '';
          const req = firstPayloadValue<ApprovalDecisionRequest>(a.input);
          if (name === 'decideApproval' && req) {
            const entry = push(
              { runIndex, eventId: id },
              {
                at: e.eventTime ?? '',
                kind: 'approval_decision',
                summary: `${req.actor?.subject ?? '(unknown)'} sent "${req.decision}" on ${req.approvalId} (signal)`,
                ...(req.actor?.subject ? { actor: req.actor.subject } : {}),
                ...(req.actor?.roles ? { roles: req.actor.roles } : {}),
                refs: [ref(runId, e)],
                details: {
                  via: 'signal',
                  approvalId: req.approvalId,
                  decision: req.decision,
                  ...(req.comment ? { comment: req.comment } : {}),
                  outcome: 'unknown',
                },
              },
            );
            signalEntries.push({ entry, req, runIndex, eventId: id });
          } else {
            push(
              { runIndex, eventId: id },
              {
                at: e.eventTime ?? '',
                kind: 'signal_received',
                summary: `Signal ${name} received`,
                refs: [ref(runId, e)],
                details: { signal: name, input: req },
              },
            );
          }
          break;
        }
        case 'EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES': {
          const fields =
            (a.searchAttributes as { indexedFields?: Record<string, JsonPayload> } | undefined)
              ?.indexedFields ?? {};
          const value = (name: string): string | undefined => {
            const p = fields[name];
            if (!p) return undefined;
            const v = payloadValue(p);
            return Array.isArray(v) ? String(v[0] ?? '') : typeof v === 'string' ? v : undefined;
          };
          for (const [name, kind, label] of [
            ['QuellPhase', 'phase_changed', 'Phase'],
            ['QuellSeverity', 'severity_changed', 'Severity'],
            ['QuellStatus', 'status_changed', 'Status'],
          ] as const) {
            const v = value(name);
            if (v === undefined || v === last[name]) continue;
            const from = last[name];
            last[name] = v;
            if (from === undefined && name !== 'QuellPhase') continue; // initial severity/status: not a change
            push(
              { runIndex, eventId: id },
              {
                at: e.eventTime ?? '',
                kind,
                summary: from ? `${label}: ${from} -> ${v}` : `${label}: ${v}`,
                refs: [ref(runId, e)],
                details: { from: from ?? null, to: v, searchAttribute: name },
              },
            );
          }
          break;
        }
        case 'EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED': {
          // The memo's `waitingFor`: what the incident waits for people to do (set, changed, or cleared).
          const fields =
            (a.upsertedMemo as { fields?: Record<string, JsonPayload> } | undefined)?.fields ?? {};
          if (!('waitingFor' in fields)) break;
          let waiting: unknown;
          try {
            waiting = payloadValue(fields.waitingFor);
          } catch {
            waiting = undefined;
          }
          const text = typeof waiting === 'string' && waiting ? waiting : undefined;
          if (text === last.waitingFor) break;
          const cleared = text === undefined;
          if (cleared && last.waitingFor === undefined) break;
          last.waitingFor = text;
          push(
            { runIndex, eventId: id },
            {
              at: e.eventTime ?? '',
              kind: 'waiting',
              summary: text ?? 'No longer waiting: the phase goes on',
              refs: [ref(runId, e)],
              details: { waitingFor: text ?? null },
            },
          );
          break;
        }
        case 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED':
          activities.scheduled(ev);
          break;
        case 'EVENT_TYPE_ACTIVITY_TASK_STARTED':
          activities.started(ev);
          break;
        case 'EVENT_TYPE_ACTIVITY_TASK_COMPLETED':
        case 'EVENT_TYPE_ACTIVITY_TASK_FAILED':
        case 'EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT':
        case 'EVENT_TYPE_ACTIVITY_TASK_CANCELED':
          activities.closed(ev);
          break;
        case 'EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW': {
          const state = recordedState(e);
          if (state) snapshots.record(state, ev);
          const nextRunId = typeof a.newExecutionRunId === 'string' ? a.newExecutionRunId : '';
          const next = runs[runIndex + 1];
          const nextStarted = next?.history.events[0];
          push(
            { runIndex, eventId: id },
            {
              at: e.eventTime ?? '',
              kind: 'continued_as_new',
              summary: `Continued as new (run ${runIndex + 2}, ${nextRunId}) after ${state?.alerts.count ?? '?'} alert(s); history kept small`,
              refs: [ref(runId, e), ...(next && nextStarted ? [ref(next.runId, nextStarted)] : [])],
              details: {
                newRunId: nextRunId,
                alertsSoFar: state?.alerts.count,
                phase: state?.phase,
                historyEvents: events.length,
              },
            },
          );
          break;
        }
        case 'EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED': {
          const state = recordedState(e);
          if (state) snapshots.record(state, ev);
          push(
            { runIndex, eventId: id },
            {
              at: e.eventTime ?? '',
              kind: 'incident_closed',
              summary: `Incident closed${state?.resolution ? ` as ${state.resolution.replace('_', ' ')}` : ''}`,
              refs: [ref(runId, e)],
              details: state
                ? {
                    resolution: state.resolution,
                    status: state.status,
                    phase: state.phase,
                    metrics: state.metrics,
                    milestones: state.milestones,
                  }
                : {},
            },
          );
          break;
        }
        case 'EVENT_TYPE_WORKFLOW_EXECUTION_FAILED':
        case 'EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED':
        case 'EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED':
        case 'EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT': {
          const reason =
            typeof a.reason === 'string' ? a.reason : failureSummary(a.failure as FailureJson).message;
          push(
            { runIndex, eventId: id },
            {
              at: e.eventTime ?? '',
              kind: 'workflow_ended',
              summary: `Incident workflow ${shortEventType(e.eventType).replace('WorkflowExecution', '').toLowerCase()}${reason ? `: ${reason}` : ''}`,
              ...(typeof a.identity === 'string' ? { actor: a.identity } : {}),
              refs: [ref(runId, e)],
              details: { reason },
            },
          );
          break;
        }
        default:
          break;
      }
    }
    activities.finish();
    updates.finish(runIndex, runId);
  });

  const approvals = snapshots.approvals();
  addStateFacts(timeline, tasks, snapshots, approvals);
  const latest = snapshots.latest;

  // Signal decisions: applied or refused, from the approval (or the incident's refused-signal list).
  for (const s of signalEntries) {
    const task = tasks.ofSignal(s.runIndex, s.eventId);
    const processedAt = task?.startedAt;
    const subject = s.req.actor?.subject ?? '(unknown)';
    const approval = approvals.get(s.req.approvalId)?.value;
    const applied = approval?.decisions.find(
      (d) => d.via === 'signal' && d.decider === subject && (!processedAt || d.at === processedAt),
    );
    const refused =
      approval?.refusedAttempts.find(
        (r) => r.decider === subject && (!processedAt || r.at === processedAt),
      ) ??
      latest?.value.refusedSignals?.find(
        (r) =>
          r.approvalId === s.req.approvalId &&
          r.decider === subject &&
          (!processedAt || r.at === processedAt),
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

  return timeline.entries(runs);
}
