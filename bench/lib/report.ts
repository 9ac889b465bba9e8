/** The run's results as JSON and as Markdown tables. */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FLOOR_NAMES, type RunFigures } from '../benchmarks/containment';
import { INGEST_FLOOR_OF, type IngestFigures } from '../benchmarks/ingest';
import type { MemoryFigures } from '../benchmarks/memory';
import type { ReplayFigures } from '../benchmarks/replay';
import { stormMarkdown, type StormFigures } from '../benchmarks/storm';
import type { SteadyFigures } from '../benchmarks/steady';
import { cpuPerIncident, goalRows, type GoalRow } from './goals';
import { mib, ms, num, ratio } from './stats';

export interface Machine {
  cores: number;
  model: string;
  memoryBytes: number;
  os: string;
  node: string;
  temporal: string;
}

export interface BenchResults {
  startedAt: string;
  finishedAt?: string;
  mode: 'full' | 'quick';
  /** Which Temporal the run used: the embedded dev server, or Temporal Server on PostgreSQL. */
  temporal?: 'dev' | 'postgres';
  temporalDb: string;
  /** The worker settings Quell and the floors ran with (QUELL_WORKER_* or the SDK's defaults). */
  worker?: string;
  machine: Machine;
  /** Issue 14's goals, each Quell / floor from this run (derived from the figures below when written). */
  goals?: GoalRow[];
  latency?: {
    /** `rounds`: each round's figures; `quell` and `floor` pool the rounds, latency the median of theirs. */
    steady: SteadyFigures;
    burst: { quell: RunFigures; floor: RunFigures };
  };
  /**
   * `floor` is the bare floor (the goals' floor); `floorConnectors` and `floorInvestigation` add Quell's work
   * back to it (bench/floor/workflows.ts), run right after it under the same burst.
   */
  throughput?: {
    quell: RunFigures;
    floor: RunFigures;
    floorConnectors?: RunFigures;
    floorInvestigation?: RunFigures;
  };
  ingest?: IngestFigures[];
  replay?: ReplayFigures;
  memory?: MemoryFigures;
  storm?: StormFigures;
  errors: Record<string, string>;
}

export async function machine(temporal: string): Promise<Machine> {
  const cpuinfo = await fs.readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  return {
    cores: os.cpus().length,
    model,
    memoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    temporal,
  };
}

function table(head: string[], rows: string[][]): string {
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

function latencyRows(name: string, q: RunFigures, f: RunFigures): string[][] {
  return (['p50', 'p95', 'p99'] as const).map((p) => [
    `${name}, ${p}`,
    ms(q.latency[p]),
    ms(f.latency[p]),
    ratio(q.latency[p], f.latency[p]),
  ]);
}

const pct = (v: number | undefined) =>
  v === undefined || !Number.isFinite(v) ? 'n/a' : `${Math.round(v * 100)}%`;

function goalValue(unit: GoalRow['unit'], v: number | undefined): string {
  if (v === undefined) return '-';
  switch (unit) {
    case 'ms':
      return ms(v);
    case 'ms CPU':
      return `${num(v, 2)} ms`;
    case 'events':
      return num(v, 0);
    case 'req/s':
      return num(v, 0);
    case 'KiB':
      return `${num(v, 0)} KiB`;
    case 's':
      return `${num(v, 1)} s`;
    default:
      return num(v, 1);
  }
}

/** "95% (others 0.4)": the machine's busy share and other processes' cores. */
function load(busy: number | undefined, othersCores: number | undefined): string {
  return othersCores === undefined || !Number.isFinite(othersCores)
    ? pct(busy)
    : `${pct(busy)} (others ${othersCores.toFixed(1)})`;
}

function goalsTable(rows: GoalRow[]): string {
  return table(
    [
      'Measure',
      'Quell',
      'Floor',
      'Quell/floor',
      'Goal',
      'Met',
      'Machine busy, others in cores (Quell / floor)',
    ],
    rows.map((g) => [
      g.measure,
      goalValue(g.unit, g.quell),
      goalValue(g.unit, g.floor),
      g.ratio === undefined || !Number.isFinite(g.ratio) ? '-' : `${g.ratio.toFixed(2)}x`,
      g.goal,
      g.met === undefined ? '-' : g.met ? 'yes' : 'no',
      load(g.machineBusy.quell, g.othersCores.quell) +
        (g.machineBusy.floor === undefined ? '' : ` / ${load(g.machineBusy.floor, g.othersCores.floor)}`),
    ]),
  );
}

function checks(r: RunFigures): string {
  return (
    `${r.incidents - r.lost}/${r.incidents} contained, ${r.distinctIncidents} incidents, ` +
    `${r.lost} lost, ${r.retries} retries, ${r.repeatedIsolations} repeated isolations`
  );
}

/**
 * "Where the gap goes": the bare floor, the floors that add Quell's work back, and Quell, under one burst each,
 * so the gap between the bare floor and Quell splits into the work itself and Quell's own overhead.
 */
function gapSection(t: NonNullable<BenchResults['throughput']>): string {
  const bare = t.floor;
  const rows = (
    [
      ['bare floor', bare],
      ['+ connectors', t.floorConnectors],
      ['+ investigation and upserts', t.floorInvestigation],
      ['Quell', t.quell],
    ] as const
  ).flatMap(([name, f]) => {
    if (!f) return [];
    const c = f.cpu;
    const per = (v: number) => num(v / f.incidents, 2);
    return [
      [
        name,
        num(f.containedPerSecond),
        ratio(f.containedPerSecond, bare.containedPerSecond),
        num(cpuPerIncident(f), 2),
        ratio(cpuPerIncident(f), cpuPerIncident(bare)),
        per(c.mainThreadMs),
        per(c.workflowThreadsMs),
        per(c.sdkCoreMs),
        per(c.otherThreadsMs),
        per(c.temporalServerMs),
        String(f.historyEvents),
        `${pct(c.machineBusy)} (others ${num(c.otherProcessesMs / c.wallMs, 1)})`,
      ],
    ];
  });
  return [
    `### Where the gap goes (burst of ${t.quell.incidents})`,
    '',
    "Each floor adds a step of Quell's work to the bare one, without Quell's workflow code or activities " +
      "layer: + connectors isolates and notifies through Quell's CrowdStrike and Slack connectors (contained " +
      'when the lab applies the containment, as for Quell); + investigation and upserts also snapshots the ' +
      "host's logs into the evidence store, upserts Quell's search attributes where Quell does, takes a patch " +
      'marker, and parks. CPU per incident in ms (all processes but the lab, until completed or parked); ' +
      'history events per incident once completed or parked.',
    '',
    table(
      [
        'Run',
        'contained/s',
        'vs bare floor',
        'CPU total',
        'CPU vs bare floor',
        'main thread',
        'workflow',
        'SDK core',
        'other threads',
        'Temporal server',
        'history events',
        'machine busy (others, cores)',
      ],
      rows,
    ),
    '',
  ].join('\n');
}

export function markdown(r: BenchResults): string {
  const m = r.machine;
  const out: string[] = [
    `Run ${r.startedAt} (${r.mode}), ${m.cores} cores ${m.model}, ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB RAM, ` +
      `${m.os}, Node ${m.node}, ${m.temporal}; Temporal: ` +
      `${r.temporal === 'postgres' ? 'one Temporal Server on' : 'one embedded dev server,'} ${r.temporalDb}.` +
      (r.worker ? ` Workers: ${r.worker}.` : ''),
    ...(r.finishedAt ? [] : ['', '**Partial**: the benchmarks finished so far; the run had not finished.']),
    '',
  ];
  const goals = r.goals ?? goalRows(r);
  if (goals.length)
    out.push(
      '### Goals (issue 14: Quell / floor, same run)',
      '',
      goalsTable(goals),
      '',
      'Machine busy: the share of both cores busy while each figure was measured, whoever used them; others: ' +
        'the CPU of processes that are not this run (not the bench process, the Temporal server or the memory ' +
        'worker), in cores. A ratio measured while others took a large part of the two cores says little.',
      '',
      ...(r.throughput?.floorConnectors || r.throughput?.floorInvestigation
        ? [
            'The goals are against the bare floor; "Where the gap goes" below splits the throughput gap into ' +
              "the work Quell does (floors that do it too) and Quell's own overhead.",
            '',
          ]
        : []),
    );
  if (r.latency || r.throughput) {
    const rows: string[][] = [];
    if (r.latency) {
      const s = r.latency.steady;
      const b = r.latency.burst;
      rows.push(
        ...latencyRows(
          `Alert -> containment, ${s.quell.arrival}, median of ${s.rounds?.length ?? 1} rounds, n=${s.quell.incidents}`,
          s.quell,
          s.floor,
        ),
      );
      rows.push(...latencyRows(`Alert -> containment, burst, n=${b.quell.incidents}`, b.quell, b.floor));
    }
    if (r.throughput) {
      const t = r.throughput;
      rows.push([
        `Throughput, burst of ${t.quell.incidents}: contained/s`,
        num(t.quell.containedPerSecond),
        num(t.floor.containedPerSecond),
        ratio(t.quell.containedPerSecond, t.floor.containedPerSecond),
      ]);
      rows.push([
        `Throughput, burst of ${t.quell.incidents}: first alert -> last containment`,
        `${num(t.quell.wallSeconds)} s`,
        `${num(t.floor.wallSeconds)} s`,
        ratio(t.quell.wallSeconds, t.floor.wallSeconds),
      ]);
    }
    out.push(
      '### Containment (Quell vs the floor)',
      '',
      table(['Measure', 'Quell', 'Floor', 'Quell/floor'], rows),
      '',
    );
    const rounds = r.latency?.steady.rounds;
    if (rounds?.length)
      out.push(
        `Steady rounds (${r.latency!.steady.quell.arrival}, each after an untimed warm-up; the figures above are the median of these):`,
        '',
        table(
          [
            'Round',
            'Quell p50',
            'Quell p95',
            'Quell p99',
            'Floor p50',
            'Floor p95',
            'Floor p99',
            'p50 ratio',
            'machine busy (Quell / floor)',
          ],
          rounds.map((x, i) => [
            `${i + 1} (${x.first} first, n=${x.quell.count}/${x.floor.count})`,
            ms(x.quell.p50),
            ms(x.quell.p95),
            ms(x.quell.p99),
            ms(x.floor.p50),
            ms(x.floor.p95),
            ms(x.floor.p99),
            ratio(x.quell.p50, x.floor.p50),
            `${pct(x.quellMachineBusy)} / ${pct(x.floorMachineBusy)}`,
          ]),
        ),
        '',
      );
    const checkRows: string[][] = [];
    const seg: string[][] = [];
    const cpuRows: string[][] = [];
    const cpuRow = (name: string, r: RunFigures) => {
      const c = r.cpu;
      const per = (v: number) => num(v / r.incidents, 2);
      const total =
        c.mainThreadMs + c.workflowThreadsMs + c.sdkCoreMs + c.otherThreadsMs + c.temporalServerMs;
      cpuRows.push([
        `${name}: ${r.system}`,
        per(c.mainThreadMs),
        per(c.workflowThreadsMs),
        per(c.sdkCoreMs),
        per(c.otherThreadsMs),
        per(c.temporalServerMs),
        per(total),
        String(r.historyEvents),
        `${Math.round(c.mainThreadElu * 100)}%`,
        `${Math.round(c.machineBusy * 100)}% (others ${num(c.otherProcessesMs / 1000)} s)`,
      ]);
    };
    const add = (name: string, q: RunFigures, f: RunFigures) => {
      cpuRow(name, q);
      cpuRow(name, f);
      checkRows.push([name, checks(q), checks(f)]);
      for (const [k, v] of Object.entries(q.segments))
        seg.push([`${name}: Quell ${k}`, ms(v.p50), ms(v.p95)]);
      for (const [k, v] of Object.entries(f.segments))
        seg.push([`${name}: floor ${k}`, ms(v.p50), ms(v.p95)]);
    };
    if (r.latency) {
      add(r.latency.steady.quell.arrival, r.latency.steady.quell, r.latency.steady.floor);
      add(`burst ${r.latency.burst.quell.incidents}`, r.latency.burst.quell, r.latency.burst.floor);
    }
    if (r.throughput) {
      const t = r.throughput;
      const name = `burst ${t.quell.incidents}`;
      add(name, t.quell, t.floor);
      for (const v of [t.floorConnectors, t.floorInvestigation]) {
        if (!v) continue;
        cpuRow(name, v);
        checkRows.push([`${name}: ${FLOOR_NAMES[v.system as keyof typeof FLOOR_NAMES]}`, '-', checks(v)]);
        for (const [k, x] of Object.entries(v.segments))
          seg.push([
            `${name}: ${FLOOR_NAMES[v.system as keyof typeof FLOOR_NAMES]} ${k}`,
            ms(x.p50),
            ms(x.p95),
          ]);
      }
    }
    if (r.throughput) out.push(gapSection(r.throughput));
    out.push('Counted (none lost, none doubled):', '', table(['Run', 'Quell', 'Floor'], checkRows), '');
    out.push('Where the time goes (per-incident segments):', '', table(['Segment', 'p50', 'p95'], seg), '');
    out.push(
      'CPU per incident, in ms, from the first alert until every incident is parked (Quell: evidence stored, ' +
        'waiting in eradication) or completed (floor). Main thread: API, activities and bench client (the lab has its own process); ' +
        'workflow: the SDK workflow thread; core: the SDK Rust core; other: GC, compiler and libuv threads.',
      '',
      table(
        [
          'Run',
          'main thread',
          'workflow',
          'SDK core',
          'other threads',
          'Temporal server',
          'total',
          'history events',
          'main-thread ELU',
          'machine busy',
        ],
        cpuRows,
      ),
      '',
    );
  }
  if (r.ingest?.length) {
    const bare = r.ingest[0]!;
    out.push(
      '### Ingest: POST /api/v1/alerts (autocannon)',
      '',
      table(
        [
          'Target',
          'req/s',
          'p50',
          'p99',
          'non-2xx / errors',
          'req/s vs bare',
          'req/s vs its floor',
          'machine busy (others)',
        ],
        r.ingest.map((i) => {
          const floorId = i.id ? INGEST_FLOOR_OF[i.id] : undefined;
          const floor = floorId ? r.ingest!.find((f) => f.id === floorId) : undefined;
          return [
            `${i.target}, ${i.connections} connections, ${i.seconds} s`,
            num(i.requestsPerSecond, 0),
            `${i.p50} ms`,
            `${i.p99} ms`,
            `${i.non2xx} / ${i.errors}`,
            i === bare ? '1.00x' : ratio(i.requestsPerSecond, bare.requestsPerSecond),
            floor ? ratio(i.requestsPerSecond, floor.requestsPerSecond) : '-',
            i.machineBusy === undefined ? 'n/a' : `${pct(i.machineBusy)} (${num(i.othersSeconds)} s)`,
          ];
        }),
      ),
      '',
    );
  }
  if (r.replay) {
    const p = r.replay;
    // Results recorded before replays used processes carry no jobs: they had one in-process replay worker.
    const processes = (jobs: number | undefined) =>
      jobs === undefined || jobs === 1 ? 'one replay worker' : `${jobs} replay processes`;
    out.push(
      '### Replay (test/histories, current workflow code)',
      '',
      table(
        ['Histories', 'Events', 'Passed / failed', 'Seconds', 'Histories/s', 'Events/s'],
        [
          [
            `${p.histories} (${p.files} files x ${p.passes}, ${processes(p.jobs)})`,
            num(p.events, 0),
            `${p.passed} / ${p.failed}`,
            num(p.seconds, 2),
            num(p.historiesPerSecond),
            num(p.eventsPerSecond, 0),
          ],
        ],
      ),
      '',
    );
    if (p.typical) {
      const t = p.typical;
      out.push(
        `Typical history: ${t.file}, ${t.events} events, the median length of the ${t.of} current recordings ` +
          `(not legacy/); ${t.passed}/${t.replays} replayed in ${num(t.seconds, 2)} s across ${processes(t.jobs)} ` +
          `(start included), so 1,000 take ${num(t.projectedSecondsPer1000, 1)} s` +
          `${t.replays === 1000 ? '' : ' (projected)'}; machine busy ${pct(t.machineBusy)} (others ${num(t.othersSeconds)} s` +
          `${t.replayProcessesSeconds ? `, replay processes ${num(t.replayProcessesSeconds)} s` : ''}).`,
        '',
      );
    }
    if (p.failures.length) out.push('Replay failures:', '', ...p.failures.map((f) => `- ${f}`), '');
  }
  if (r.memory) {
    const mm = r.memory;
    out.push(
      '### Worker memory (separate process, VmRSS)',
      '',
      table(
        [
          'Worker',
          'Open, waiting',
          'RSS idle',
          'RSS after',
          'Per incident',
          'Peak (VmHWM)',
          'machine busy (others)',
        ],
        [
          [
            'Quell worker, incidents waiting on approval',
            `${mm.waitingOnApproval}/${mm.incidents} (opened in ${num(mm.openSeconds)} s)`,
            mib(mm.rssBeforeBytes),
            mib(mm.rssAfterBytes),
            `${num(mm.perIncidentBytes / 1024, 0)} KiB`,
            mib(mm.peakBytes),
            mm.machineBusy === undefined
              ? 'n/a'
              : `${pct(mm.machineBusy)} (${num(mm.othersSeconds ?? NaN)} s)`,
          ],
          ...(mm.floor
            ? [
                [
                  'floor: bare worker, workflows waiting on an update',
                  `${mm.floor.waitingOnUpdate}/${mm.floor.workflows} (opened in ${num(mm.floor.openSeconds)} s)`,
                  mib(mm.floor.rssBeforeBytes),
                  mib(mm.floor.rssAfterBytes),
                  `${num(mm.floor.perWorkflowBytes / 1024, 0)} KiB`,
                  mib(mm.floor.peakBytes),
                  `${pct(mm.floor.machineBusy)} (${num(mm.floor.othersSeconds)} s)`,
                ],
              ]
            : []),
        ],
      ),
      '',
      ...(mm.floor
        ? [`Per incident vs the floor: ${ratio(mm.perIncidentBytes, mm.floor.perWorkflowBytes)}.`, '']
        : []),
      ...(mm.floorError ? [`The floor failed: ${mm.floorError}`, ''] : []),
    );
  }
  if (r.storm) out.push(stormMarkdown(r.storm));
  const errors = Object.entries(r.errors);
  if (errors.length)
    out.push('### Benchmarks that failed', '', ...errors.map(([k, v]) => `- ${k}: ${v}`), '');
  return out.join('\n');
}

/** Replaces `file` whole (write, then rename), so a run that dies mid-write leaves the previous version. */
async function replaceFile(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, text);
  await fs.rename(tmp, file);
}

/**
 * Writes the run's figures so far (called after every benchmark, and once more at the end) as
 * `bench-<startedAt>.json|md`, and the same as `latest.json|md`.
 */
export async function writeResults(dir: string, r: BenchResults): Promise<{ json: string; md: string }> {
  await fs.mkdir(dir, { recursive: true });
  const stamp = r.startedAt.replace(/[:.]/g, '-');
  const json = path.join(dir, `bench-${stamp}.json`);
  const md = path.join(dir, `bench-${stamp}.md`);
  const withGoals: BenchResults = { ...r, goals: goalRows(r) };
  const jsonText = JSON.stringify(withGoals, null, 2) + '\n';
  const mdText = markdown(withGoals) + '\n';
  await replaceFile(json, jsonText);
  await replaceFile(md, mdText);
  await replaceFile(path.join(dir, 'latest.json'), jsonText);
  await replaceFile(path.join(dir, 'latest.md'), mdText);
  return { json, md };
}
