/**
 * The goals of issue 14, each row Quell against its floor from the same run: the figure, the floor, the
 * ratio, the goal, whether it is met, and how busy the machine was while it was measured (a ratio taken on a
 * machine other people are loading says less).
 */
import type { RunFigures } from '../benchmarks/containment';
import type { IngestFigures, IngestRunId } from '../benchmarks/ingest';
import type { BenchResults } from './report';

export interface GoalRow {
  id:
    | 'burst-contained-per-second'
    | 'burst-p50'
    | 'cpu-per-incident'
    | 'history-events'
    | 'ingest-misses'
    | 'ingest-hits'
    | 'memory-per-waiting'
    | 'replay-1000-typical';
  measure: string;
  unit: 'contained/s' | 'ms' | 'ms CPU' | 'events' | 'req/s' | 'KiB' | 's';
  quell: number;
  /** Absent where there is no floor (replay's goal is an absolute time). */
  floor?: number;
  /** Quell / floor. */
  ratio?: number;
  goal: string;
  /** Absent where the goal has no threshold ("as few as the work needs"). */
  met?: boolean;
  /** Share of all cores busy while Quell's figure, and the floor's, were measured (0..1). */
  machineBusy: { quell?: number; floor?: number };
  /** Other processes' CPU meanwhile, in cores (the part of the load that is not this run's). */
  othersCores: { quell?: number; floor?: number };
}

/** CPU per incident in this process's threads and the Temporal server (others' processes excluded). */
export function cpuPerIncident(r: RunFigures): number {
  const c = r.cpu;
  return (
    (c.mainThreadMs + c.workflowThreadsMs + c.sdkCoreMs + c.otherThreadsMs + c.temporalServerMs) / r.incidents
  );
}

function pairRow(
  id: GoalRow['id'],
  measure: string,
  unit: GoalRow['unit'],
  quell: number,
  floor: number,
  goal: { text: string; at?: (ratio: number) => boolean },
  load: Pick<GoalRow, 'machineBusy' | 'othersCores'>,
): GoalRow {
  const ratio = quell / floor;
  return {
    id,
    measure,
    unit,
    quell,
    floor,
    ratio,
    goal: goal.text,
    ...(goal.at && Number.isFinite(ratio) ? { met: goal.at(ratio) } : {}),
    ...load,
  };
}

export function goalRows(r: BenchResults): GoalRow[] {
  const rows: GoalRow[] = [];
  const busy = (q: RunFigures, f: RunFigures) => ({
    machineBusy: { quell: q.cpu.machineBusy, floor: f.cpu.machineBusy },
    othersCores: {
      quell: q.cpu.otherProcessesMs / q.cpu.wallMs,
      floor: f.cpu.otherProcessesMs / f.cpu.wallMs,
    },
  });
  const t = r.throughput;
  if (t)
    rows.push(
      pairRow(
        'burst-contained-per-second',
        `Burst of ${t.quell.incidents}: contained/s`,
        'contained/s',
        t.quell.containedPerSecond,
        t.floor.containedPerSecond,
        { text: '>= 0.85x floor', at: (x) => x >= 0.85 },
        busy(t.quell, t.floor),
      ),
    );
  const b = r.latency?.burst;
  if (b)
    rows.push(
      pairRow(
        'burst-p50',
        `Burst of ${b.quell.incidents}: p50 alert -> contained`,
        'ms',
        b.quell.latency.p50,
        b.floor.latency.p50,
        { text: '<= 1.3x floor', at: (x) => x <= 1.3 },
        busy(b.quell, b.floor),
      ),
    );
  // The largest burst measured: CPU and history per incident hardly depend on its size.
  const cpuRun = t ?? b;
  if (cpuRun) {
    rows.push(
      pairRow(
        'cpu-per-incident',
        `CPU per incident, all processes (burst of ${cpuRun.quell.incidents})`,
        'ms CPU',
        cpuPerIncident(cpuRun.quell),
        cpuPerIncident(cpuRun.floor),
        { text: '<= 1.4x floor', at: (x) => x <= 1.4 },
        busy(cpuRun.quell, cpuRun.floor),
      ),
      pairRow(
        'history-events',
        `History events per incident to parked (burst of ${cpuRun.quell.incidents})`,
        'events',
        cpuRun.quell.historyEvents,
        cpuRun.floor.historyEvents,
        { text: 'as few as the work needs' },
        busy(cpuRun.quell, cpuRun.floor),
      ),
    );
  }
  const ingest = (id: IngestRunId): IngestFigures | undefined => r.ingest?.find((i) => i.id === id);
  const ingestRow = (id: GoalRow['id'], quellId: IngestRunId, floorId: IngestRunId, measure: string) => {
    const q = ingest(quellId);
    const f = ingest(floorId);
    if (q && f)
      rows.push(
        pairRow(
          id,
          `${measure}, ${q.connections} connections`,
          'req/s',
          q.requestsPerSecond,
          f.requestsPerSecond,
          { text: '>= 0.8x floor', at: (x) => x >= 0.8 },
          {
            machineBusy: { quell: q.machineBusy, floor: f.machineBusy },
            othersCores: { quell: q.othersCores, floor: f.othersCores },
          },
        ),
      );
  };
  ingestRow(
    'ingest-misses',
    'quell-misses',
    'floor-update-with-start',
    'Ingest, new incidents (vs update-with-start)',
  );
  ingestRow('ingest-hits', 'quell-hits', 'floor-update', 'Ingest, dedup hits (vs plain update)');
  const m = r.memory;
  if (m?.floor)
    rows.push(
      pairRow(
        'memory-per-waiting',
        `Worker RSS per incident waiting on approval (${m.incidents} open)`,
        'KiB',
        m.perIncidentBytes / 1024,
        m.floor.perWorkflowBytes / 1024,
        { text: '<= 1.5x floor', at: (x) => x <= 1.5 },
        {
          machineBusy: {
            ...(m.machineBusy !== undefined ? { quell: m.machineBusy } : {}),
            floor: m.floor.machineBusy,
          },
          othersCores: {
            ...(m.othersCores !== undefined ? { quell: m.othersCores } : {}),
            floor: m.floor.othersCores,
          },
        },
      ),
    );
  const typical = r.replay?.typical;
  if (typical)
    rows.push({
      id: 'replay-1000-typical',
      measure:
        `Replay of 1,000 typical histories (${typical.events} events, ` +
        `${typical.replays === 1000 ? 'measured' : `projected from ${typical.replays}`})`,
      unit: 's',
      quell: typical.projectedSecondsPer1000,
      goal: '< 60 s',
      met: typical.projectedSecondsPer1000 < 60,
      machineBusy: { quell: typical.machineBusy },
      othersCores: { quell: typical.othersCores },
    });
  return rows;
}
