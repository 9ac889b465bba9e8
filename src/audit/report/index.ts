/**
 * The post-incident report, as JSON and as Markdown: summary, scope, timeline, actions (attempts, outcomes),
 * approvals (deciders), evidence (hashes), MTTD/MTTA/MTTC/MTTR, lessons learned. Built from the incident's
 * state (as its history records it, or as the workflow query answers for an open incident) and the timeline
 * derived from its history; every section that comes from history cites the event IDs.
 *
 * One module per section, each with the section's JSON and its Markdown: incident.ts (particulars, summary,
 * scope and alerts), metrics.ts (metrics, phases), actions.ts, approvals.ts (and refused requests),
 * evidence.ts, notifications.ts, notes.ts (checklist, lessons learned, notes), timeline.ts (the history and the
 * timeline). Shared: types.ts (the JSON shape), escape.ts (how untrusted text enters the Markdown). build.ts
 * (`buildReport`) and markdown.ts (`renderReportMarkdown`) put the sections together in report order.
 */
export { buildReport } from './build';
export { renderReportMarkdown } from './markdown';
export { REPORT_FORMAT, type ActionExecution, type IncidentReport } from './types';
