/**
 * Alert-to-containment latency (steady arrivals and a burst) and containment throughput, for Quell and for
 * the floor, on the same server in the same run.
 *
 * Quell: the clock starts just before `POST /api/v1/alerts` is written to the socket and stops when the lab
 * store applies the host's containment (an in-process hook on `LabStore.setContainment`, the call every EDR
 * route makes; the ledger's `at` would give the same moment to the millisecond). Floor: the clock starts just
 * before the bare client's update-with-start and stops when the floor's no-op isolate activity runs.
 */
import http from 'node:http';
import { WithStartWorkflowOperation } from '@temporalio/client';
import { floorAlertUpdate, FLOOR_WORKFLOW_TYPE } from '../floor/contract';
import type { floorIncident } from '../floor/workflows';
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
  notifyAt?: number;
  isolateAt?: number;
}

export interface RunFigures {
  system: 'quell' | 'floor';
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
  samples: FloorSample[];
  hosts: string[];
  cpu: CpuBreakdown;
}

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

/** The floor: a bare client's update-with-start against the floor workflow, one per host. */
export async function runFloorBlock(
  env: BenchEnv,
  opts: { label: string; n: number; arrival: Arrival },
): Promise<FloorBlock> {
  const hosts = hostsFor(env, opts.label, opts.n);
  const samples: FloorSample[] = [];
  const p = env.probes;
  let started = 0;
  let updated = 0;
  const progress = ticker(
    `floor ${opts.label} (${arrivalName(opts.arrival)})`,
    () =>
      `${started}/${opts.n} started, ${updated} updated, ${hosts.filter((h) => p.floorIsolate.get(h) !== undefined).length} isolated`,
  );
  const pending: Promise<void>[] = [];
  const cpuBefore = await cpuSnapshot(await env.serverPids(), env.lab.pid);
  await scheduleArrivals(opts.n, opts.arrival, (i) => {
    const host = hosts[i]!;
    started++;
    pending.push(
      (async () => {
        const t0 = performance.now();
        const isolated = p.floorIsolate.wait(host, EFFECT_TIMEOUT_MS);
        let attempts = 0;
        let receipt: { deduplicated: boolean } | undefined;
        for (const deadline = Date.now() + 180_000; !receipt && Date.now() < deadline;) {
          attempts++;
          try {
            receipt = await env.client.workflow.executeUpdateWithStart(floorAlertUpdate, {
              args: [{ alertId: `${host}-alert-1`, host }],
              startWorkflowOperation: new WithStartWorkflowOperation<typeof floorIncident>(
                FLOOR_WORKFLOW_TYPE,
                {
                  workflowId: `bench-floor-${host}`,
                  taskQueue: env.floorTaskQueue,
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
        const isolateAt = receipt ? await isolated : undefined;
        samples.push({
          host,
          t0,
          attempts,
          ...(receipt ? { updatedAt, deduplicated: receipt.deduplicated } : {}),
          ...(p.floorNotify.get(host) !== undefined ? { notifyAt: p.floorNotify.get(host)! } : {}),
          ...(isolateAt !== undefined ? { isolateAt } : {}),
        });
      })(),
    );
  });
  await Promise.all(pending);
  progress.stop();
  await sleep(1_000); // the floor's workflows complete right after their activities
  const cpu = cpuBetween(
    cpuBefore,
    await cpuSnapshot(await env.serverPids(), env.lab.pid),
    env.workflowThreadIds,
  );
  return { samples, hosts, cpu };
}

export async function floorFigures(
  env: BenchEnv,
  blocks: FloorBlock[],
  arrival: Arrival,
): Promise<RunFigures> {
  const p = env.probes;
  const samples = blocks.flatMap((b) => b.samples);
  const hosts = blocks.flatMap((b) => b.hosts);
  const server = await historyTimings(
    env.client,
    blocks.flatMap((b) =>
      b.samples
        .filter((s) => s.updatedAt !== undefined)
        .map((s) => `bench-floor-${s.host}`)
        .slice(0, Math.ceil(HISTORY_SAMPLE / blocks.length)),
    ),
    'isolate',
  );
  const isolated = samples.filter((s) => s.isolateAt !== undefined);
  let wall = 0;
  let answered = 0;
  for (const b of blocks) {
    const t0 = Math.min(...b.samples.map((s) => s.t0));
    wall += (Math.max(...b.samples.map((s) => s.isolateAt ?? t0)) - t0) / 1000;
    answered += (Math.max(...b.samples.map((s) => s.updatedAt ?? t0)) - t0) / 1000;
  }
  return {
    system: 'floor',
    arrival: arrivalName(arrival),
    incidents: samples.length,
    latency: summarize(isolated.map((s) => s.isolateAt! - s.t0)),
    lost: samples.length - isolated.length,
    retries: samples.reduce((a, s) => a + s.attempts - 1, 0),
    repeatedIsolations: hosts.filter((h) => p.floorIsolate.count(h) > 1).length,
    distinctIncidents: samples.filter((s) => s.updatedAt !== undefined && !s.deduplicated).length,
    wallSeconds: wall,
    containedPerSecond: isolated.length / wall,
    answeredSeconds: answered,
    segments: {
      'alert -> update result': segment(
        samples.map((s) => (s.updatedAt !== undefined ? s.updatedAt - s.t0 : undefined)),
      ),
      'alert -> isolate activity': segment(
        samples.map((s) => (s.isolateAt !== undefined ? s.isolateAt - s.t0 : undefined)),
      ),
      'alert -> notify activity': segment(
        samples.map((s) => (s.notifyAt !== undefined ? s.notifyAt - s.t0 : undefined)),
      ),
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
