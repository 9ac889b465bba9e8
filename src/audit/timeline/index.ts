/**
 * The audit trail of an incident, derived FROM ITS HISTORY (every run of the continue-as-new chain), not from
 * the query state. Every entry names the history events (run ID, event ID, event type) it was read from.
 *
 * One module per source of entries:
 * - updates.ts: alerts, approval decisions (and refused ones), failed-action retries/skips, checklist items,
 *   notes, close requests (and refused ones), from `WorkflowExecutionUpdateAccepted`/`...Completed`;
 * - signals.ts: decisions sent as signals, from `WorkflowExecutionSignaled`, applied or refused per the state;
 * - search-attributes.ts: phase, severity and status changes, from `UpsertWorkflowSearchAttributes`;
 * - memo.ts: what the incident waits for (`waiting`), from the memo in `WorkflowPropertiesModified`;
 * - activities.ts: actions, verifications, evidence and notifications, from activity events;
 * - snapshots.ts: what only the state holds (actions planned, workflow notes, approvals requested, escalated,
 *   expired, cancelled), from the states the history records; also `stateFromHistory`;
 * - runs.ts: opening, failed workflow tasks, continue-as-new, closure, other ends.
 * Shared: types.ts (the entries), events.ts (refs, times, failures), tasks.ts (workflow tasks, where state
 * facts are anchored), collector.ts (history order), build.ts (`buildTimeline`, which hands each event to its
 * source), format.ts (the text line).
 */
export { buildTimeline } from './build';
export { formatTimelineLine } from './format';
export { stateFromHistory } from './snapshots';
export type { EventRef, TimelineEntry, TimelineKind, TimelineOptions } from './types';
