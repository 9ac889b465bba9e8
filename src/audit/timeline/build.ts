/**
 * `buildTimeline`: every run's events, in order, pass every source, and each reads the events it knows
 * (index.ts lists which reads what); facts that only the state holds are added once the whole history is read,
 * then everything is put in history order.
 */
import { eventAttributes } from '../history-json';
import type { IncidentHistoryExport } from '../history';
import { ActivityReader } from './activities';
import { TimelineCollector } from './collector';
import { WaitingChanges } from './memo';
import { RunLifecycle } from './runs';
import { SearchAttributeChanges } from './search-attributes';
import { SignalReader } from './signals';
import { addStateFacts, StateSnapshots } from './snapshots';
import { WorkflowTasks } from './tasks';
import type { EventReader, TimelineEntry, TimelineOptions } from './types';
import { UpdateReader } from './updates';

/**
 * Builds the audit timeline from an exported history whose payloads are readable (decrypt encrypted exports
 * first with `decryptExport`). Thrown: `MissingEncryptionKeyError` when a payload it needs is still encrypted.
 */
export function buildTimeline(exported: IncidentHistoryExport, opts: TimelineOptions = {}): TimelineEntry[] {
  const timeline = new TimelineCollector();
  const tasks = new WorkflowTasks();
  const snapshots = new StateSnapshots();
  const signals = new SignalReader(timeline);
  const acrossRuns: EventReader[] = [
    snapshots,
    new RunLifecycle(timeline, exported.runs),
    signals,
    new SearchAttributeChanges(timeline),
    new WaitingChanges(timeline),
  ];

  exported.runs.forEach(({ runId, history }, runIndex) => {
    // Updates and activities are matched up within their run.
    const updates = new UpdateReader(timeline, snapshots, opts.includeDeduplicated ?? true);
    const activities = new ActivityReader(timeline);
    const readers = [tasks.run(runIndex, runId), ...acrossRuns, updates, activities];
    for (const event of history.events) {
      const ev = { runIndex, runId, event, id: Number(event.eventId), attrs: eventAttributes(event) };
      for (const reader of readers) reader.read(ev);
    }
    activities.finish();
    updates.finish(runIndex, runId);
  });

  const approvals = snapshots.approvals();
  addStateFacts(timeline, tasks, snapshots, approvals);
  signals.settle(tasks, approvals, snapshots.latest);
  return timeline.entries(exported.runs);
}
