/**
 * `replayHistories`: every item against the workflow code in one replay worker; items that cannot be replayed
 * (a missing key, not a history) fail before they reach it. Progress and the summary: tally.ts.
 */
import type { PayloadCodec } from '@temporalio/common';
import { Runtime, Worker, type ReplayResult } from '@temporalio/worker';
import { encryptionCodecOf, MissingEncryptionKeyError } from '../../temporal/codec';
import { bundleWorkflows } from '../../worker';
import { historyFromJson, type History, type HistoryJson } from '../history-json';
import { assertDecryptable } from '../payloads';
import { explain } from './explain';
import { ReplayTally, type ReplayedItem } from './tally';
import type { ReplayFailure, ReplayFailureKind, ReplayItem, ReplayOptions, ReplaySummary } from './types';

let quietRuntime = false;
/**
 * Installs a Temporal runtime that keeps the SDK quiet (replay failures are reported by this module, so the
 * SDK's own warnings would only garble the progress bar). A no-op when a runtime is already installed.
 */
export function installQuietRuntime(): void {
  if (quietRuntime) return;
  quietRuntime = true;
  const silent = () => undefined;
  try {
    Runtime.install({
      logger: { log: silent, trace: silent, debug: silent, info: silent, warn: silent, error: silent },
      telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } },
    });
  } catch {
    // Already installed in this process: keep it.
  }
}

const strip = ({ history: _h, ...rest }: ReplayItem): ReplayedItem => rest;

/** An item handed to the replay worker, waiting for its result. */
interface InFlight {
  item: ReplayedItem;
  history: HistoryJson;
}

/**
 * Replays every item against the workflow code; never throws for a failing history (see the summary's
 * `failures`), only for a worker that cannot start.
 */
export async function replayHistories(
  items: AsyncIterable<ReplayItem> | Iterable<ReplayItem>,
  opts: ReplayOptions = {},
): Promise<ReplaySummary> {
  const bundleStarted = Date.now();
  const workflowBundle = opts.workflowBundle ?? (await bundleWorkflows());
  const bundleSeconds = (Date.now() - bundleStarted) / 1000;
  const codec: PayloadCodec | undefined = encryptionCodecOf(opts.dataConverter);
  const tally = new ReplayTally(opts);
  // The worker replays one history at a time and answers in order.
  const inFlight: InFlight[] = [];

  const started = Date.now();
  const replayOptions = {
    workflowBundle,
    replayName: opts.replayName ?? 'quell-replay',
    ...(opts.dataConverter ? { dataConverter: opts.dataConverter } : {}),
  };
  const feed = replayable(items, codec, tally, inFlight);
  for await (const result of Worker.runReplayHistories(replayOptions, feed)) {
    const next = inFlight.shift();
    if (next) tally.record(...outcomeOf(next, result));
  }
  return tally.finish(started, bundleSeconds);
}

/**
 * The items the worker can replay, in order, each also queued in `inFlight`; the others are recorded as
 * failed here.
 */
async function* replayable(
  items: AsyncIterable<ReplayItem> | Iterable<ReplayItem>,
  codec: PayloadCodec | undefined,
  tally: ReplayTally,
  inFlight: InFlight[],
): AsyncGenerator<{ workflowId: string; history: History }> {
  for await (const item of items) {
    const meta = strip(item);
    const prepared = prepare(item, meta, codec);
    if ('failure' in prepared) {
      tally.record(meta, prepared.failure);
      continue;
    }
    inFlight.push({ item: meta, history: item.history });
    tally.fed(item.history);
    yield { workflowId: item.workflowId, history: prepared.history };
  }
}

/**
 * One item before it is replayed: its payloads must be decryptable with the codec and its JSON must be a
 * history. Thrown: any error checking the payloads other than a missing key.
 */
function prepare(
  item: ReplayItem,
  meta: ReplayedItem,
  codec: PayloadCodec | undefined,
): { history: History } | { failure: ReplayFailure } {
  try {
    assertDecryptable(item.history, codec, item.label);
  } catch (err) {
    if (!(err instanceof MissingEncryptionKeyError)) throw err;
    return { failure: explain(meta, item.history, 'missing-key', err.message) };
  }
  try {
    return { history: historyFromJson(item.history) };
  } catch (err) {
    return { failure: explain(meta, item.history, 'invalid-history', (err as Error).message) };
  }
}

/** The item as replayed (with the run ID the worker read when the item named none), and its failure if any. */
function outcomeOf(next: InFlight, result: ReplayResult): [ReplayedItem, ReplayFailure | undefined] {
  const item = { ...next.item, runId: next.item.runId ?? result.runId };
  if (!result.error) return [item, undefined];
  const kind: ReplayFailureKind =
    result.error.name === 'DeterminismViolationError' ? 'nondeterminism' : 'replay-error';
  return [item, explain(item, next.history, kind, result.error.message)];
}
