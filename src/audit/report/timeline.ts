/** The history the report was read from (its runs and their event counts), and the timeline section. */
import { markdownCodeBlock } from '../../domain/untrusted-text';
import type { IncidentHistoryExport } from '../history';
import { formatTimelineLine } from '../timeline';
import type { IncidentReport } from './types';

export function historyOf(exported: IncidentHistoryExport | undefined): IncidentReport['history'] {
  return {
    runs: (exported?.runs ?? []).map((r) => ({
      runId: r.runId,
      status: r.status,
      events: r.history.events.length,
    })),
    events: (exported?.runs ?? []).reduce((n, r) => n + r.history.events.length, 0),
  };
}

/**
 * The timeline as a code block of text lines (deduplicated alert deliveries left out), at most `max` of
 * them; the JSON report has the rest.
 */
export function timelineMarkdown(r: IncidentReport, max: number): string[] {
  const shown = r.timeline.filter((e) => e.kind !== 'alert_deduplicated');
  const lines = shown.slice(0, max).map((e) => formatTimelineLine(e));
  if (shown.length > max) lines.push(`... ${shown.length - max} more entries (see the JSON report)`);
  return [
    '## Timeline',
    '',
    `From the workflow history (${r.history.events} events in ${r.history.runs.length || r.incident.runs} run(s)); ` +
      'each line cites its history events as `#<event ID>` in the run shown.',
    '',
    ...markdownCodeBlock(lines),
    '',
  ];
}
