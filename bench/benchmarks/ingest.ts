/**
 * Alert ingest: autocannon against `POST /api/v1/alerts` on Quell's real API (bearer token, rate limiter,
 * JSON parsing, normalisation, playbook choice, update-with-start and the workflow's answer) with dedup hits
 * (the same alert again and again: one incident, every request an update on it) and misses (a unique alert
 * per request: a new incident each), against floors on a bare express handler (same JSON body limit): one that
 * only parses JSON and answers 202, and two that call the SDK client directly, a plain update on one open floor
 * workflow (the hits' floor) and an update-with-start of a new floor workflow per request (the misses' floor),
 * so the ratios isolate Quell's own intake.
 *
 * The alerts use the bench-ingest playbook (no containment, no notices, no evidence), so the figures are
 * intake, not the estate; the floor workflow (`floorIntake`) likewise only takes alerts. autocannon runs in a
 * worker thread, so its own event loop does not share the API's. Each floor runs right before the Quell run
 * it is the floor of, so both see the same machine.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import autocannon from 'autocannon';
import express from 'express';
import { FLOOR_INTAKE_WORKFLOW_TYPE, floorAlertUpdate, type FloorReceipt } from '../floor/contract';
import type { floorIntake } from '../floor/workflows';
import { isRunAlreadyCompleted, isUpdateAbortedByContinueAsNew } from '../../src/temporal/errors';
import { cpuBetween, cpuSnapshot } from '../lib/cpu';
import type { BenchEnv } from '../lib/env';
import { postJson } from '../lib/http';
import { say } from '../lib/progress';

/** Which run a figure is: Quell's two, and the floors they are compared with. */
export type IngestRunId =
  'bare-parse' | 'floor-update' | 'quell-hits' | 'floor-update-with-start' | 'quell-misses';

/** The floor each Quell run is divided by. */
export const INGEST_FLOOR_OF: Partial<Record<IngestRunId, IngestRunId>> = {
  'quell-hits': 'floor-update',
  'quell-misses': 'floor-update-with-start',
};

export interface IngestFigures {
  id: IngestRunId;
  target: string;
  connections: number;
  seconds: number;
  requests: number;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  max: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Share of all cores busy during the measured run (0..1), and other processes' CPU in that time. */
  machineBusy: number;
  othersSeconds: number;
  /** Other processes' CPU over the run's wall time, in cores. */
  othersCores: number;
}

async function cannon(
  label: string,
  opts: {
    url: string;
    body: string;
    headers: Record<string, string>;
    seconds: number;
    connections: number;
    ids: boolean;
  },
): Promise<autocannon.Result> {
  const started = Date.now();
  const timer = setInterval(
    () => say(`  ingest ${label}: ${Math.round((Date.now() - started) / 1000)}/${opts.seconds} s`),
    5_000,
  );
  try {
    return await autocannon({
      url: opts.url,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...opts.headers },
      body: opts.body,
      idReplacement: opts.ids,
      connections: opts.connections,
      duration: opts.seconds,
      workers: 1,
    });
  } finally {
    clearInterval(timer);
  }
}

function figures(
  id: IngestRunId,
  target: string,
  r: autocannon.Result,
  load: { machineBusy: number; othersSeconds: number; othersCores: number },
): IngestFigures {
  return {
    id,
    target,
    connections: r.connections,
    seconds: r.duration,
    requests: r['2xx'] + r.non2xx,
    requestsPerSecond: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    max: r.latency.max,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    ...load,
  };
}

/** The alert's identity and subject from a bench alert body, or why not (the floors' only validation). */
function floorAlert(body: unknown): { alertId: string; host: string } | string {
  const b = body as { id?: unknown; domains?: unknown } | undefined;
  if (typeof b?.id !== 'string' || !b.id) return 'id';
  const domain = Array.isArray(b.domains) ? b.domains[0] : undefined;
  if (typeof domain !== 'string') return 'domains';
  return { alertId: b.id, host: domain };
}

/** The floor workflow an alert lands in: one per alert identity. */
const floorIntakeId = (tag: string, alertId: string) => `bench-floor-intake-${tag}-${alertId}`;

/**
 * The bare express app of the floors: parse-only, a plain update on `openWorkflowId`, and update-with-start of
 * a new floor workflow per alert (its ID from the alert's identity, as Quell derives one from correlation).
 */
function bareApp(client: Client, taskQueue: string, openWorkflowId: string, tag: string): express.Express {
  const app = express();
  app.disable('x-powered-by');
  const json = express.json({ limit: '1mb' });
  app.post('/api/v1/alerts', json, (_req, res) => {
    res.status(202).json({ accepted: true });
  });
  const handle =
    (deliver: (alert: { alertId: string; host: string }) => Promise<FloorReceipt>): express.RequestHandler =>
    (req, res) => {
      const alert = floorAlert(req.body);
      if (typeof alert === 'string') {
        res.status(400).type('application/problem+json').json({ title: 'Invalid alert', field: alert });
        return;
      }
      deliver(alert).then(
        (receipt) => res.status(202).json(receipt),
        (err: unknown) => res.status(503).json({ error: err instanceof Error ? err.message : String(err) }),
      );
    };
  app.post(
    '/floor/update',
    json,
    handle(async (alert) => {
      // As Quell's intake does: an update that meets the workflow continuing as new is sent again.
      for (let attempt = 1; ; attempt++) {
        try {
          return await client.workflow
            .getHandle(openWorkflowId)
            .executeUpdate(floorAlertUpdate, { args: [alert] });
        } catch (err) {
          if (attempt >= 20 || !(isUpdateAbortedByContinueAsNew(err) || isRunAlreadyCompleted(err)))
            throw err;
          await new Promise((r) => setTimeout(r, 20 * attempt));
        }
      }
    }),
  );
  app.post(
    '/floor/update-with-start',
    json,
    handle((alert) =>
      client.workflow.executeUpdateWithStart(floorAlertUpdate, {
        args: [alert],
        startWorkflowOperation: new WithStartWorkflowOperation<typeof floorIntake>(
          FLOOR_INTAKE_WORKFLOW_TYPE,
          {
            workflowId: floorIntakeId(tag, alert.alertId),
            taskQueue,
            args: [],
            workflowIdConflictPolicy: 'USE_EXISTING',
          },
        ),
      }),
    ),
  );
  return app;
}

export async function runIngest(
  env: BenchEnv,
  opts: { seconds: number; warmupSeconds: number; connections: number },
): Promise<IngestFigures[]> {
  // The bare handlers: express, its JSON parser with Quell's body limit, then 202 or the bare client's call.
  const openFloorId = floorIntakeId(env.tag, 'dedup');
  const server = http.createServer(bareApp(env.client, env.floorTaskQueue, openFloorId, env.tag));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const bareBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const bareUrl = `${bareBase}/api/v1/alerts`;
  const quellUrl = `${env.apiUrl}/api/v1/alerts`;
  const auth = { authorization: `Bearer ${env.ingestToken}` };
  const alert = (id: string, domain: string) =>
    JSON.stringify({
      source: 'bench-ingest',
      id,
      title: `Bench ingest: beaconing to ${domain}`,
      rule: 'bench.ingest.beacon',
      type: 'c2',
      severity: 'medium',
      domains: [domain],
    });
  const dedupBody = alert(`dedup-${env.tag}`, `dedup-${env.tag}.bench.test`);
  // The incident the dedup hits land on exists before the clock starts.
  const first = await postJson(quellUrl, dedupBody, auth, new http.Agent());
  if (first.status !== 202) throw new Error(`ingest setup: expected 202, got ${first.status}: ${first.body}`);
  // So does the open floor workflow the plain updates land on.
  const floorDedupBody = alert('dedup', `dedup-${env.tag}.floor.bench.test`);
  const firstFloor = await postJson(
    `${bareBase}/floor/update-with-start`,
    floorDedupBody,
    {},
    new http.Agent(),
  );
  if (firstFloor.status !== 202)
    throw new Error(`ingest setup (floor): expected 202, got ${firstFloor.status}: ${firstFloor.body}`);

  const runs: {
    id: IngestRunId;
    label: string;
    target: string;
    url: string;
    body: string;
    headers: Record<string, string>;
    ids: boolean;
  }[] = [
    {
      id: 'bare-parse',
      label: 'bare',
      target: 'bare express (parse JSON, 202)',
      url: bareUrl,
      body: alert('bare-1', 'bare.bench.test'),
      headers: {},
      ids: false,
    },
    {
      id: 'floor-update',
      label: 'floor update',
      target: 'bare express + client, update on one open floor workflow (same alert)',
      url: `${bareBase}/floor/update`,
      body: floorDedupBody,
      headers: {},
      ids: false,
    },
    {
      id: 'quell-hits',
      label: 'dedup',
      target: 'Quell, dedup hits (same alert)',
      url: quellUrl,
      body: dedupBody,
      headers: auth,
      ids: false,
    },
    {
      id: 'floor-update-with-start',
      label: 'floor update-with-start',
      target: 'bare express + client, update-with-start of a new floor workflow (unique alerts)',
      url: `${bareBase}/floor/update-with-start`,
      body: alert(`floor-miss-[<id>]`, `fm-[<id>].${env.tag}.floor.bench.test`),
      headers: {},
      ids: true,
    },
    {
      id: 'quell-misses',
      label: 'miss',
      target: 'Quell, misses (unique alerts)',
      url: quellUrl,
      body: alert(`miss-${env.tag}-[<id>]`, `m-[<id>].${env.tag}.bench.test`),
      headers: auth,
      ids: true,
    },
  ];
  const out: IngestFigures[] = [];
  try {
    for (const run of runs) {
      say(
        `  ingest ${run.label}: warm-up ${opts.warmupSeconds} s, then ${opts.seconds} s with ${opts.connections} connections`,
      );
      await cannon(`${run.label} (warm-up)`, {
        ...run,
        seconds: opts.warmupSeconds,
        connections: opts.connections,
      });
      const cpuBefore = await cpuSnapshot(await env.serverPids());
      const r = await cannon(run.label, { ...run, seconds: opts.seconds, connections: opts.connections });
      const cpu = cpuBetween(cpuBefore, await cpuSnapshot(await env.serverPids()), env.workflowThreadIds);
      const f = figures(run.id, run.target, r, {
        machineBusy: cpu.machineBusy,
        othersSeconds: cpu.otherProcessesMs / 1000,
        othersCores: cpu.otherProcessesMs / cpu.wallMs,
      });
      say(
        `  ingest ${run.label}: ${f.requestsPerSecond.toFixed(0)} req/s, p99 ${f.p99} ms, ` +
          `${f.non2xx} non-2xx, ${f.errors} errors, machine busy ${Math.round(f.machineBusy * 100)}%`,
      );
      out.push(f);
    }
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
  }
  return out;
}
