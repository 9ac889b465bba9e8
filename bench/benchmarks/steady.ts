/**
 * Steady arrivals in rounds: at a steady rate the floor's latency is bimodal (a task handed straight to a
 * waiting poll, or not), so one short run's p50 says little. Each round runs Quell and the floor one after
 * the other, each after a short untimed warm-up at the same rate, alternating which goes first (Quell first
 * in rounds 1 and 3, the floor in round 2) so both see the same machine; the figures are the median of the
 * rounds' p50, p95 and p99.
 */
import { say } from '../lib/progress';
import { sleep, type Summary } from '../lib/stats';
import type { BenchEnv } from '../lib/env';
import {
  floorFigures,
  quellFigures,
  runFloorBlock,
  runQuellBlock,
  type Arrival,
  type FloorBlock,
  type QuellBlock,
  type RunFigures,
} from './containment';

export interface SteadyRound {
  /** Which system ran first in this round. */
  first: 'quell' | 'floor';
  quell: Summary;
  floor: Summary;
  /** Share of all cores busy during each system's timed block (0..1). */
  quellMachineBusy: number;
  floorMachineBusy: number;
}

export interface SteadyFigures {
  /** Pooled over the rounds (CPU, segments, counts), with latency p50/p95/p99 the median of the rounds'. */
  quell: RunFigures;
  floor: RunFigures;
  rounds: SteadyRound[];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

function medianOfRounds(pooled: RunFigures, rounds: Summary[]): RunFigures {
  return {
    ...pooled,
    latencyPooled: pooled.latency,
    latency: {
      ...pooled.latency,
      p50: median(rounds.map((r) => r.p50)),
      p95: median(rounds.map((r) => r.p95)),
      p99: median(rounds.map((r) => r.p99)),
    },
  };
}

export async function runSteadyRounds(
  env: BenchEnv,
  opts: { n: number; perSecond: number; rounds: number; warmup: number },
): Promise<SteadyFigures> {
  const arrival: Arrival = { kind: 'steady', perSecond: opts.perSecond };
  const quellBlocks: QuellBlock[] = [];
  const floorBlocks: FloorBlock[] = [];
  const rounds: SteadyRound[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    const order: ('quell' | 'floor')[] = r % 2 === 0 ? ['quell', 'floor'] : ['floor', 'quell'];
    let quell: QuellBlock | undefined;
    let floor: FloorBlock | undefined;
    for (const system of order) {
      const label = `steady${r}`;
      say(
        `${system === 'quell' ? 'Quell' : 'Floor'}, steady round ${r + 1}/${opts.rounds}: ` +
          `${opts.warmup} untimed then ${opts.n} alerts, ${opts.perSecond}/s`,
      );
      if (system === 'quell') {
        await runQuellBlock(env, { label: `q${label}w`, n: opts.warmup, arrival });
        quell = await runQuellBlock(env, { label: `q${label}`, n: opts.n, arrival });
        quellBlocks.push(quell);
      } else {
        await runFloorBlock(env, { label: `f${label}w`, n: opts.warmup, arrival });
        floor = await runFloorBlock(env, { label: `f${label}`, n: opts.n, arrival });
        floorBlocks.push(floor);
      }
      await sleep(1_000);
    }
    const q = (await quellFigures(env, [quell!], arrival)).latency;
    const f = (await floorFigures(env, [floor!], arrival)).latency;
    rounds.push({
      first: order[0]!,
      quell: q,
      floor: f,
      quellMachineBusy: quell!.cpu.machineBusy,
      floorMachineBusy: floor!.cpu.machineBusy,
    });
    say(`  steady round ${r + 1}: p50 ${q.p50.toFixed(1)} ms vs floor ${f.p50.toFixed(1)} ms`);
  }
  const quell = medianOfRounds(
    await quellFigures(env, quellBlocks, arrival),
    rounds.map((r) => r.quell),
  );
  const floor = medianOfRounds(
    await floorFigures(env, floorBlocks, arrival),
    rounds.map((r) => r.floor),
  );
  say(
    `  steady: median of ${opts.rounds} rounds' p50 ${quell.latency.p50.toFixed(1)} ms vs floor ` +
      `${floor.latency.p50.toFixed(1)} ms; p99 ${quell.latency.p99.toFixed(1)} ms vs ${floor.latency.p99.toFixed(1)} ms`,
  );
  return { quell, floor, rounds };
}
