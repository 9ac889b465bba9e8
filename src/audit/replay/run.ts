/**
 * `replayHistories`: every item against the workflow code, in one replay worker in this process (`jobs: 1`)
 * or across replay processes (pool.ts); items that cannot be replayed (a missing key, not a history) fail
 * before they reach a worker. Progress and the summary: tally.ts.
 */
import os from 'node:os';
import type { DataConverter, PayloadCodec } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import {
  codecFromEnv,
  encryptionCodecOf,
  ENCRYPTION_KEY_ENV,
  FAILURE_CONVERTER_PATH,
} from '../../temporal/codec';
import { UserFixableError } from '../../errors';
import { bundleWorkflows } from '../../worker';
import { historyFromJson, type History, type HistoryJson } from '../history-json';
import { invalidHistory, outcomeOf, strip, undecryptable } from './outcome';
import { replayInProcesses } from './pool';
import { ReplayTally, type ReplayedItem } from './tally';
import type { ReplayItem, ReplayOptions, ReplaySummary } from './types';

export { installQuietRuntime } from './runtime';

/** Beyond this many processes a replay mostly adds memory (each holds a workflow VM) and start-up time. */
const MAX_DEFAULT_JOBS = 8;

/** The default number of replay processes: one per CPU this process may use, at most 8. */
export function defaultReplayJobs(): number {
  return Math.max(1, Math.min(os.availableParallelism(), MAX_DEFAULT_JOBS));
}

/** Thrown when replay options cannot work together (a bad `jobs`, or a converter processes cannot rebuild). */
export class ReplayOptionsError extends UserFixableError {
  override readonly name = 'ReplayOptionsError';
}

/** An item handed to the in-process replay worker, waiting for its result. */
interface InFlight {
  item: ReplayedItem;
  history: HistoryJson;
}

/**
 * Replays every item against the workflow code; never throws for a failing history (see the summary's
 * `failures`), only for a worker that cannot start (with `jobs` > 1: `ReplayProcessStartError` when no
 * replay process starts) and for {@link ReplayOptionsError}.
 */
export async function replayHistories(
  items: AsyncIterable<ReplayItem> | Iterable<ReplayItem>,
  opts: ReplayOptions = {},
): Promise<ReplaySummary> {
  const env = opts.env ?? process.env;
  const jobs = jobsFor(items, opts, env);
  const bundleStarted = Date.now();
  const workflowBundle = opts.workflowBundle ?? (await bundleWorkflows());
  const bundleSeconds = (Date.now() - bundleStarted) / 1000;
  const codec: PayloadCodec | undefined = encryptionCodecOf(opts.dataConverter);
  const tally = new ReplayTally(opts);
  const replayName = opts.replayName ?? 'quell-replay';

  const started = Date.now();
  if (jobs > 1) {
    await replayInProcesses(items, {
      jobs,
      workflowBundle,
      replayName,
      env: childEnv(opts.dataConverter, env),
      codec,
      quiet: !opts.sdkLogs,
      tally,
    });
    return tally.finish(started, bundleSeconds, jobs);
  }
  // The worker replays one history at a time and answers in order.
  const inFlight: InFlight[] = [];
  const replayOptions = {
    workflowBundle,
    replayName,
    ...(opts.dataConverter ? { dataConverter: opts.dataConverter } : {}),
  };
  const feed = replayable(items, codec, tally, inFlight);
  for await (const result of Worker.runReplayHistories(replayOptions, feed)) {
    const next = inFlight.shift();
    if (next) tally.record(...outcomeOf(next.item, next.history, result));
  }
  return tally.finish(started, bundleSeconds, jobs);
}

/**
 * How many processes replay: `jobs` (default {@link defaultReplayJobs}), no more than there are histories.
 * Processes rebuild the data converter from `env`; one they cannot rebuild replays in this process when
 * `jobs` was left to its default. Thrown: {@link ReplayOptionsError} for a `jobs` that is not an integer
 * >= 1, or more than one job with such a converter.
 */
function jobsFor(
  items: AsyncIterable<ReplayItem> | Iterable<ReplayItem>,
  opts: ReplayOptions,
  env: NodeJS.ProcessEnv,
): number {
  if (opts.jobs !== undefined && !(Number.isInteger(opts.jobs) && opts.jobs >= 1)) {
    throw new ReplayOptionsError(`replay jobs must be an integer >= 1 (got ${opts.jobs})`);
  }
  const total = opts.total ?? (Array.isArray(items) ? items.length : undefined);
  const jobs = Math.min(opts.jobs ?? defaultReplayJobs(), Math.max(total ?? Infinity, 1));
  if (jobs === 1 || rebuiltFromEnv(opts.dataConverter, env)) return jobs;
  if (opts.jobs === undefined) return 1;
  throw new ReplayOptionsError(
    `replay processes build their data converter from ${ENCRYPTION_KEY_ENV} in their environment, which ` +
      'does not describe the one given: set it (or pass env) to the same keys, or replay with jobs: 1',
  );
}

/** Whether `dataConverter` is what a process builds from `env` (none at all: see {@link childEnv}). */
function rebuiltFromEnv(dataConverter: DataConverter | undefined, env: NodeJS.ProcessEnv): boolean {
  if (!dataConverter) return true;
  const codec = encryptionCodecOf(dataConverter);
  let fromEnv: ReturnType<typeof codecFromEnv>;
  try {
    fromEnv = codecFromEnv(env);
  } catch {
    return false;
  }
  const onlyQuellEncryption =
    Object.keys(dataConverter).every((k) => k === 'payloadCodecs' || k === 'failureConverterPath') &&
    dataConverter.payloadCodecs?.length === 1 &&
    dataConverter.failureConverterPath === FAILURE_CONVERTER_PATH;
  return (
    !!codec &&
    !!fromEnv &&
    onlyQuellEncryption &&
    codec.keyIds.length === fromEnv.keyIds.length &&
    codec.keyIds.every((id, i) => fromEnv.keyIds[i] === id)
  );
}

/** The processes' environment: without the key when this replay has no converter, as in this process. */
function childEnv(dataConverter: DataConverter | undefined, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (dataConverter) return env;
  const { [ENCRYPTION_KEY_ENV]: _key, ...rest } = env;
  return rest;
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
    const failure = undecryptable(item, meta, codec);
    if (failure) {
      tally.record(meta, failure);
      continue;
    }
    let history: History;
    try {
      history = historyFromJson(item.history);
    } catch (err) {
      tally.record(meta, invalidHistory(meta, item.history, (err as Error).message));
      continue;
    }
    inFlight.push({ item: meta, history: item.history });
    tally.fed(item.history);
    yield { workflowId: item.workflowId, history };
  }
}
