/**
 * `buildTimeline`: every run's events, in order, go to the source that reads them (index.ts lists which reads
 * what); facts that only the state holds are added once the whole history is read, then everything is put in
 * history order.
 */
import { eventAttributes } from '../history-json';
import type { ExportedRun, IncidentHistoryExport } from '../history';
import { ActivityReader } from './activities';
import { TimelineCollector } from './collector';
import { WaitingChanges } from './memo';
import { addClosed, addContinuedAsNew, addEnded, addOpened, addTaskFailed } from './runs';
import { SearchAttributeChanges } from './search-attributes';
import { SignalReader } from './signals';
import { addStateFacts, recordedState, StateSnapshots } from './snapshots';
import { WorkflowTasks } from './tasks';
import type { RunEvent, TimelineEntry, TimelineOptions } from './types';
import { UpdateReader } from './updates';

/** The readers that live across runs. */
interface Sources {
  timeline: TimelineCollector;
  tasks: WorkflowTasks;
  snapshots: StateSnapshots;
  signals: SignalReader;
  searchAttributes: SearchAttributeChanges;
  waiting: WaitingChanges;
  includeDeduplicated: boolean;
}

/**
 * Builds the audit timeline from an exported history whose payloads are readable (decrypt encrypted exports
 * first with `decryptExport`). Thrown: `MissingEncryptionKeyError` when a payload it needs is still encrypted.
 */
export function buildTimeline(exported: IncidentHistoryExport, opts: TimelineOptions = {}): TimelineEntry[] {
  const timeline = new TimelineCollector();
  const sources: Sources = {
    timeline,
    tasks: new WorkflowTasks(),
    snapshots: new StateSnapshots(),
    signals: new SignalReader(timeline),
    searchAttributes: new SearchAttributeChanges(timeline),
    waiting: new WaitingChanges(timeline),
    includeDeduplicated: opts.includeDeduplicated ?? true,
  };
  exported.runs.forEach((_run, runIndex) => readRun(sources, exported.runs, runIndex));

  const { tasks, snapshots } = sources;
  const approvals = snapshots.approvals();
  addStateFacts(timeline, tasks, snapshots, approvals);
  sources.signals.settle(tasks, approvals, snapshots.latest);
  return timeline.entries(exported.runs);
}

function readRun(sources: Sources, runs: readonly ExportedRun[], runIndex: number): void {
  const { timeline, snapshots } = sources;
  const runId = runs[runIndex]!.runId;
  const tasks = sources.tasks.run(runIndex, runId);
  const updates = new UpdateReader(timeline, snapshots, sources.includeDeduplicated);
  const activities = new ActivityReader(timeline);

  for (const event of runs[runIndex]!.history.events) {
    const ev: RunEvent = { runIndex, runId, event, id: Number(event.eventId), attrs: eventAttributes(event) };
    tasks.see(ev);
    switch (event.eventType) {
      case 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED': {
        const state = recordedState(event);
        if (state) snapshots.record(state, ev);
        if (runIndex === 0) addOpened(timeline, ev);
        break;
      }
      case 'EVENT_TYPE_WORKFLOW_TASK_FAILED':
        addTaskFailed(timeline, ev);
        break;
      case 'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED':
        updates.accepted(ev);
        break;
      case 'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED':
        updates.completed(ev);
        break;
      case 'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED':
        sources.signals.signaled(ev);
        break;
      case 'EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES':
        sources.searchAttributes.upserted(ev);
        break;
      case 'EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED':
        sources.waiting.modified(ev);
        break;
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
        const state = recordedState(event);
        if (state) snapshots.record(state, ev);
        addContinuedAsNew(timeline, ev, state, runs);
        break;
      }
      case 'EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED': {
        const state = recordedState(event);
        if (state) snapshots.record(state, ev);
        addClosed(timeline, ev, state);
        break;
      }
      case 'EVENT_TYPE_WORKFLOW_EXECUTION_FAILED':
      case 'EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED':
      case 'EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED':
      case 'EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT':
        addEnded(timeline, ev);
        break;
      default:
        break;
    }
  }
  activities.finish();
  updates.finish(runIndex, runId);
}
