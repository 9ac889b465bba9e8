/** Evidence collected, each item citing the history events of the activity that collected it. */
import type { IncidentState } from '../../domain/incident';
import type { EventRef, TimelineEntry } from '../timeline';
import type { IncidentReport } from './types';

export function evidenceOf(state: IncidentState, timeline: TimelineEntry[]): IncidentReport['evidence'] {
  const evidenceRefs = new Map<string, EventRef[]>();
  for (const e of timeline) {
    const ev = e.details.evidence as { evidenceId?: string } | undefined;
    if (e.kind === 'evidence_collected' && ev?.evidenceId) evidenceRefs.set(ev.evidenceId, e.refs);
  }
  return state.evidence.map((e) => ({ ...e, refs: evidenceRefs.get(e.evidenceId) ?? [] }));
}
