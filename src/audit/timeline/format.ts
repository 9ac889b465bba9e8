import { oneLine } from '../../domain/untrusted-text';
import type { TimelineEntry } from './types';

/** Timeline entries as readable text lines (for terminals and the Markdown report). */
export function formatTimelineLine(e: TimelineEntry): string {
  const ids = e.refs.map((r) =>
    r.runId === e.runId ? `#${r.eventId}` : `${r.runId.slice(0, 8)}#${r.eventId}`,
  );
  // One line whatever the summary quotes (alert titles, comments): a title cannot forge a timeline line.
  return oneLine(`${e.at}  ${e.summary}  [run ${e.runId.slice(0, 8)} ${ids.join(' ')}]`);
}
