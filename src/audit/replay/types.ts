/** What is replayed (items and where they came from), how a failure is reported, and the run's summary. */
import type { DataConverter } from '@temporalio/common';
import type { WorkflowBundleOption } from '@temporalio/worker';
import type { HistoryJson } from '../history-json';
import type { ProgressOptions } from '../progress';

/** One history to replay and where it came from. */
export interface ReplayItem {
  /** How failures name it: a file (and run), or an incident and run. */
  label: string;
  /** The file it was read from, when it came from a file. */
  file?: string;
  workflowId: string;
  runId?: string;
  incidentId?: string;
  history: HistoryJson;
}

export type ReplayFailureKind = 'nondeterminism' | 'replay-error' | 'missing-key' | 'invalid-history';

export interface ReplayFailure {
  label: string;
  file?: string;
  incidentId?: string;
  workflowId: string;
  runId?: string;
  kind: ReplayFailureKind;
  /** The history event the SDK names (nondeterminism errors carry `HistoryEvent(id: N, Type)`). */
  eventId?: number;
  eventType?: string;
  /** The SDK's error, trimmed to its cause. */
  message: string;
  /** The full SDK error message. */
  detail: string;
  /** A multi-line, human-readable account of the failure. */
  explanation: string;
}

export interface ReplaySummary {
  replayed: number;
  passed: number;
  failed: number;
  /** Wall time of the replay itself (bundling excluded). */
  seconds: number;
  historiesPerSecond: number;
  /** History events replayed (a long history costs more than a short one). */
  events: number;
  eventsPerSecond: number;
  bundleSeconds: number;
  /** Replay processes the histories were spread over; 1: one replay worker in this process. */
  jobs: number;
  failures: ReplayFailure[];
}

export interface ReplayOptions {
  /** The workflow code to replay against; default: the current `workflows/`, bundled now. */
  workflowBundle?: WorkflowBundleOption;
  /** E.g. the encryption data converter; encrypted histories need its codec. */
  dataConverter?: DataConverter;
  /** Progress bar on stderr (default: on, TTY-aware); `false` for none. */
  progress?: Partial<ProgressOptions> | false;
  /** Known number of histories, for the progress bar. */
  total?: number;
  /** Called after each history. */
  onResult?: (item: Omit<ReplayItem, 'history'>, failure: ReplayFailure | undefined) => void;
  replayName?: string;
  /**
   * Replay processes (forked Node processes, one replay worker each): default one per CPU, at most 8, and
   * never more than there are histories (`total`, or the array's length). `1` replays in this process.
   */
  jobs?: number;
  /**
   * The environment replay processes run with (default `process.env`): each builds its data converter from
   * its QUELL_ENCRYPTION_KEY, so `dataConverter`, when given, must be the one that describes.
   */
  env?: NodeJS.ProcessEnv;
  /**
   * Replay processes write the Temporal SDK's own log lines to stderr (`quell replay --verbose`); by default they
   * keep quiet, whatever runtime this process has (a bench or test process runs workers of its own).
   */
  sdkLogs?: boolean;
}
