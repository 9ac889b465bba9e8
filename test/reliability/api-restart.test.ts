import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { startLabServer, type RunningLab } from '../../src/connectors/lab';
import { IncidentService } from '../../src/incidents/service';
import { parsePlaybook, PlaybookRegistry } from '../../src/playbooks/loader';
import { freePort } from '../../src/temporal/dev-server';
import { requireEnv, TEST_ENV } from '../support/env';
import { waitFor } from '../support/processes';
import { startTestWorker, testClient, uniqueTaskQueue, type TestWorker } from '../support/temporal';
import { containmentDone, drillPlaybook, labConnectors, pool, report, size } from './drill-support';
import { spawnApi as spawnQuellApi, type ApiProcess } from '../support/quell-process';
import { AlertSender } from '../support/alert-sender';

const TOKEN = `drill-api-ingest-${randomBytes(12).toString('hex')}`;

/** `quell api` as its own process, on a fixed port, against the jest run's Temporal server. */
function spawnApi(opts: {
  port: number;
  taskQueue: string;
  playbooksDir: string;
  dataDir: string;
}): Promise<ApiProcess> {
  return spawnQuellApi({
    ...opts,
    address: requireEnv(TEST_ENV.address),
    namespace: requireEnv(TEST_ENV.namespace),
    tokens: { [TOKEN]: { subject: 'drill-siem', roles: ['ingest'] } },
    env: {
      QUELL_SHUTDOWN_GRACE_MS: '3000',
      // The drill's client is one caller; the default 50/s would answer 429s that only slow it down.
      QUELL_INGEST_RATE_PER_SEC: '1000',
    },
  });
}

describe('drill: API restarts', () => {
  let lab: RunningLab;
  let dataDir: string;
  let worker: TestWorker | undefined;
  let api: ApiProcess | undefined;
  let client: Client | undefined;
  beforeAll(async () => {
    lab = await startLabServer({ port: 0 });
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-drill-api-'));
  });
  afterAll(async () => {
    if (api && api.child.exitCode === null && api.child.signalCode === null) {
      api.child.kill('SIGKILL');
      await api.exited;
    }
    await worker?.stop();
    await client?.connection.close();
    await lab?.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('every alert ends in exactly one incident while the API is restarted with SIGTERM and SIGKILL', async () => {
    const groups = size(20, 200);
    const perGroup = 3;
    const restarts = size(2, 8);
    const tag = randomBytes(4).toString('hex');
    const taskQueue = uniqueTaskQueue('drill-api');
    const port = await freePort();
    const playbooksDir = path.join(dataDir, 'playbooks');
    await fs.mkdir(playbooksDir, { recursive: true });
    await fs.writeFile(path.join(playbooksDir, 'drill.yaml'), drillPlaybook);
    worker = await startTestWorker({ taskQueue, activityDeps: { connectors: labConnectors(lab, dataDir) } });
    client = await testClient();
    const service = new IncidentService(
      client,
      taskQueue,
      PlaybookRegistry.from([parsePlaybook(drillPlaybook, 'drill.yaml')]),
    );
    const startApi = () => spawnApi({ port, taskQueue, playbooksDir, dataDir });
    api = await startApi();

    // Three alerts per host: the same rule and host (one correlation key, so one incident), different IDs.
    const alerts = Array.from({ length: groups * perGroup }, (_, i) => {
      const g = Math.floor(i / perGroup);
      const host = `ws-api-${g}-${tag}`;
      return {
        group: g,
        host,
        id: `api-${tag}-${i}`,
        body: JSON.stringify({
          source: 'drill-siem',
          id: `api-${tag}-${i}`,
          title: `Ransomware behaviour on ${host} (${i % perGroup})`,
          rule: `drill.api.${tag}`,
          type: 'ransomware',
          severity: 'critical',
          hosts: [host],
        }),
      };
    });

    // Retries what a sender should retry: the API going away (connection refused or reset) or saying so (503),
    // and rate limits. Anything else is a failure of the drill.
    const sender = new AlertSender(`http://127.0.0.1:${port}`, TOKEN);
    const started = Date.now();
    // The client posts with a few lanes, pacing itself (about 20 alerts/s) so every restart lands mid-stream.
    const posting = pool(alerts, 4, async (a) => {
      const r = await sender.deliver(a.body);
      await new Promise((res) => setTimeout(res, 150));
      return r;
    });
    const restartLog: string[] = [];
    let postingDone = false;
    void posting.finally(() => (postingDone = true)).catch(() => undefined);
    for (let k = 0; k < restarts; k++) {
      const threshold = Math.floor((alerts.length * (k + 1)) / (restarts + 1));
      await waitFor(
        async () => sender.delivered >= threshold || postingDone,
        120_000,
        `${threshold} alerts delivered`,
      );
      const signal: NodeJS.Signals = k % 2 === 0 ? 'SIGKILL' : 'SIGTERM';
      // Strike while a request is in flight (its alert may already be recorded when the answer is lost).
      for (const until = Date.now() + 3_000; sender.inFlight === 0 && !postingDone && Date.now() < until;) {
        await new Promise((r) => setTimeout(r, 2));
      }
      const current: ApiProcess = api;
      const inFlightAtKill = sender.inFlight;
      const deliveredAtKill = sender.delivered;
      // The restart must land while alerts are still being posted, or it tests nothing.
      expect(deliveredAtKill).toBeLessThan(alerts.length);
      const downAt = Date.now();
      current.child.kill(signal);
      const exit = await current.exited;
      const stoppedIn = ((Date.now() - downAt) / 1000).toFixed(1);
      if (signal === 'SIGTERM') {
        // A graceful stop: in-flight requests answered, then a clean exit.
        expect(exit).toEqual({ code: 0, signal: null });
      } else {
        expect(exit.signal).toBe('SIGKILL');
      }
      api = await startApi();
      restartLog.push(
        `${signal} after ${deliveredAtKill}/${alerts.length} delivered (${inFlightAtKill} requests in flight); ` +
          `exited after ${stoppedIn}s, serving again after ${((Date.now() - downAt) / 1000).toFixed(1)}s`,
      );
    }
    const results = await posting;
    sender.close();

    // Every alert was accepted exactly once from the sender's point of view, with a receipt naming its incident.
    expect(results).toHaveLength(alerts.length);
    const byGroup = new Map<number, Set<string>>();
    results.forEach((r, i) => {
      const a = alerts[i]!;
      expect(r.receipt.alertId).toBe(`drill-siem:${a.id}`);
      const set = byGroup.get(a.group) ?? new Set<string>();
      set.add(r.receipt.incidentId);
      byGroup.set(a.group, set);
    });
    // One incident per host, none shared between hosts.
    for (const set of byGroup.values()) expect(set.size).toBe(1);
    const incidentIds = [...byGroup.values()].map((s) => [...s][0]!);
    expect(new Set(incidentIds).size).toBe(groups);

    // Each incident holds exactly its host's alerts: none lost, none recorded twice.
    let redeliveries = 0;
    for (const [g, set] of byGroup) {
      const s = await service.getState([...set][0]!);
      expect(s.alerts.count).toBe(perGroup);
      expect(s.alerts.recent.map((r) => r.alertId).sort()).toEqual(
        alerts
          .filter((a) => a.group === g)
          .map((a) => `drill-siem:${a.id}`)
          .sort(),
      );
      redeliveries += s.alerts.deduplicated;
    }
    // No incident was opened that no receipt names (e.g. by a request cut off mid-way and then retried).
    await waitFor(
      async () => (await client!.workflow.count(`TaskQueue = '${taskQueue}'`)).count === groups || undefined,
      30_000,
      `${groups} workflows on ${taskQueue}`,
    );
    // And containment went on undisturbed: each host contained once.
    await pool(incidentIds, 8, (id) =>
      waitFor(
        async () => containmentDone(await service.getState(id)) || undefined,
        120_000,
        `containment of ${id}`,
      ),
    );
    for (let g = 0; g < groups; g++) {
      expect(lab.store.ledger({ effect: 'contain', target: `ws-api-${g}-${tag}` })).toHaveLength(1);
    }

    const retries = results.reduce((n, r) => n + r.attempts - 1, 0);
    report('api restart', {
      alerts: alerts.length,
      incidents: groups,
      restarts: restartLog,
      retries,
      connectionErrors: sender.errors,
      answers: sender.statuses,
      receiptsMarkedDeduplicated: results.filter((r) => r.receipt.deduplicated).length,
      redeliveriesAbsorbedByIncidents: redeliveries,
      checked:
        'every alert got one 202 receipt; receipts of a host name one incident and hosts never share one; each ' +
        `incident holds exactly its ${perGroup} alerts; the task queue has exactly ${groups} workflows; ` +
        'SIGTERM exits 0; each host contained once',
      seconds: ((Date.now() - started) / 1000).toFixed(1),
    });
  }, 600_000);
});
