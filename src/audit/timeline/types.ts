/** The timeline's entries (the public contract) and the shapes the event sources hand to the collector. */
import type { HistoryEventJson } from '../history-json';

export interface EventRef {
  runId: string;
  eventId: number;
  /** Short form, e.g. `ActivityTaskScheduled`. */
  eventType: string;
}

export type TimelineKind =
  | 'incident_opened'
  | 'alert_received'
  | 'alert_deduplicated'
  | 'phase_changed'
  | 'severity_changed'
  | 'status_changed'
  | 'action_planned'
  | 'action_executed'
  | 'action_verified'
  | 'action_resolution'
  | 'approval_requested'
  | 'approval_decision'
  | 'approval_escalated'
  | 'approval_expired'
  | 'approval_cancelled'
  | 'escalation_notice'
  | 'notification'
  | 'evidence_collected'
  | 'evidence_failed'
  | 'indicators_enriched'
  | 'checklist_item_completed'
  | 'note_added'
  | 'close_requested'
  | 'waiting'
  | 'continued_as_new'
  | 'incident_closed'
  | 'update_failed'
  | 'update_received'
  | 'signal_received'
  | 'workflow_task_failed'
  | 'workflow_ended';

export interface TimelineEntry {
  /** Position in the timeline (0-based). */
  seq: number;
  /** When it happened (ISO 8601). */
  at: string;
  kind: TimelineKind;
  /** One human-readable line. */
  summary: string;
  /** The verified identity that did it (subject), when a person or system identity did. */
  actor?: string;
  roles?: string[];
  /** The run of the primary event, and the IDs of the events in that run this entry was read from. */
  runId: string;
  eventIds: number[];
  /** Every event this entry was read from (may span runs, e.g. a snapshot in a later run). */
  refs: EventRef[];
  details: Record<string, unknown>;
}

export interface TimelineOptions {
  /** Include one entry per deduplicated alert delivery (default true). */
  includeDeduplicated?: boolean;
}

/**
 * Where an entry sorts: its run, then the event it was read at (a workflow task's anchor may fall between
 * two events).
 */
export interface Anchor {
  runIndex: number;
  eventId: number;
}

/** An entry before the timeline is ordered: its place, run and event IDs are derived from its refs then. */
export type EntryDraft = Omit<TimelineEntry, 'seq' | 'runId' | 'eventIds'>;

/** An entry's content without its time. */
export type EntryBody = Omit<EntryDraft, 'at'>;

/** A source of entries: it reads the events it knows, in history order, and passes over the others. */
export interface EventReader {
  read(ev: RunEvent): void;
}

/** One history event as the sources read it: which run it belongs to, its ID and its attributes. */
export interface RunEvent {
  runIndex: number;
  runId: string;
  event: HistoryEventJson;
  id: number;
  attrs: Record<string, unknown>;
}
