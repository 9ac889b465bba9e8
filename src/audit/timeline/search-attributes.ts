/**
 * Phase, severity and status changes, read from `UpsertWorkflowSearchAttributes` (QuellPhase, QuellSeverity,
 * QuellStatus).
 */
import { SA_PHASE, SA_SEVERITY, SA_STATUS } from '../../contracts';
import type { JsonPayload } from '../history-json';
import { payloadValue } from '../payloads';
import type { TimelineCollector } from './collector';
import { anchorAt, refOf, timeOf } from './events';
import type { EventReader, RunEvent, TimelineKind } from './types';

const TRACKED: readonly [name: string, kind: TimelineKind, label: string][] = [
  [SA_PHASE.name, 'phase_changed', 'Phase'],
  [SA_SEVERITY.name, 'severity_changed', 'Severity'],
  [SA_STATUS.name, 'status_changed', 'Status'],
];

/** The attributes' values across every run: an entry where one changes. */
export class SearchAttributeChanges implements EventReader {
  private readonly last: Record<string, string | undefined> = {};

  constructor(private readonly timeline: TimelineCollector) {}

  read(ev: RunEvent): void {
    if (ev.event.eventType !== 'EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES') return;
    const fields =
      (ev.attrs.searchAttributes as { indexedFields?: Record<string, JsonPayload> } | undefined)
        ?.indexedFields ?? {};
    for (const [name, kind, label] of TRACKED) {
      const v = keywordValue(fields[name]);
      if (v === undefined || v === this.last[name]) continue;
      const from = this.last[name];
      this.last[name] = v;
      if (from === undefined && name !== SA_PHASE.name) continue; // initial severity/status: not a change
      this.timeline.add(anchorAt(ev), {
        at: timeOf(ev),
        kind,
        summary: from ? `${label}: ${from} -> ${v}` : `${label}: ${v}`,
        refs: [refOf(ev)],
        details: { from: from ?? null, to: v, searchAttribute: name },
      });
    }
  }
}

function keywordValue(p: JsonPayload | undefined): string | undefined {
  if (!p) return undefined;
  const v = payloadValue(p);
  return Array.isArray(v) ? String(v[0] ?? '') : typeof v === 'string' ? v : undefined;
}
