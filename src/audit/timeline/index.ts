/**
 * The audit timeline of an incident, read from its history: `buildTimeline`, its entry types, their text form
 * and the last state the history records. See build.ts for where each kind of entry comes from.
 */
export { buildTimeline } from './build';
export { formatTimelineLine } from './format';
export { stateFromHistory } from './snapshots';
export type { EventRef, TimelineEntry, TimelineKind, TimelineOptions } from './types';
