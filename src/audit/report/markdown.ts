/** `renderReportMarkdown`: the report as Markdown, one section at a time (each from its section's module). */
import { actionsMarkdown } from './actions';
import { approvalsMarkdown, refusedRequestsMarkdown } from './approvals';
import { enrichmentMarkdown } from './enrichment';
import { evidenceMarkdown } from './evidence';
import { headerMarkdown, scopeMarkdown, summaryMarkdown } from './incident';
import { metricsMarkdown, phasesMarkdown } from './metrics';
import { notificationsMarkdown } from './notifications';
import { checklistMarkdown, lessonsMarkdown } from './notes';
import { timelineMarkdown } from './timeline';
import type { IncidentReport } from './types';

/** The report as Markdown (GitHub-flavoured tables). Every value that came from outside is escaped. */
export function renderReportMarkdown(r: IncidentReport, opts: { maxTimelineEntries?: number } = {}): string {
  return [
    ...headerMarkdown(r),
    ...summaryMarkdown(r),
    ...metricsMarkdown(r),
    ...scopeMarkdown(r),
    ...enrichmentMarkdown(r),
    ...phasesMarkdown(r),
    ...actionsMarkdown(r),
    ...approvalsMarkdown(r),
    ...refusedRequestsMarkdown(r),
    ...evidenceMarkdown(r),
    ...notificationsMarkdown(r),
    ...checklistMarkdown(r),
    ...lessonsMarkdown(r),
    ...timelineMarkdown(r, opts.maxTimelineEntries ?? 500),
  ].join('\n');
}
