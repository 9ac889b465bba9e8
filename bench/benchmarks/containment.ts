/**
 * Alert-to-containment latency (steady arrivals and a burst) and containment throughput, for Quell and for
 * the floor, on the same server in the same run.
 *
 * Quell: the clock starts just before `POST /api/v1/alerts` is written to the socket and stops when the lab
 * store applies the host's containment (an in-process hook on `LabStore.setContainment`, the call every EDR
 * route makes; the ledger's `at` would give the same moment to the millisecond). Floor: the clock starts just
 * before the bare client's update-with-start and stops when the floor's no-op isolate activity runs. The
 * connector floors start the clock as the floor does and stop it as Quell does, at the lab's containment.
 */
import http from 'node:http';
import { WithStartWorkflowOperation } from '@temporalio/client';
import {
  floorAlertUpdate,
  FLOOR_CONNECTORS_WORKFLOW_TYPE,
  FLOOR_INVESTIGATION_WORKFLOW_TYPE,
  FLOOR_WORKFLOW_TYPE,
} from '../floor/contract';
import type { Marks } from '../lib/marks';
import { cpuBetween, cpuSnapshot, type CpuBreakdown } from '../lib/cpu';
import type { BenchEnv } from '../lib/env';
import { historyTimings, type HistoryTimings } from '../lib/histories';
import { deliver } from '../lib/http';
import { say, ticker } from '../lib/progress';
import { sleep, summarize, type Summary } from '../lib/stats';

export type Arrival = { kind: 'steady'; perSecond: number } | { kind: 'burst' };

const EFFECT_TIMEOUT_MS = 300_000;
/** Histories read per figure for the server-side segments. */
const HISTORY_SAMPLE = 40;

export interface QuellSample {
  host: string;
  t0: number;
  status: number;
  attempts: number;
  incidentId?: string;
  workflowId?: string;
  answeredAt: number;
  isolateCalledAt?: number;
  containedAt?: number;
}

export interface FloorSample {
  host: string;
  t0: number;
  attempts: number;
  updatedAt?: number;
  deduplicated?: boolean;
  /** Bare floor: its notify activity ran; connector floors: the notice was delivered. */
  notifyAt?: number;
  /** Bare floor: its isolate activity ran; connector floors: the isolate activity reached the connector. */
  isolateAt?: number;
  /** Contained: bare floor, its isolate activity ran; connector floors, the lab applied the containment. */
  containedAt?: number;
}

/**
 * The bare floor, and the floors that add Quell's work back a step at a time: `floorConnectors` its vendor
 * calls through Quell's connectors, `floorInvestigation` those plus the investigation (log snapshot into the
 * evidence store), the search-attribute upserts and a patch marker.
 */
export type FloorKind = 'floor' | 'floorConnectors' | 'floorInvestigation';

export interface RunFigures {
  system: 'quell' | FloorKind;
  arrival: string;
  incidents: number;
  /** Alert to containment (ms). Steady arrivals in rounds: p50/p95/p99 are the median of the rounds'. */
  latency: Summary;
  /** Steady arrivals in rounds: alert to containment over all rounds' incidents together. */
  latencyPooled?: Summary;
  /** Alerts whose containment never happened within the timeout. */
  lost: number;
  /** Extra deliveries: HTTP retries (Quell) or client retries (floor). */
  retries: number;
  /** Targets whose isolation ran more than once (activity retries; Quell: connector calls, floor: activity runs). */
  repeatedIsolations: number;
  /** Distinct incidents (Quell receipts) or workflows (floor) the alerts landed in. */
  distinctIncidents: number;
  /** From the first alert to the last containment. */
  wallSeconds: number;
  /** Incidents contained per second over the whole run (meaningful for bursts). */
  containedPerSecond: number;
  /** From the first alert to the last answer (HTTP 202, or the update's result for the floor). */
  answeredSeconds: number;
  /** Where the time goes, p50 / p95 (ms) of each segment. */
  segments: Record<string, { p50: number; p95: number }>;
  /**
   * CPU spent from the first alert until every incident is parked (Quell: evidence stored, waiting in
   * eradication) or completed (floor).
   */
  cpu: CpuBreakdown;
  /** History events per incident (p50 of a sample) once parked or completed. */
  historyEvents: number;
}

function scheduleArrivals(n: number, arrival: Arrival, launch: (i: number) => void): Promise<void> {
  if (arrival.kind === 'burst') {
    for (let i = 0; i < n; i++) launch(i);
    return Promise.resolve();
  }
  const interval = 1000 / arrival.perSecond;
  const start = performance.now();
  return (async () => {
    for (let i = 0; i < n; i++) {
      const wait = start + i * interval - performance.now();
      if (wait > 0) await sleep(wait);
      launch(i);
    }
  })();
}

const arrivalName = (a: Arrival) => (a.kind === 'burst' ? 'burst' : `steady ${a.perSecond}/s`);

function segment(values: (number | undefined)[]): { p50: number; p95: number } {
  const s = summarize(values.filter((v): v is number => v !== undefined));
  return { p50: s.p50, p95: s.p95 };
}

function hostsFor(env: BenchEnv, label: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `ws-${env.tag}-${label}-${i}`);
}

export interface QuellBlock {
  samples: QuellSample[];
  hosts: string[];
  cpu: CpuBreakdown;
}

export interface FloorBlock {
  kind: FloorKind;
  samples: FloorSample[];
  hosts: string[];
  cpu: CpuBreakdown;
}

/** How each floor is started, when it counts as contained, and when it is done (completed or parked). */
interface FloorSpec {
  workflowType: string;
  workflowIdPrefix: string;
  taskQueue(env: BenchEnv): string;
  /** The activity whose queueing the server-side segments time. */
  isolateActivity: string;
  contained(env: BenchEnv): Marks;
  /** The isolate activity's moment (the containment itself for the bare floor). */
  isolated(env: BenchEnv): Marks;
  notified(env: BenchEnv): Marks;
  /** Whether the marks above are keyed by host or by workflow ID. */
  notifiedBy: 'host' | 'workflowId';
  /** Waits, after every containment, until each workflow of the block has completed or parked. */
  done(env: BenchEnv, hosts: string[], workflowIds: string[]): Promise<void>;
}

const FLOOR_SPECS: Record<FloorKind, FloorSpec> = {
  floor: {
    workflowType: FLOOR_WORKFLOW_TYPE,
    workflowIdPrefix: 'bench-floor-',
    taskQueue: (env) => env.floorTaskQueue,
    isolateActivity: 'isolate',
    contained: (env) => env.probes.floorIsolate,
    isolated: (env) => env.probes.floorIsolate,
    notified: (env) => env.probes.floorNotify,
    notifiedBy: 'host',
    done: () => sleep(1_000), // the floor's workflows complete right after their activities
  },
  floorConnectors: {
    workflowType: FLOOR_CONNECTORS_WORKFLOW_TYPE,
    workflowIdPrefix: 'bench-floorconn-',
    taskQueue: (env) => env.floorConnectorsTaskQueue,
    isolateActivity: 'isolateHost',
    contained: (env) => env.probes.contained,
    isolated: (env) => env.probes.isolateCalled,
    notified: (env) => env.probes.floorNoticeSent,
    notifiedBy: 'workflowId',
    // They complete right after both activities, as the bare floor's do; the notice may end after the isolation.
    done: async (env, _hosts, ids) => {
      await settle(
        'floor + connectors: notices delivered',
        () => ids.filter((id) => env.probes.floorNoticeSent.get(id) !== undefined).length,
        ids.length,
      );
      await sleep(500); // with settle's own half second, the bare floor's second
    },
  },
  floorInvestigation: {
    workflowType: FLOOR_INVESTIGATION_WORKFLOW_TYPE,
    workflowIdPrefix: 'bench-floorinv-',
    taskQueue: (env) => env.floorConnectorsTaskQueue,
    isolateActivity: 'isolateHost',
    contained: (env) => env.probes.contained,
    isolated: (env) => env.probes.isolateCalled,
    notified: (env) => env.probes.floorNoticeSent,
    notifiedBy: 'workflowId',
    // Parked once its evidence is stored, as Quell's incidents are counted.
    done: (env, hosts) =>
      settle(
        'floor + investigation: evidence collected, parked',
        () => hosts.filter((h) => env.probes.evidenceStored.get(h) !== undefined).length,
        hosts.length,
      ),
  },
};

/** What the reports call each floor. */
export const FLOOR_NAMES: Record<FloorKind, string> = {
  floor: 'bare floor',
  floorConnectors: 'floor + connectors',
  floorInvestigation: 'floor + connectors + investigation and upserts',
};

/** Quell through its HTTP API: one alert per host, each a new incident. */
export async function runQuellBlock(
  env: BenchEnv,
  opts: { label: string; n: number; arrival: Arrival },
): Promise<QuellBlock> {
  const hosts = hostsFor(env, opts.label, opts.n);
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const url = `${env.apiUrl}/api/v1/alerts`;
  const headers = { authorization: `Bearer ${env.ingestToken}` };
  const samples: QuellSample[] = [];
  let posted = 0;
  let answered = 0;
  const p = env.probes;
  const progress = ticker(
    `quell ${opts.label} (${arrivalName(opts.arrival)})`,
    () =>
      `${posted}/${opts.n} posted, ${answered} answered, ${hosts.filter((h) => p.contained.get(h) !== undefined).length} contained`,
  );
  const pending: Promise<void>[] = [];
  const cpuBefore = await cpuSnapshot(await env.serverPids(), env.lab.pid);
  await scheduleArrivals(opts.n, opts.arrival, (i) => {
    const host = hosts[i]!;
    const body = JSON.stringify({
      source: 'bench-siem',
      id: `${host}-alert-1`,
      title: `Bench: ransomware behaviour on ${host}`,
      rule: 'bench.contain',
      type: 'ransomware',
      severity: 'critical',
      hosts: [host],
    });
    posted++;
    pending.push(
      (async () => {
        const t0 = performance.now();
        const contained = p.contained.wait(host, EFFECT_TIMEOUT_MS);
        const d = await deliver(url, body, headers, agent);
        answered++;
        let receipt: { incidentId?: string; workflowId?: string } = {};
        try {
          receipt = JSON.parse(d.body) as typeof receipt;
        } catch {
          // not a receipt
        }
        const { incidentId, workflowId } = receipt;
        const containedAt = d.status === 202 ? await contained : undefined;
        samples.push({
          host,
          t0,
          status: d.status,
          attempts: d.attempts,
          ...(incidentId ? { incidentId } : {}),
          ...(workflowId ? { workflowId } : {}),
          answeredAt: d.answeredAt,
          ...(p.isolateCalled.get(host) !== undefined ? { isolateCalledAt: p.isolateCalled.get(host)! } : {}),
          ...(containedAt !== undefined ? { containedAt } : {}),
        });
      })(),
    );
  });
  await Promise.all(pending);
  progress.stop();
  agent.destroy();
  await settle(
    'quell: evidence collected, incidents parked in eradication',
    () => hosts.filter((h) => p.evidenceStored.get(h) !== undefined).length,
    hosts.length,
  );
  const cpu = cpuBetween(
    cpuBefore,
    await cpuSnapshot(await env.serverPids(), env.lab.pid),
    env.workflowThreadIds,
  );
  const statusCounts = countBy(samples.map((s) => String(s.status)));
  if (Object.keys(statusCounts).some((s) => s !== '202'))
    say(`  quell answers by status: ${JSON.stringify(statusCounts)}`);
  return { samples, hosts, cpu };
}

/** Figures over one or more blocks of the same arrival pattern. */
export async function quellFigures(
  env: BenchEnv,
  blocks: QuellBlock[],
  arrival: Arrival,
): Promise<RunFigures> {
  const p = env.probes;
  const samples = blocks.flatMap((b) => b.samples);
  const hosts = blocks.flatMap((b) => b.hosts);
  const server = await historyTimings(
    env.client,
    blocks.flatMap((b) =>
      b.samples
        .map((s) => s.workflowId)
        .filter((id): id is string => id !== undefined)
        .slice(0, Math.ceil(HISTORY_SAMPLE / blocks.length)),
    ),
    'isolateHost',
  );
  const contained = samples.filter((s) => s.containedAt !== undefined);
  let wall = 0;
  let answered = 0;
  for (const b of blocks) {
    const t0 = Math.min(...b.samples.map((s) => s.t0));
    wall += (Math.max(...b.samples.map((s) => s.containedAt ?? t0)) - t0) / 1000;
    answered += (Math.max(...b.samples.map((s) => s.answeredAt)) - t0) / 1000;
  }
  return {
    system: 'quell',
    arrival: arrivalName(arrival),
    incidents: samples.length,
    latency: summarize(contained.map((s) => s.containedAt! - s.t0)),
    lost: samples.length - contained.length,
    retries: samples.reduce((a, s) => a + s.attempts - 1, 0),
    repeatedIsolations: hosts.filter((h) => p.isolateCalled.count(h) > 1 || p.contained.count(h) > 1).length,
    distinctIncidents: new Set(samples.map((s) => s.incidentId).filter(Boolean)).size,
    wallSeconds: wall,
    containedPerSecond: contained.length / wall,
    answeredSeconds: answered,
    segments: {
      'alert -> HTTP 202': segment(samples.map((s) => s.answeredAt - s.t0)),
      'alert -> isolate activity at connector': segment(
        samples.map((s) => (s.isolateCalledAt !== undefined ? s.isolateCalledAt - s.t0 : undefined)),
      ),
      'connector -> lab effect': segment(
        samples.map((s) =>
          s.isolateCalledAt !== undefined && s.containedAt !== undefined
            ? s.containedAt - s.isolateCalledAt
            : undefined,
        ),
      ),
      ...serverSegments(server),
    },
    cpu: sumCpu(blocks.map((b) => b.cpu)),
    historyEvents: server.events,
  };
}

/**
 * A floor (the bare one unless `kind` says which): a bare client's update-with-start against its workflow, one
 * per host.
 */
export async function runFloorBlock(
  env: BenchEnv,
  opts: { label: string; n: number; arrival: Arrival; kind?: FloorKind },
): Promise<FloorBlock> {
  const kind = opts.kind ?? 'floor';
  const spec = FLOOR_SPECS[kind];
  const hosts = hostsFor(env, opts.label, opts.n);
  const samples: FloorSample[] = [];
  const contained = spec.contained(env);
  const isolated = spec.isolated(env);
  const notified = spec.notified(env);
  let started = 0;
  let updated = 0;
  const progress = ticker(
    `${FLOOR_NAMES[kind]} ${opts.label} (${arrivalName(opts.arrival)})`,
    () =>
      `${started}/${opts.n} started, ${updated} updated, ${hosts.filter((h) => contained.get(h) !== undefined).length} contained`,
  );
  const pending: Promise<void>[] = [];
  const cpuBefore = await cpuSnapshot(await env.serverPids(), env.lab.pid);
  await scheduleArrivals(opts.n, opts.arrival, (i) => {
    const host = hosts[i]!;
    started++;
    pending.push(
      (async () => {
        const workflowId = `${spec.workflowIdPrefix}${host}`;
        const t0 = performance.now();
        const containment = contained.wait(host, EFFECT_TIMEOUT_MS);
        let attempts = 0;
        let receipt: { deduplicated: boolean } | undefined;
        for (const deadline = Date.now() + 180_000; !receipt && Date.now() < deadline;) {
          attempts++;
          try {
            receipt = await env.client.workflow.executeUpdateWithStart(floorAlertUpdate, {
              args: [{ alertId: `${host}-alert-1`, host }],
              startWorkflowOperation: new WithStartWorkflowOperation<(host: string) => Promise<number>>(
                spec.workflowType,
                {
                  workflowId,
                  taskQueue: spec.taskQueue(env),
                  args: [host],
                  workflowIdConflictPolicy: 'USE_EXISTING',
                },
              ),
            });
          } catch {
            await sleep(Math.min(1_000, 20 * 2 ** Math.min(attempts, 6)) * (0.5 + Math.random()));
          }
        }
        const updatedAt = performance.now();
        updated++;
        const containedAt = receipt ? await containment : undefined;
        const notifyAt = notified.get(spec.notifiedBy === 'host' ? host : workflowId);
        const isolateAt = isolated.get(host);
        samples.push({
          host,
          t0,
          attempts,
          ...(receipt ? { updatedAt, deduplicated: receipt.deduplicated } : {}),
          ...(notifyAt !== undefined ? { notifyAt } : {}),
          ...(isolateAt !== undefined ? { isolateAt } : {}),
          ...(containedAt !== undefined ? { containedAt } : {}),
        });
      })(),
    );
  });
  await Promise.all(pending);
  progress.stop();
  await spec.done(
    env,
    hosts,
    hosts.map((h) => `${spec.workflowIdPrefix}${h}`),
  );
  const cpu = cpuBetween(
    cpuBefore,
    await cpuSnapshot(await env.serverPids(), env.lab.pid),
    env.workflowThreadIds,
  );
  return { kind, samples, hosts, cpu };
}

export async function floorFigures(
  env: BenchEnv,
  blocks: FloorBlock[],
  arrival: Arrival,
): Promise<RunFigures> {
  const kind = blocks[0]?.kind ?? 'floor';
  if (blocks.some((b) => b.kind !== kind)) throw new Error('floorFigures: blocks of different floors');
  const spec = FLOOR_SPECS[kind];
  const samples = blocks.flatMap((b) => b.samples);
  const hosts = blocks.flatMap((b) => b.hosts);
  const server = await historyTimings(
    env.client,
    blocks.flatMap((b) =>
      b.samples
        .filter((s) => s.updatedAt !== undefined)
        .map((s) => `${spec.workflowIdPrefix}${s.host}`)
        .slice(0, Math.ceil(HISTORY_SAMPLE / blocks.length)),
    ),
    spec.isolateActivity,
  );
  const contained = samples.filter((s) => s.containedAt !== undefined);
  let wall = 0;
  let answered = 0;
  for (const b of blocks) {
    const t0 = Math.min(...b.samples.map((s) => s.t0));
    wall += (Math.max(...b.samples.map((s) => s.containedAt ?? t0)) - t0) / 1000;
    answered += (Math.max(...b.samples.map((s) => s.updatedAt ?? t0)) - t0) / 1000;
  }
  const since = (at: (s: FloorSample) => number | undefined) =>
    segment(samples.map((s) => (at(s) !== undefined ? at(s)! - s.t0 : undefined)));
  const isolated = spec.isolated(env);
  return {
    system: kind,
    arrival: arrivalName(arrival),
    incidents: samples.length,
    latency: summarize(contained.map((s) => s.containedAt! - s.t0)),
    lost: samples.length - contained.length,
    retries: samples.reduce((a, s) => a + s.attempts - 1, 0),
    repeatedIsolations: hosts.filter((h) => isolated.count(h) > 1 || spec.contained(env).count(h) > 1).length,
    distinctIncidents: samples.filter((s) => s.updatedAt !== undefined && !s.deduplicated).length,
    wallSeconds: wall,
    containedPerSecond: contained.length / wall,
    answeredSeconds: answered,
    segments: {
      'alert -> update result': since((s) => s.updatedAt),
      ...(kind === 'floor'
        ? {
            'alert -> isolate activity': since((s) => s.isolateAt),
            'alert -> notify activity': since((s) => s.notifyAt),
          }
        : {
            'alert -> isolate activity at connector': since((s) => s.isolateAt),
            'connector -> lab effect': segment(
              samples.map((s) =>
                s.isolateAt !== undefined && s.containedAt !== undefined
                  ? s.containedAt - s.isolateAt
                  : undefined,
              ),
            ),
            'alert -> notice delivered': since((s) => s.notifyAt),
          }),
      ...serverSegments(server),
    },
    cpu: sumCpu(blocks.map((b) => b.cpu)),
    historyEvents: server.events,
  };
}

/** CPU of several blocks together (utilisations weighted by each block's wall time). */
function sumCpu(list: CpuBreakdown[]): CpuBreakdown {
  const wall = list.reduce((a, c) => a + c.wallMs, 0) || 1;
  const sum = (f: (c: CpuBreakdown) => number) => list.reduce((a, c) => a + f(c), 0);
  return {
    mainThreadMs: sum((c) => c.mainThreadMs),
    workflowThreadsMs: sum((c) => c.workflowThreadsMs),
    sdkCoreMs: sum((c) => c.sdkCoreMs),
    otherThreadsMs: sum((c) => c.otherThreadsMs),
    temporalServerMs: sum((c) => c.temporalServerMs),
    labMs: sum((c) => c.labMs),
    otherProcessesMs: sum((c) => c.otherProcessesMs),
    wallMs: wall,
    mainThreadElu: sum((c) => c.mainThreadElu * c.wallMs) / wall,
    machineBusy: sum((c) => c.machineBusy * c.wallMs) / wall,
  };
}

function serverSegments(t: HistoryTimings): Record<string, { p50: number; p95: number }> {
  const of = `(history of ${t.sampled})`;
  return {
    [`first workflow task queued ${of}`]: t.firstTaskQueued,
    [`first workflow task on the worker ${of}`]: t.firstTaskOnWorker,
    [`isolate activity queued ${of}`]: t.isolateQueued,
  };
}

async function settle(what: string, done: () => number, total: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (done() < total && Date.now() < deadline) await sleep(100);
  if (done() < total) say(`  ${what}: only ${done()}/${total} after ${timeoutMs / 1000} s; going on`);
  await sleep(500);
}

function countBy(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}
