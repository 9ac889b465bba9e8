/**
 * Replay: the committed histories in test/histories/, replayed against the current workflow code with
 * Quell's replay module (`replayHistories`, i.e. `Worker.runReplayHistories`), several passes over the set
 * through one replay worker. Bundling is excluded (the run's prebuilt bundle is used).
 */
import path from 'node:path';
import {
  historiesFromFiles,
  listHistoryFiles,
  replayHistories,
  type ReplayItem,
} from '../../src/audit/replay';
import type { BenchEnv } from '../lib/env';
import { ROOT } from '../lib/env';
import { say } from '../lib/progress';

export interface ReplayFigures {
  files: number;
  passes: number;
  histories: number;
  events: number;
  passed: number;
  failed: number;
  seconds: number;
  historiesPerSecond: number;
  eventsPerSecond: number;
  failures: string[];
}

export async function runReplay(env: BenchEnv, opts: { passes: number }): Promise<ReplayFigures> {
  const files = await listHistoryFiles([path.join(ROOT, 'test', 'histories')]);
  const items: ReplayItem[] = [];
  for await (const item of historiesFromFiles(files)) items.push(item);
  say(`  replay: ${items.length} histories from ${files.length} files, ${opts.passes} pass(es)`);
  const all = Array.from({ length: opts.passes }, () => items).flat();
  let done = 0;
  const timer = setInterval(() => say(`  replay: ${done}/${all.length} replayed`), 2_000);
  try {
    const summary = await replayHistories(all, {
      workflowBundle: { code: env.quellBundle.code },
      progress: false,
      onResult: () => done++,
      replayName: 'quell-bench-replay',
    });
    return {
      files: files.length,
      passes: opts.passes,
      histories: summary.replayed,
      events: summary.events,
      passed: summary.passed,
      failed: summary.failed,
      seconds: summary.seconds,
      historiesPerSecond: summary.historiesPerSecond,
      eventsPerSecond: summary.eventsPerSecond,
      failures: [...new Set(summary.failures.map((f) => `${f.label}: ${f.kind}: ${f.message}`))],
    };
  } finally {
    clearInterval(timer);
  }
}
