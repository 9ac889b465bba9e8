/**
 * The run's own events: the incident opened (the first run's `WorkflowExecutionStarted`), a workflow task
 * failed, the run continued as new, the incident closed (`WorkflowExecutionCompleted`) or the workflow ended
 * otherwise (failed, terminated, cancelled, timed out).
 */
import type { IncidentState } from '../../domain/incident';
import type { ExportedRun } from '../history';
import { shortEventType } from '../history-json';
import { firstPayloadValue } from '../payloads';
import type { TimelineCollector } from './collector';
import { anchorAt, failureSummary, ref, refOf, timeOf, type FailureJson } from './events';
import { recordedState } from './snapshots';
import type { EventReader, RunEvent } from './types';

interface StartInput {
  correlationKey?: string;
  playbook?: { id?: string; name?: string; version?: number };
  playbookHash?: string;
}

/** `runs` are the export's runs (continue-as-new cites the next run's first event). */
export class RunLifecycle implements EventReader {
  constructor(
    private readonly timeline: TimelineCollector,
    private readonly runs: readonly ExportedRun[],
  ) {}

  read(ev: RunEvent): void {
    switch (ev.event.eventType) {
      case 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED':
        if (ev.runIndex === 0) addOpened(this.timeline, ev);
        return;
      case 'EVENT_TYPE_WORKFLOW_TASK_FAILED':
        return addTaskFailed(this.timeline, ev);
      case 'EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW':
        return addContinuedAsNew(this.timeline, ev, recordedState(ev.event), this.runs);
      case 'EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED':
        return addClosed(this.timeline, ev, recordedState(ev.event));
      case 'EVENT_TYPE_WORKFLOW_EXECUTION_FAILED':
      case 'EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED':
      case 'EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED':
      case 'EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT':
        return addEnded(this.timeline, ev);
    }
  }
}

function addOpened(timeline: TimelineCollector, ev: RunEvent): void {
  const input = firstPayloadValue<StartInput>(ev.attrs.input);
  timeline.add(anchorAt(ev), {
    at: timeOf(ev),
    kind: 'incident_opened',
    summary: `Incident workflow started under playbook ${input?.playbook?.id ?? '?'} v${input?.playbook?.version ?? '?'} (correlation key ${input?.correlationKey ?? '?'})`,
    refs: [refOf(ev)],
    details: {
      correlationKey: input?.correlationKey,
      playbook: input?.playbook
        ? { id: input.playbook.id, name: input.playbook.name, version: input.playbook.version }
        : undefined,
      playbookHash: input?.playbookHash,
      taskQueue: (ev.attrs.taskQueue as { name?: string } | undefined)?.name,
      firstRunId: ev.attrs.firstExecutionRunId,
    },
  });
}

function addTaskFailed(timeline: TimelineCollector, ev: RunEvent): void {
  const { cause } = ev.attrs;
  const f = failureSummary(ev.attrs.failure as FailureJson);
  timeline.add(anchorAt(ev), {
    at: timeOf(ev),
    kind: 'workflow_task_failed',
    summary: `Workflow task failed (${typeof cause === 'string' ? cause : 'unknown cause'}): ${f.message}`,
    refs: [refOf(ev)],
    details: { cause, failure: f },
  });
}

function addContinuedAsNew(
  timeline: TimelineCollector,
  ev: RunEvent,
  state: IncidentState | undefined,
  runs: readonly ExportedRun[],
): void {
  const nextRunId = typeof ev.attrs.newExecutionRunId === 'string' ? ev.attrs.newExecutionRunId : '';
  const next = runs[ev.runIndex + 1];
  const nextStarted = next?.history.events[0];
  timeline.add(anchorAt(ev), {
    at: timeOf(ev),
    kind: 'continued_as_new',
    summary: `Continued as new (run ${ev.runIndex + 2}, ${nextRunId}) after ${state?.alerts.count ?? '?'} alert(s); history kept small`,
    refs: [refOf(ev), ...(next && nextStarted ? [ref(next.runId, nextStarted)] : [])],
    details: {
      newRunId: nextRunId,
      alertsSoFar: state?.alerts.count,
      phase: state?.phase,
      historyEvents: runs[ev.runIndex]?.history.events.length,
    },
  });
}

function addClosed(timeline: TimelineCollector, ev: RunEvent, state: IncidentState | undefined): void {
  timeline.add(anchorAt(ev), {
    at: timeOf(ev),
    kind: 'incident_closed',
    summary: `Incident closed${state?.resolution ? ` as ${state.resolution.replace('_', ' ')}` : ''}`,
    refs: [refOf(ev)],
    details: state
      ? {
          resolution: state.resolution,
          status: state.status,
          phase: state.phase,
          metrics: state.metrics,
          milestones: state.milestones,
        }
      : {},
  });
}

/** Failed, terminated, cancelled or timed out. */
function addEnded(timeline: TimelineCollector, ev: RunEvent): void {
  const { reason: given, identity } = ev.attrs;
  const reason = typeof given === 'string' ? given : failureSummary(ev.attrs.failure as FailureJson).message;
  const how = shortEventType(ev.event.eventType).replace('WorkflowExecution', '').toLowerCase();
  timeline.add(anchorAt(ev), {
    at: timeOf(ev),
    kind: 'workflow_ended',
    summary: `Incident workflow ${how}${reason ? `: ${reason}` : ''}`,
    ...(typeof identity === 'string' ? { actor: identity } : {}),
    refs: [refOf(ev)],
    details: { reason },
  });
}
