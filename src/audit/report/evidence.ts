/** Evidence collected, each item citing the history events of the activity that collected it. */
import type { IncidentState } from '../../domain/incident';
import type { EventRef, TimelineEntry } from '../timeline';
import { code, md } from './escape';
import type { IncidentReport } from './types';

export function evidenceOf(state: IncidentState, timeline: TimelineEntry[]): IncidentReport['evidence'] {
  const evidenceRefs = new Map<string, EventRef[]>();
  for (const e of timeline) {
    const ev = e.details.evidence as { evidenceId?: string } | undefined;
    if (e.kind === 'evidence_collected' && ev?.evidenceId) evidenceRefs.set(ev.evidenceId, e.refs);
  }
  return state.evidence.map((e) => ({ ...e, refs: evidenceRefs.get(e.evidenceId) ?? [] }));
}

export function evidenceMarkdown(r: IncidentReport): string[] {
  return [
    '## Evidence',
    '',
    '| Evidence | Subject | SHA-256 | Size | Collected | Custody | History events |',
    '|---|---|---|---|---|---|---|',
    ...r.evidence.map(
      (e) =>
        `| ${code(e.evidenceId)} ${md(e.name)} | ${code(e.subject)} | ${code(e.sha256)} | ${e.sizeBytes} B | ${md(e.collectedAt)} (${md(e.timeZone)}) | ${md(e.collectedBy)}, ${md(e.location)} | ${e.refs.map((x) => `#${x.eventId}`).join(' ') || '-'} |`,
    ),
    ...(r.evidence.length ? [] : ['| - | | | | | | |']),
    '',
  ];
}
