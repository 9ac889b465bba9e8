/**
 * Messages between `replayHistories` and its replay processes (child.ts), over the Node IPC channel (JSON).
 *
 * parent -> child: `start` once (the workflow bundle), then `replay` per history, then `stop`.
 * child -> parent: `ready` when its replay worker asks for the first history, a `result` per history (in the
 * order they were sent), `fatal` when the replay worker itself fails.
 */
import type { WorkflowBundleOption } from '@temporalio/worker';
import type { HistoryJson } from '../history-json';

export interface StartMessage {
  type: 'start';
  workflowBundle: WorkflowBundleOption;
  replayName: string;
  /** Install the quiet runtime (the parent did). */
  quiet: boolean;
}

export interface ReplayMessage {
  type: 'replay';
  seq: number;
  workflowId: string;
  history: HistoryJson;
}

export interface StopMessage {
  type: 'stop';
}

export type ToChild = StartMessage | ReplayMessage | StopMessage;

export interface ReadyMessage {
  type: 'ready';
}

export interface ResultMessage {
  type: 'result';
  seq: number;
  runId?: string;
  /** The replay error, as `Worker.runReplayHistories` reported it. */
  error?: { name: string; message: string };
  /** The JSON was not a history (`historyFromJson`'s message). */
  invalid?: string;
}

export interface FatalMessage {
  type: 'fatal';
  message: string;
}

export type FromChild = ReadyMessage | ResultMessage | FatalMessage;
