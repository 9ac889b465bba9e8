/**
 * Phase, severity and status changes, read from `UpsertWorkflowSearchAttributes` (QuellPhase, QuellSeverity,
 * QuellStatus).
 */
import type { JsonPayload } from '../history-json';
import { payloadValue } from '../payloads';
import type { TimelineCollector } from './collector';
import { anchorAt, refOf, timeOf } from './events';
import type { RunEvent } from './types';

const TRACKED = [
  ['QuellPhase', 'phase_changed', 'Phase'],
  ['QuellSeverity', 'severity_changed', 'Severity'],
  ['QuellStatus', 'status_changed', 'Status'],
] as const;

/** The attributes' values across every run: an entry where one changes. */
export class SearchAttributeChanges {
  private readonly last: Record<string, string | undefined> = {};

  constructor(private readonly timeline: TimelineCollector) {}

  upserted(ev: RunEvent): void {
    const fields =
      (ev.attrs.searchAttributes as { indexedFields?: Record<string, JsonPayload> } | undefined)
        ?.indexedFields ?? {};
    for (const [name, kind, label] of TRACKED) {
      const v = keywordValue(fields[name]);
      if (v === undefined || v === this.last[name]) continue;
      const from = this.last[name];
      this.last[name] = v;
      if (from === undefined && name !== 'QuellPhase') continue; // initial severity/status: not a change
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
