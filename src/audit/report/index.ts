/**
 * The post-incident report, as JSON and as Markdown: summary, scope, timeline, actions (attempts, outcomes),
 * approvals (deciders), evidence (hashes), MTTD/MTTA/MTTC/MTTR, lessons learned. Built from the incident's
 * state (as its history records it, or as the workflow query answers for an open incident) and the timeline
 * derived from its history; every section that comes from history cites the event IDs.
 *
 * Modules: types.ts (the JSON shape), build.ts (`buildReport`), markdown.ts (`renderReportMarkdown`).
 */
export { buildReport } from './build';
export { renderReportMarkdown } from './markdown';
export { REPORT_FORMAT, type ActionExecution, type IncidentReport } from './types';
