/**
 * Replays recorded histories against the CURRENT workflow code (`Worker.runReplayHistories`), so a change
 * that would break running incidents (nondeterminism) is caught before it is deployed.
 *
 * Sources: history files and directories (Temporal JSON, or Quell history exports holding several runs), one
 * incident's complete run chain, or every run a visibility query lists. Each failure is explained: which
 * incident, workflow, run and file, which history event (ID and type, from the SDK's nondeterminism message),
 * and the error.
 *
 * Modules: types.ts (items, failures, summary), sources.ts (where items come from), run.ts
 * (`replayHistories`), pool.ts and child.ts (replaying across
 * processes, protocol.ts their messages), outcome.ts (one item's checks and verdict), tally.ts (progress, counts, the summary), explain.ts (what a failure says).
 */
export { defaultReplayJobs, installQuietRuntime, replayHistories, ReplayOptionsError } from './run';
export { ReplayProcessStartError } from './pool';
export { formatReplaySummary } from './tally';
export { parseReplayError } from './explain';
export {
  ALL_INCIDENTS_QUERY,
  historiesFromFiles,
  historiesFromQuery,
  historiesOfIncident,
  listHistoryFiles,
} from './sources';
export type { ReplayFailure, ReplayFailureKind, ReplayItem, ReplayOptions, ReplaySummary } from './types';
