/**
 * Reporting a replay as it goes and once it is done: the progress bar, the failures (each explained as it
 * happens), the counts, and the summary they add up to.
 */
import type { HistoryJson } from '../history-json';
import { ProgressBar } from '../progress';
import type { ReplayFailure, ReplayItem, ReplayOptions, ReplaySummary } from './types';

/** An item as the results name it: its history left out. */
export type ReplayedItem = Omit<ReplayItem, 'history'>;

/** The results of one replay run, in the order they come in. */
export class ReplayTally {
  private readonly bar: ProgressBar | undefined;
  private readonly failures: ReplayFailure[] = [];
  private replayed = 0;
  private events = 0;

  constructor(private readonly opts: Pick<ReplayOptions, 'progress' | 'total' | 'onResult'>) {
    this.bar =
      opts.progress === false
        ? undefined
        : new ProgressBar({
            label: 'histories',
            ...(opts.total !== undefined ? { total: opts.total } : {}),
            ...opts.progress,
          });
  }

  /** A history handed to the replay worker: its events count towards the throughput. */
  fed(history: HistoryJson): void {
    this.events += history.events.length;
  }

  record(item: ReplayedItem, failure: ReplayFailure | undefined): void {
    this.replayed++;
    if (failure) {
      this.failures.push(failure);
      this.bar?.log(failure.explanation);
    }
    this.bar?.tick(!!failure);
    this.opts.onResult?.(item, failure);
  }

  /** Ends the progress bar. `started`: when the replay itself started (ms), after bundling. */
  finish(started: number, bundleSeconds: number, jobs: number): ReplaySummary {
    this.bar?.finish();
    const seconds = (Date.now() - started) / 1000;
    const { replayed, events, failures } = this;
    return {
      replayed,
      passed: replayed - failures.length,
      failed: failures.length,
      seconds,
      historiesPerSecond: seconds > 0 ? replayed / seconds : replayed,
      events,
      eventsPerSecond: seconds > 0 ? events / seconds : events,
      bundleSeconds,
      jobs,
      failures,
    };
  }
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
