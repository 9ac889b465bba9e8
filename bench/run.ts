/**
 * `npm run bench`: Quell's benchmarks, all in one run against one embedded Temporal dev server.
 * See bench/README.md for what each one measures.
 */
import path from 'node:path';
import {
  FLOOR_NAMES,
  floorFigures,
  quellFigures,
  runFloorBlock,
  runQuellBlock,
  type Arrival,
  type FloorKind,
  type RunFigures,
} from './benchmarks/containment';
import { runIngest } from './benchmarks/ingest';
import { runMemory } from './benchmarks/memory';
import { runReplay } from './benchmarks/replay';
import { runStorm } from './benchmarks/storm';
import { runSteadyRounds } from './benchmarks/steady';
import { BENCH_DIR, startBenchEnv, type BenchEnv, type DbMode, type TemporalMode } from './lib/env';
import { say } from './lib/progress';
import { machine, markdown, writeResults, type BenchResults } from './lib/report';
import { sleep } from './lib/stats';
import { describeWorkerTuning } from '../src/worker';

const BENCHMARKS = ['latency', 'throughput', 'ingest', 'replay', 'memory', 'storm'] as const;
type BenchName = (typeof BENCHMARKS)[number];

const HELP = `Usage: npm run bench -- [options]

Runs Quell's benchmarks in one process against ONE embedded Temporal dev server (SQLite, synchronous=OFF),
the lab estate, a Quell worker and the Quell HTTP API on loopback, and the floor (a bare Temporal workflow of
the same shape on its own task queue; the floors with Quell's connectors on another, on a worker configured
the same way). Prints progress on stderr and Markdown tables on stdout (headed by the
Goals table: every figure as Quell / floor with the machine load), and writes JSON and Markdown to
bench/results/.

Options:
  --only <names>   comma-separated subset of: ${BENCHMARKS.join(', ')}
                     latency     alert -> containment p50/p95/p99, steady arrivals (median of 3 rounds) and a
                                 burst, Quell vs floor
                     throughput  incidents contained per second for a burst of 1,000 (quick: 200), Quell
                                 vs floor, none lost; after the bare floor, two bare workflows that add
                                 Quell's work back without Quell's code: + connectors (isolation and notice
                                 through Quell's CrowdStrike and Slack connectors to the lab), then
                                 + investigation (also the log snapshot into the evidence store, the
                                 search-attribute upserts and a patch marker; parks): "Where the gap goes"
                                 gives each one's contained/s, CPU and history events per incident
                     ingest      POST /api/v1/alerts req/s and p99 (dedup hits, misses) vs bare express and
                                 a bare client's update / update-with-start of the floor workflow
                     replay      histories/s replaying test/histories against the current workflow code, and
                                 1,000 typical (median-length) histories
                     memory      worker RSS (separate process) idle and with open incidents awaiting approval,
                                 vs a bare worker with floor workflows waiting on an update
                     storm       10,000 alerts over 1,000 hosts (30% redeliveries) through the batch intake:
                                 none lost, each host contained once
  --quick          smoke sizes (about 4 minutes): 3 rounds of 40, burst of 200, 3 s ingest runs, 200 open,
                   a storm of 1,000 alerts over 100 hosts
  --db <mode>      dev server database: file (temp SQLite file, default) or memory (in-memory SQLite)
  --temporal <t>   dev (the embedded dev server, default) or postgres (Temporal Server 1.29 on a throwaway
                   PostgreSQL, as docker-compose.yml runs it; Quell and the floor both run against it)
  --help           this text
`;

interface Options {
  only: BenchName[];
  quick: boolean;
  db: DbMode;
  temporal: TemporalMode;
}

function parseArgs(argv: string[]): Options | undefined {
  const opts: Options = { only: [...BENCHMARKS], quick: false, db: 'file', temporal: 'dev' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--help' || a === '-h') return undefined;
    else if (a === '--quick') opts.quick = true;
    else if (a === '--only' || a.startsWith('--only=')) {
      const names = (a.includes('=') ? a.slice(a.indexOf('=') + 1) : value()).split(',').map((s) => s.trim());
      const unknown = names.filter((n) => !(BENCHMARKS as readonly string[]).includes(n));
      if (unknown.length)
        throw new Error(`unknown benchmark(s): ${unknown.join(', ')} (known: ${BENCHMARKS.join(', ')})`);
      opts.only = BENCHMARKS.filter((b) => names.includes(b));
    } else if (a === '--db' || a.startsWith('--db=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : value();
      if (v !== 'file' && v !== 'memory') throw new Error('--db is file or memory');
      opts.db = v;
    } else if (a === '--temporal' || a.startsWith('--temporal=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : value();
      if (v !== 'dev' && v !== 'postgres') throw new Error('--temporal is dev or postgres');
      opts.temporal = v;
    } else throw new Error(`unknown option ${a} (see --help)`);
  }
  return opts;
}

const SIZES = {
  full: {
    latencyN: 200,
    steadyPerSecond: 10,
    steadyRounds: 3,
    steadyWarmup: 20,
    throughputN: 1_000,
    ingestSeconds: 10,
    ingestWarmup: 2,
    connections: 10,
    replayPasses: 5,
    typicalReplays: 1_000,
    memoryN: 1_000,
    storm: { alerts: 10_000, hosts: 1_000 },
  },
  quick: {
    latencyN: 40,
    steadyPerSecond: 10,
    steadyRounds: 3,
    steadyWarmup: 10,
    throughputN: 200,
    ingestSeconds: 3,
    ingestWarmup: 1,
    connections: 10,
    replayPasses: 1,
    typicalReplays: 100,
    memoryN: 200,
    storm: { alerts: 1_000, hosts: 100 },
  },
};

/** The floors that add Quell's work back, run after the bare floor in the throughput benchmark. */
const FLOOR_VARIANTS = ['floorConnectors', 'floorInvestigation'] as const satisfies readonly FloorKind[];

type BurstFigures = { quell: RunFigures; floor: RunFigures } & Partial<
  Record<(typeof FLOOR_VARIANTS)[number], RunFigures>
>;

/**
 * Quell and the floor under the same burst, one burst each (halving it would change what is measured), Quell
 * first; with `variants`, then each of FLOOR_VARIANTS in turn. Steady arrivals run in rounds instead
 * (`runSteadyRounds`).
 */
async function burstSeries(
  env: BenchEnv,
  label: string,
  n: number,
  opts: { variants: boolean },
): Promise<BurstFigures> {
  const arrival: Arrival = { kind: 'burst' };
  const kinds: FloorKind[] = ['floor', ...(opts.variants ? FLOOR_VARIANTS : [])];
  const of = kinds.length + 1;
  say(`Quell, ${label} (block 1/${of}): ${n} alerts, all at once`);
  const quellBlocks = [await runQuellBlock(env, { label: `q${label}0`, n, arrival })];
  await sleep(1_000);
  const floorBlocks = [];
  for (const [i, kind] of kinds.entries()) {
    say(`${FLOOR_NAMES[kind]}, ${label} (block ${i + 2}/${of}): ${n} alerts, all at once`);
    floorBlocks.push(await runFloorBlock(env, { label: `f${label}${i + 1}`, n, arrival, kind }));
    await sleep(1_000);
  }
  const quell = await quellFigures(env, quellBlocks, arrival);
  const out: BurstFigures = { quell, floor: await floorFigures(env, [floorBlocks[0]!], arrival) };
  for (const block of floorBlocks.slice(1))
    out[block.kind as (typeof FLOOR_VARIANTS)[number]] = await floorFigures(env, [block], arrival);
  say(
    `  ${label}: p50 ${quell.latency.p50.toFixed(1)} ms vs floor ${out.floor.latency.p50.toFixed(1)} ms; ` +
      `p99 ${quell.latency.p99.toFixed(1)} ms vs ${out.floor.latency.p99.toFixed(1)} ms`,
  );
  for (const kind of FLOOR_VARIANTS) {
    const f = out[kind];
    if (f)
      say(
        `  ${label}: ${FLOOR_NAMES[kind]} ${f.containedPerSecond.toFixed(1)} contained/s ` +
          `(Quell ${quell.containedPerSecond.toFixed(1)}, bare floor ${out.floor.containedPerSecond.toFixed(1)})`,
      );
  }
  return out;
}

// The connector floors' hosts go to the lab, so they must not be Quell's warm-up hosts (the bare floor's may).
const WARM_LABELS: Record<FloorKind, string> = {
  floor: 'warm',
  floorConnectors: 'warmc',
  floorInvestigation: 'warmi',
};

/**
 * A few untimed incidents through each system first: JIT, connections, the lab's OAuth token, the workers'
 * caches. The connector floors (their own connectors and token) only when the throughput benchmark runs.
 */
async function warmUp(env: BenchEnv, variants: boolean): Promise<void> {
  const arrival: Arrival = { kind: 'steady', perSecond: 20 };
  say(`Warm-up: 20 untimed incidents through Quell and through the floor${variants ? 's' : ''}`);
  await runQuellBlock(env, { label: 'warm', n: 20, arrival });
  for (const kind of ['floor', ...(variants ? FLOOR_VARIANTS : [])] as FloorKind[])
    await runFloorBlock(env, { label: WARM_LABELS[kind], n: 20, arrival, kind });
}

async function main(): Promise<number> {
  let opts: Options | undefined;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    return 2;
  }
  if (!opts) {
    process.stdout.write(HELP);
    return 0;
  }
  const size = SIZES[opts.quick ? 'quick' : 'full'];
  const startedAt = new Date().toISOString();
  say(`Quell benchmarks (${opts.quick ? 'quick' : 'full'}): ${opts.only.join(', ')}`);
  const env = await startBenchEnv({ db: opts.db, temporal: opts.temporal });
  // Ctrl-C: stop what the run started (the dev server's guardian would stop the server anyway).
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      say(`${signal}: stopping...`);
      void env.stop().finally(() => process.exit(130));
    });
  }
  const results: BenchResults = {
    startedAt,
    mode: opts.quick ? 'quick' : 'full',
    temporal: opts.temporal,
    temporalDb:
      opts.temporal === 'postgres'
        ? 'PostgreSQL (throwaway cluster, fsync=off, synchronous_commit=off), persistence and visibility'
        : opts.db === 'file'
          ? 'SQLite file in a temp dir, journal_mode=WAL, synchronous=OFF'
          : 'in-memory SQLite, synchronous=OFF',
    ...(env.quell.worker ? { worker: describeWorkerTuning(env.quell.worker) } : {}),
    machine: await machine(env.temporalVersion),
    errors: {},
  };
  say(
    `Machine: ${results.machine.cores} cores, ${results.machine.model}, ${(results.machine.memoryBytes / 2 ** 30).toFixed(1)} GiB; ` +
      `Temporal ${env.quell.temporal.address} (${env.temporal === 'postgres' ? `on PostgreSQL; server and database pids ${(await env.serverPids()).join(' ')}` : `pid ${env.temporalServerPid ?? '?'}`}); API ${env.apiUrl}; lab ${env.lab.url}; ` +
      `${env.workflowThreadIds.size} SDK workflow thread(s)`,
  );
  const resultsDir = path.join(BENCH_DIR, 'results');
  // After every benchmark, so a later failure (or a crash while stopping) never loses the figures so far.
  const save = async () => {
    try {
      return await writeResults(resultsDir, results);
    } catch (err) {
      say(`could not write the results: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
  };
  const attempt = async (name: BenchName, fn: () => Promise<void>) => {
    if (!opts.only.includes(name)) return;
    say(`== ${name} ==`);
    const started = Date.now();
    try {
      await fn();
    } catch (err) {
      results.errors[name] = err instanceof Error ? err.message : String(err);
      say(`${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
    const saved = await save();
    say(
      `== ${name} done in ${((Date.now() - started) / 1000).toFixed(0)} s` +
        (saved ? `; figures so far in ${path.relative(process.cwd(), saved.json)} ==` : ' =='),
    );
  };
  try {
    if (opts.only.includes('latency') || opts.only.includes('throughput'))
      await warmUp(env, opts.only.includes('throughput'));
    await attempt('latency', async () => {
      const steady = await runSteadyRounds(env, {
        n: size.latencyN,
        perSecond: size.steadyPerSecond,
        rounds: size.steadyRounds,
        warmup: size.steadyWarmup,
      });
      const burst = await burstSeries(env, 'burst', size.latencyN, { variants: false });
      results.latency = { steady, burst };
    });
    await attempt('throughput', async () => {
      try {
        results.throughput = await burstSeries(env, 'tput', size.throughputN, { variants: true });
      } finally {
        await env.stopFloorConnectors();
      }
    });
    await attempt('ingest', async () => {
      results.ingest = await runIngest(env, {
        seconds: size.ingestSeconds,
        warmupSeconds: size.ingestWarmup,
        connections: size.connections,
      });
    });
    await attempt('replay', async () => {
      results.replay = await runReplay(env, {
        passes: size.replayPasses,
        typicalReplays: size.typicalReplays,
      });
    });
    await attempt('memory', async () => {
      results.memory = await runMemory(env, { incidents: size.memoryN });
    });
    await attempt('storm', async () => {
      results.storm = await runStorm(env, {
        ...size.storm,
        duplicateShare: 0.3,
        batchSize: 200,
        inFlight: 4,
      });
    });
  } finally {
    say('Stopping the API, the workers, the lab and Temporal...');
    await env.stop().catch((err: unknown) => {
      results.errors.shutdown = err instanceof Error ? err.message : String(err);
      say(`stopping failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    });
  }
  results.finishedAt = new Date().toISOString();
  const files = await save();
  process.stdout.write(`\n${markdown(results)}\n`);
  if (files)
    say(`Results: ${path.relative(process.cwd(), files.json)} and ${path.relative(process.cwd(), files.md)}`);
  return Object.keys(results.errors).length || !files ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
