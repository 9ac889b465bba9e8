/**
 * `replayHistories`: every item against the workflow code in one replay worker, with a progress bar and a
 * summary.
 */
import type { PayloadCodec } from '@temporalio/common';
import { Runtime, Worker } from '@temporalio/worker';
import { encryptionCodecOf, MissingEncryptionKeyError } from '../../temporal/codec';
import { bundleWorkflows } from '../../worker';
import { historyFromJson, type History, type HistoryJson } from '../history-json';
import { assertDecryptable } from '../payloads';
import { ProgressBar } from '../progress';
import { explain } from './explain';
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

const strip = ({ history: _h, ...rest }: ReplayItem): Omit<ReplayItem, 'history'> => rest;

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
  const bar =
    opts.progress === false
      ? undefined
      : new ProgressBar({
          label: 'histories',
          ...(opts.total !== undefined ? { total: opts.total } : {}),
          ...opts.progress,
        });
  const failures: ReplayFailure[] = [];
  let replayed = 0;
  let events = 0;
  const record = (item: Omit<ReplayItem, 'history'>, failure: ReplayFailure | undefined) => {
    replayed++;
    if (failure) {
      failures.push(failure);
      bar?.log(failure.explanation);
    }
    bar?.tick(!!failure);
    opts.onResult?.(item, failure);
  };

  // Items handed to the replay worker, in order: it replays one history at a time and answers in order.
  const inFlight: { item: Omit<ReplayItem, 'history'>; history: HistoryJson }[] = [];
  async function* feed(): AsyncGenerator<{ workflowId: string; history: History }> {
    for await (const item of items) {
      const meta = strip(item);
      try {
        assertDecryptable(item.history, codec, item.label);
      } catch (err) {
        if (!(err instanceof MissingEncryptionKeyError)) throw err;
        record(meta, explain(meta, item.history, 'missing-key', err.message));
        continue;
      }
      let history: History;
      try {
        history = historyFromJson(item.history);
      } catch (err) {
        record(meta, explain(meta, item.history, 'invalid-history', (err as Error).message));
        continue;
      }
      inFlight.push({ item: meta, history: item.history });
      events += item.history.events.length;
      yield { workflowId: item.workflowId, history };
    }
  }

  const started = Date.now();
  const replayOptions = {
    workflowBundle,
    replayName: opts.replayName ?? 'quell-replay',
    ...(opts.dataConverter ? { dataConverter: opts.dataConverter } : {}),
  };
  for await (const result of Worker.runReplayHistories(replayOptions, feed())) {
    const next = inFlight.shift();
    if (!next) continue;
    const item = { ...next.item, runId: next.item.runId ?? result.runId };
    if (!result.error) {
      record(item, undefined);
      continue;
    }
    const kind: ReplayFailureKind =
      result.error.name === 'DeterminismViolationError' ? 'nondeterminism' : 'replay-error';
    record(item, explain(item, next.history, kind, result.error.message));
  }
  bar?.finish();
  const seconds = (Date.now() - started) / 1000;
  return {
    replayed,
    passed: replayed - failures.length,
    failed: failures.length,
    seconds,
    historiesPerSecond: seconds > 0 ? replayed / seconds : replayed,
    events,
    eventsPerSecond: seconds > 0 ? events / seconds : events,
    bundleSeconds,
    failures,
  };
}

/** A one-paragraph summary for terminals and CI logs. */
export function formatReplaySummary(s: ReplaySummary): string {
  const lines = [
    `Replayed ${s.replayed} histor${s.replayed === 1 ? 'y' : 'ies'} against the current workflow code: ` +
      `${s.passed} passed, ${s.failed} failed, ${s.seconds.toFixed(2)} s (${s.historiesPerSecond.toFixed(1)} histories/s, ` +
      `${Math.round(s.eventsPerSecond)} events/s; bundling ${s.bundleSeconds.toFixed(1)} s).`,
  ];
  if (s.failures.length) {
    lines.push('', 'Failures:');
    for (const f of s.failures) lines.push(f.explanation, '');
  }
  return lines.join('\n');
}
