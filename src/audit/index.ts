/** The audit module: history export, replay, timeline, report, tamper-evident bundles, and the API service. */
export {
  AmbiguousIncidentIdError,
  decryptExport,
  exportIncidentHistory,
  fetchRunChain,
  findFirstRunId,
  HISTORY_EXPORT_FORMAT,
  writeHistoryExport,
  writeRunFiles,
  type ExportedRun,
  type IncidentHistoryExport,
} from './history';
export { historyFromJson, historyToJson, type HistoryJson } from './history-json';
export {
  formatReplaySummary,
  historiesFromFiles,
  historiesFromQuery,
  historiesOfIncident,
  installQuietRuntime,
  listHistoryFiles,
  replayHistories,
  type ReplayFailure,
  type ReplayItem,
  type ReplaySummary,
} from './replay';
export { buildTimeline, stateFromHistory, type TimelineEntry, type TimelineKind } from './timeline';
export { buildReport, renderReportMarkdown, type IncidentReport } from './report';
export {
  assembleBundle,
  createSigner,
  signerFromEnv,
  verifyBundle,
  writeBundle,
  type AuditBundle,
  type VerifyResult,
} from './bundle';
export {
  buildAuditBundle,
  createAuditService,
  loadIncidentAudit,
  type AuditService,
  type AuditServiceOptions,
} from './service';
