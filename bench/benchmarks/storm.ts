/**
 * An alert storm through the batch intake: `alerts` alerts over `hosts` hosts, a share of them exact
 * redeliveries of an earlier alert, posted to `POST /api/v1/alerts/batch` in batches of `batchSize` with
 * `inFlight` requests at once. The bench-contain playbook correlates by host and isolates every host at once,
 * so every host must end up contained exactly once, and every alert accounted for: recorded once on its
 * host's incident, its redeliveries deduplicated.
 *
 * Containment is read in the lab store itself (the `LabStore.setContainment` hook containment.ts uses); the
 * alerts each incident recorded are read back from its workflow's state query after the storm.
 */
import http from 'node:http';
import { incidentStateQuery } from '../../src/contracts';
import { cpuBetween, cpuSnapshot, type CpuBreakdown } from '../lib/cpu';
import type { BenchEnv } from '../lib/env';
import { deliver } from '../lib/http';
import { say, ticker } from '../lib/progress';
import { ms, num, pool, sleep, summarize, type Summary } from '../lib/stats';

export interface StormOptions {
  alerts: number;
  hosts: number;
  /** Share of the alerts that are redeliveries of an earlier one (0..1). */
  duplicateShare: number;
  batchSize: number;
  inFlight: number;
  /** How long after the last answer a host may still be contained before it counts as lost. */
  containTimeoutMs?: number;
}

export interface StormFigures {
  alerts: number;
  hosts: number;
  /** Alerts sent that are exact redeliveries of an earlier one. */
  redeliveries: number;
  batchSize: number;
  inFlight: number;
  requests: number;
  /** Extra deliveries of a batch (429/503 or connection errors, retried whole). */
  retries: number;
  /** From a batch's first attempt to its final answer (every alert of it recorded or refused). */
  batchAnswer: Summary;
  /** Alerts with a receipt saying recorded or deduplicated. */
  admitted: number;
  recorded: number;
  deduplicated: number;
  /** Alerts whose final receipt was neither (rejected or unavailable), or whose batch got no answer. */
  notAdmitted: number;
  incidents: number;
  /** Alerts the incidents say they recorded (their state's `alerts.count`, summed). */
  alertsOnIncidents: number;
  hostsContained: number;
  /** Hosts the lab store contained more than once (a release and a second containment). */
  containedMoreThanOnce: number;
  /** Hosts whose isolate connector call ran more than once (activity retries). */
  repeatedIsolateCalls: number;
  /** Hosts not contained within the timeout. */
  lost: number;
  /** First request written to the last containment. */
  wallSeconds: number;
  /** First request written to the last batch answered. */
  admittedSeconds: number;
  containedPerSecond: number;
  admittedPerSecond: number;
  /** CPU from the first request until every incident has stored its evidence. */
  cpu: CpuBreakdown;
  cpuMsPerIncident: number;
}

/** A small seeded PRNG (mulberry32): the same storm on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface StormAlert {
  host: string;
  body: Record<string, unknown>;
}

/**
 * The storm's alerts in sending order: the distinct alerts round-robin over the hosts (each host's first
 * alert early, as when a worm spreads), redeliveries spread through the sequence, each a copy of one sent
 * before it.
 */
function stormSequence(env: BenchEnv, o: StormOptions): { sequence: StormAlert[]; redeliveries: number } {
  const rand = random(20261201);
  const redeliveries = Math.round(o.alerts * o.duplicateShare);
  const distinct = o.alerts - redeliveries;
  const hosts = Array.from({ length: o.hosts }, (_, i) => `ws-${env.tag}-storm-${i}`);
  const fresh: StormAlert[] = Array.from({ length: distinct }, (_, k) => {
    const host = hosts[k % o.hosts]!;
    const n = Math.floor(k / o.hosts) + 1;
    return {
      host,
      body: {
        source: 'bench-siem',
        id: `${host}-alert-${n}`,
        title: `Bench storm: ransomware behaviour on ${host} (${n})`,
        rule: 'bench.contain',
        type: 'ransomware',
        severity: 'critical',
        hosts: [host],
      },
    };
  });
  const sequence: StormAlert[] = [];
  let next = 0;
  let copies = redeliveries;
  for (let pos = 0; pos < o.alerts; pos++) {
    const copy = next > 0 && (next === fresh.length || rand() < copies / (o.alerts - pos));
    if (copy) {
      sequence.push(fresh[Math.floor(rand() * next)]!);
      copies--;
    } else sequence.push(fresh[next++]!);
  }
  return { sequence, redeliveries };
}

interface Receipt {
  status: string;
  incidentId?: string;
  workflowId?: string;
}

export async function runStorm(env: BenchEnv, o: StormOptions): Promise<StormFigures> {
  const { sequence, redeliveries } = stormSequence(env, o);
  const hosts = [...new Set(sequence.map((a) => a.host))];
  const batches: StormAlert[][] = [];
  for (let i = 0; i < sequence.length; i += o.batchSize) batches.push(sequence.slice(i, i + o.batchSize));
  say(
    `storm: ${sequence.length} alerts (${redeliveries} redeliveries) over ${hosts.length} hosts, ` +
      `${batches.length} batches of ${o.batchSize}, ${o.inFlight} in flight`,
  );
  const p = env.probes;
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.inFlight });
  const url = `${env.apiUrl}/api/v1/alerts/batch`;
  const headers = { authorization: `Bearer ${env.ingestToken}` };
  const receipts: (Receipt | undefined)[] = new Array<Receipt | undefined>(sequence.length);
  let answered = 0;
  let retries = 0;
  const contained = () => hosts.filter((h) => p.contained.get(h) !== undefined).length;
  const progress = ticker(
    'storm',
    () => `${answered}/${batches.length} batches answered, ${contained()}/${hosts.length} hosts contained`,
  );
  const cpuBefore = await cpuSnapshot(await env.serverPids(), env.lab.pid);
  const t0 = performance.now();
  let lastAnswer = t0;
  const answerMs: number[] = [];
  await pool(batches, o.inFlight, async (batch, b) => {
    const sentAt = performance.now();
    // A batch is answered once all its alerts are recorded: minutes in a storm on a busy machine, so the
    // client waits that long rather than abandon it and send it again.
    const d = await deliver(url, JSON.stringify(batch.map((a) => a.body)), headers, agent, 900_000, 600_000);
    answerMs.push(d.answeredAt - sentAt);
    answered++;
    retries += d.attempts - 1;
    lastAnswer = Math.max(lastAnswer, d.answeredAt);
    let items: Receipt[] = [];
    try {
      items = (JSON.parse(d.body) as { items?: Receipt[] }).items ?? [];
    } catch {
      // no receipts: every alert of the batch counts as not admitted
    }
    if (d.status !== 202) say(`  batch ${b}: HTTP ${d.status} after ${d.attempts} attempt(s)`);
    items.forEach((r, i) => (receipts[b * o.batchSize + i] = r));
  });
  agent.destroy();
  const timeout = o.containTimeoutMs ?? 300_000;
  for (const deadline = Date.now() + timeout; contained() < hosts.length && Date.now() < deadline;)
    await sleep(100);
  progress.stop();
  for (const deadline = Date.now() + 120_000; Date.now() < deadline;) {
    if (hosts.every((h) => p.evidenceStored.get(h) !== undefined)) break;
    await sleep(200);
  }
  const cpu = cpuBetween(
    cpuBefore,
    await cpuSnapshot(await env.serverPids(), env.lab.pid),
    env.workflowThreadIds,
  );

  const admittedReceipts = receipts.filter(
    (r): r is Receipt => r?.status === 'recorded' || r?.status === 'deduplicated',
  );
  const workflows = [...new Set(admittedReceipts.map((r) => r.workflowId).filter((w): w is string => !!w))];
  say(`  reading back the alerts of ${workflows.length} incidents...`);
  const counts = await pool(workflows, 16, async (workflowId) => {
    const state = await env.client.workflow.getHandle(workflowId).query(incidentStateQuery);
    return state.alerts.count;
  });
  const containedAt = hosts.map((h) => p.contained.get(h)).filter((t): t is number => t !== undefined);
  const wallSeconds = ((containedAt.length ? Math.max(...containedAt) : t0) - t0) / 1000;
  const admittedSeconds = (lastAnswer - t0) / 1000;
  const incidents = new Set(admittedReceipts.map((r) => r.incidentId).filter(Boolean)).size;
  const cpuMs =
    cpu.mainThreadMs + cpu.workflowThreadsMs + cpu.sdkCoreMs + cpu.otherThreadsMs + cpu.temporalServerMs;
  const figures: StormFigures = {
    alerts: sequence.length,
    hosts: hosts.length,
    redeliveries,
    batchSize: o.batchSize,
    inFlight: o.inFlight,
    requests: batches.length,
    retries,
    batchAnswer: summarize(answerMs),
    admitted: admittedReceipts.length,
    recorded: admittedReceipts.filter((r) => r.status === 'recorded').length,
    deduplicated: admittedReceipts.filter((r) => r.status === 'deduplicated').length,
    notAdmitted: sequence.length - admittedReceipts.length,
    incidents,
    alertsOnIncidents: counts.reduce((a, c) => a + c, 0),
    hostsContained: containedAt.length,
    containedMoreThanOnce: hosts.filter((h) => p.contained.count(h) > 1).length,
    repeatedIsolateCalls: hosts.filter((h) => p.isolateCalled.count(h) > 1).length,
    lost: hosts.length - containedAt.length,
    wallSeconds,
    admittedSeconds,
    containedPerSecond: wallSeconds > 0 ? containedAt.length / wallSeconds : 0,
    admittedPerSecond: admittedSeconds > 0 ? admittedReceipts.length / admittedSeconds : 0,
    cpu,
    cpuMsPerIncident: incidents > 0 ? cpuMs / incidents : 0,
  };
  say(
    `  storm: ${figures.admitted}/${figures.alerts} admitted (${figures.recorded} recorded, ` +
      `${figures.deduplicated} deduplicated), ${figures.incidents} incidents, ${figures.hostsContained}/` +
      `${figures.hosts} hosts contained in ${num(wallSeconds)} s, ${figures.lost} lost`,
  );
  return figures;
}

/** The storm's section of the run's Markdown. */
export function stormMarkdown(s: StormFigures): string {
  const row = (what: string, value: string) => `| ${what} | ${value} |`;
  const c = s.cpu;
  return [
    '### Alert storm: POST /api/v1/alerts/batch, bench-contain playbook',
    '',
    `${s.alerts} alerts over ${s.hosts} hosts, ${s.redeliveries} of them exact redeliveries of an earlier ` +
      `alert; ${s.requests} batches of ${s.batchSize}, ${s.inFlight} in flight.`,
    '',
    '| Figure | Value |',
    '|---|---:|',
    row('Alerts admitted (receipts recorded or deduplicated)', `${s.admitted}/${s.alerts}`),
    row('Recorded / deduplicated', `${s.recorded} / ${s.deduplicated}`),
    row('Not admitted (rejected, unavailable, no answer)', String(s.notAdmitted)),
    row('Batch retries (429/503/connection)', String(s.retries)),
    row(
      'Batch answered after (p50 / p95 / max)',
      `${ms(s.batchAnswer.p50)} / ${ms(s.batchAnswer.p95)} / ${ms(s.batchAnswer.max)}`,
    ),
    row('Incidents (distinct receipts)', String(s.incidents)),
    row('Alerts recorded on the incidents (state)', String(s.alertsOnIncidents)),
    row('Hosts contained', `${s.hostsContained}/${s.hosts}`),
    row('Hosts contained more than once', String(s.containedMoreThanOnce)),
    row('Hosts whose isolate call repeated', String(s.repeatedIsolateCalls)),
    row('Lost (no containment within the timeout)', String(s.lost)),
    row('Wall time, first alert -> last containment', `${num(s.wallSeconds)} s`),
    row('Wall time, first alert -> last batch answered', `${num(s.admittedSeconds)} s`),
    row('Hosts contained per second', num(s.containedPerSecond)),
    row('Alerts admitted per second', num(s.admittedPerSecond, 0)),
    row(
      'CPU per incident (Quell process + Temporal)',
      `${num(s.cpuMsPerIncident)} ms (machine ${num(c.machineBusy * 100, 0)}% busy)`,
    ),
    '',
  ].join('\n');
}
