/**
 * Replay: the committed histories in test/histories/, replayed against the current workflow code with
 * Quell's replay module (`replayHistories`, i.e. `Worker.runReplayHistories`), several passes over the set
 * across the default number of replay processes (one per CPU, `jobs` records how many). Bundling is
 * excluded (the run's prebuilt bundle is used).
 *
 * Then the goal's figure, 1,000 typical incident histories: "typical" is the committed history of median
 * length among the current recordings (test/histories/*.json, not legacy/), replayed `typicalReplays` times
 * across the default number of replay processes (their start included); the seconds for 1,000 are
 * projected from those.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  historiesFromFiles,
  listHistoryFiles,
  replayHistories,
  type ReplayItem,
} from '../../src/audit/replay';
import { cpuBetween, cpuSnapshot } from '../lib/cpu';
import type { BenchEnv } from '../lib/env';
import { ROOT } from '../lib/env';
import { say } from '../lib/progress';

export interface ReplayFigures {
  files: number;
  passes: number;
  /** Replay processes the passes were spread over (1: one in-process replay worker). */
  jobs: number;
  histories: number;
  events: number;
  passed: number;
  failed: number;
  seconds: number;
  historiesPerSecond: number;
  eventsPerSecond: number;
  failures: string[];
  /** The goal's figure: the median-length current history replayed over and over. */
  typical?: TypicalReplay;
}

export interface TypicalReplay {
  file: string;
  events: number;
  /** Current recordings the median was taken over. */
  of: number;
  replays: number;
  /** Replay processes the replays were spread over. */
  jobs: number;
  passed: number;
  seconds: number;
  /** Seconds for 1,000 of it, at the rate measured (equal to `seconds` when 1,000 were replayed). */
  projectedSecondsPer1000: number;
  /** Share of all cores busy while it replayed (0..1), and other processes' CPU in that time. */
  machineBusy: number;
  /** CPU seconds of the replay processes (left out of `othersSeconds`). */
  replayProcessesSeconds: number;
  othersSeconds: number;
  othersCores: number;
}

export async function runReplay(
  env: BenchEnv,
  opts: { passes: number; typicalReplays: number },
): Promise<ReplayFigures> {
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
    const typical = await replayTypical(env, items, opts.typicalReplays);
    return {
      ...(typical ? { typical } : {}),
      files: files.length,
      passes: opts.passes,
      jobs: summary.jobs,
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

async function replayTypical(
  env: BenchEnv,
  items: ReplayItem[],
  replays: number,
): Promise<TypicalReplay | undefined> {
  const current = items
    .filter((i) => i.file && !path.relative(path.join(ROOT, 'test', 'histories'), i.file).includes(path.sep))
    .sort((a, b) => a.history.events.length - b.history.events.length);
  const median = current[Math.floor((current.length - 1) / 2)];
  if (!median) return undefined;
  const events = median.history.events.length;
  const file = path.relative(ROOT, median.file!);
  say(`  replay: typical history ${file} (${events} events, median of ${current.length}), ${replays} times`);
  const cpuBefore = await cpuSnapshot(await env.serverPids());
  const childrenBefore = await reapedChildrenSeconds();
  const summary = await replayHistories(
    Array.from({ length: replays }, () => median),
    {
      workflowBundle: { code: env.quellBundle.code },
      progress: false,
      replayName: 'quell-bench-replay-typical',
    },
  );
  const cpu = cpuBetween(cpuBefore, await cpuSnapshot(await env.serverPids()), env.workflowThreadIds);
  const replayProcessesSeconds = (await reapedChildrenSeconds()) - childrenBefore;
  const othersSeconds = Math.max(0, cpu.otherProcessesMs / 1000 - replayProcessesSeconds);
  return {
    file,
    events,
    of: current.length,
    replays: summary.replayed,
    jobs: summary.jobs,
    passed: summary.passed,
    seconds: summary.seconds,
    projectedSecondsPer1000: (summary.seconds / summary.replayed) * 1000,
    machineBusy: cpu.machineBusy,
    replayProcessesSeconds,
    othersSeconds,
    othersCores: (othersSeconds * 1000) / cpu.wallMs,
  };
}

/**
 * CPU seconds of this process's children that exited and were reaped (cutime + cstime): the replay
 * processes, which have all exited when `replayHistories` returns.
 */
async function reapedChildrenSeconds(): Promise<number> {
  const stat = await fs.readFile('/proc/self/stat', 'utf8').catch(() => '');
  if (!stat) return 0;
  // Fields after the parenthesised command name; cutime and cstime are fields 16 and 17 (1-based).
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[13]) + Number(rest[14])) / 100; // USER_HZ
}
