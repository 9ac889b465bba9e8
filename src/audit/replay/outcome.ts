/**
 * One item's way through a replay, the same in this process and in a replay process: its payloads must be
 * decryptable, its JSON must be a history, and the worker's result becomes a pass or an explained failure.
 */
import type { PayloadCodec } from '@temporalio/common';
import { MissingEncryptionKeyError } from '../../temporal/codec';
import type { HistoryJson } from '../history-json';
import { assertDecryptable } from '../payloads';
import { explain } from './explain';
import type { ReplayedItem } from './tally';
import type { ReplayFailure, ReplayFailureKind, ReplayItem } from './types';

export const strip = ({ history: _h, ...rest }: ReplayItem): ReplayedItem => rest;

/**
 * The item's failure when its payloads use a key the codec does not hold (checked before the history travels
 * anywhere). Thrown: any error checking the payloads other than a missing key.
 */
export function undecryptable(
  item: ReplayItem,
  meta: ReplayedItem,
  codec: PayloadCodec | undefined,
): ReplayFailure | undefined {
  try {
    assertDecryptable(item.history, codec, item.label);
    return undefined;
  } catch (err) {
    if (!(err instanceof MissingEncryptionKeyError)) throw err;
    return explain(meta, item.history, 'missing-key', err.message);
  }
}

export function invalidHistory(meta: ReplayedItem, history: HistoryJson, message: string): ReplayFailure {
  return explain(meta, history, 'invalid-history', message);
}

/** What the replay worker said about one history: the run ID it read, and its error if any. */
export interface WorkerVerdict {
  runId?: string;
  error?: { name: string; message: string };
}

/** The item as replayed (with the run ID the worker read when the item named none), and its failure if any. */
export function outcomeOf(
  meta: ReplayedItem,
  history: HistoryJson,
  verdict: WorkerVerdict,
): [ReplayedItem, ReplayFailure | undefined] {
  const runId = meta.runId ?? verdict.runId;
  const item = { ...meta, ...(runId ? { runId } : {}) };
  if (!verdict.error) return [item, undefined];
  const kind: ReplayFailureKind =
    verdict.error.name === 'DeterminismViolationError' ? 'nondeterminism' : 'replay-error';
  return [item, explain(item, history, kind, verdict.error.message)];
}
