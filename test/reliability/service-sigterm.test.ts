import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Client } from '@temporalio/client';
import { startLabServer, type RunningLab } from '../../src/connectors/lab';
import { IncidentService } from '../../src/incidents/service';
import { parsePlaybook, PlaybookRegistry } from '../../src/playbooks/loader';
import { freePort } from '../../src/temporal/dev-server';
import { genericAlert } from '../support/alerts';
import { requireEnv, TEST_ENV } from '../support/env';
import { waitFor } from '../support/processes';
import { spawnApi, spawnStart, type ApiProcess } from '../support/quell-process';
import { startTestWorker, testClient, uniqueTaskQueue, type TestWorker } from '../support/temporal';
import { spawnWorker } from '../support/worker-process';
import { drillPlaybook, labConnectors, pool, report } from './drill-support';

interface Receipt {
  incidentId: string;
  workflowId: string;
  alertId: string;
}

/** What fails the drill in a process's output: the crash of issue 16, or any other uncaught failure. */
const CRASH = /uncaught|unhandled|Channel has been shut down/i;

/**
 * Load on a running API until it is gone: `posters` lanes posting alerts (each its own incident), and one lane
 * each reading the incident list, /metrics and /readyz. `receipts` are the 202 answers.
 */
function driveLoad(
  base: string,
  tokens: { ingest: string; reader: string },
  api: ChildProcess,
  posters: number,
) {
  const receipts: Receipt[] = [];
  const statuses: Record<string, number> = {};
  const count = (k: string) => (statuses[k] = (statuses[k] ?? 0) + 1);
  const lane = async (request: () => Promise<Response>, accepted?: (body: unknown) => void) => {
    while (api.exitCode === null && api.signalCode === null) {
      try {
        const res = await request();
        count(String(res.status));
        if (res.status === 202 && accepted) accepted(await res.json());
        else await res.arrayBuffer();
      } catch {
        count('no answer');
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  const postAlert = () =>
    fetch(`${base}/api/v1/alerts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.ingest}`, 'content-type': 'application/json' },
      body: JSON.stringify(genericAlert({ severity: 'critical', accounts: [] })),
      signal: AbortSignal.timeout(30_000),
    });
  const read = (p: string) => () =>
    fetch(`${base}${p}`, {
      headers: { authorization: `Bearer ${tokens.reader}` },
      signal: AbortSignal.timeout(30_000),
    });
  const lanes = [
    ...Array.from({ length: posters }, () => lane(postAlert, (body) => receipts.push(body as Receipt))),
    lane(read('/api/v1/incidents?limit=20')),
    lane(read('/metrics')),
    lane(read('/readyz')),
  ];
  return { receipts, statuses, done: () => Promise.all(lanes) };
}

describe('drill: SIGTERM under ingest load', () => {
  let lab: RunningLab;
  let dataDir: string;
  let checker: TestWorker | undefined;
  const children: ChildProcess[] = [];
  let client: Client | undefined;
  beforeAll(async () => {
    lab = await startLabServer({ port: 0 });
  });
  beforeEach(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-drill-sigterm-'));
  });
  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
      }
    }
    await client?.connection.close();
    client = undefined;
    await checker?.stop();
    checker = undefined;
    await fs.rm(dataDir, { recursive: true, force: true });
  });
  afterAll(async () => {
    await lab?.stop();
  });

  it('`quell api` and `quell worker` drain and exit 0, and every 202 receipt is an incident', async () => {
    const address = requireEnv(TEST_ENV.address);
    const namespace = requireEnv(TEST_ENV.namespace);
    const taskQueue = uniqueTaskQueue('drill-sigterm');
    const playbooksDir = path.join(dataDir, 'playbooks');
    await fs.mkdir(playbooksDir, { recursive: true });
    await fs.writeFile(path.join(playbooksDir, 'drill.yaml'), drillPlaybook);
    const worker = await spawnWorker({
      address,
      namespace,
      taskQueue,
      labUrl: lab.url,
      dataDir,
      env: { QUELL_PLAYBOOKS_DIR: playbooksDir, QUELL_SHUTDOWN_GRACE_MS: '200' },
    });
    children.push(worker.child);
    const tokens = {
      ingest: `sigterm-ingest-${randomBytes(12).toString('hex')}`,
      reader: `sigterm-reader-${randomBytes(12).toString('hex')}`,
    };
    const apiPort = await freePort();
    const api: ApiProcess = await spawnApi({
      address,
      namespace,
      port: apiPort,
      taskQueue,
      playbooksDir,
      dataDir,
      tokens: {
        [tokens.ingest]: { subject: 'drill-siem', roles: ['ingest'] },
        [tokens.reader]: { subject: 'drill-responder', roles: ['responder'] },
      },
      // A grace shorter than the requests under load take: the shutdown meets calls still running.
      env: { QUELL_SHUTDOWN_GRACE_MS: '200', QUELL_INGEST_RATE_PER_SEC: '1000' },
    });
    children.push(api.child);

    const load = driveLoad(`http://127.0.0.1:${apiPort}`, tokens, api.child, 32);
    await waitFor(async () => load.receipts.length >= 10, 60_000, 'ten accepted alerts');
    const stoppedAt = Date.now();
    api.child.kill('SIGTERM');
    worker.child.kill('SIGTERM');
    const [apiExit, workerCode] = await Promise.all([api.exited, worker.exited]);
    const stopSeconds = ((Date.now() - stoppedAt) / 1000).toFixed(1);
    await load.done();

    expect(api.output()).not.toMatch(CRASH);
    expect(worker.output()).not.toMatch(CRASH);
    expect(apiExit).toEqual({ code: 0, signal: null });
    expect(workerCode).toBe(0);
    expect(api.output()).toContain('stopped cleanly');

    // Every receipt is an incident holding its alert, read through a fresh client and worker.
    checker = await startTestWorker({
      taskQueue,
      activityDeps: { connectors: labConnectors(lab, dataDir) },
    });
    client = await testClient();
    const service = new IncidentService(
      client,
      taskQueue,
      PlaybookRegistry.from([parsePlaybook(drillPlaybook, 'drill.yaml')]),
    );
    await pool(load.receipts, 4, async (r) => {
      const state = await service.getState(r.incidentId);
      expect(state.alerts.recent.map((a) => a.alertId)).toContain(r.alertId);
    });
    report('SIGTERM: quell api + quell worker', {
      accepted: load.receipts.length,
      statuses: load.statuses,
      stop: `both exited ${stopSeconds} s after SIGTERM`,
      checked: 'exit 0, no uncaught exception; every 202 receipt read back as an incident holding its alert',
    });
  }, 300_000);

  it('`quell start` drains and exits 0, and a restarted Quell serves every 202 receipt', async () => {
    const ports = { apiPort: await freePort(), temporalPort: await freePort() };
    const start = async () => {
      const q = await spawnStart({
        dataDir,
        cliPath: requireEnv(TEST_ENV.cliPath),
        ...ports,
        env: {
          QUELL_SHUTDOWN_GRACE_MS: '200',
          QUELL_INGEST_RATE_PER_SEC: '1000',
          QUELL_WORKFLOW_BUNDLE: requireEnv(TEST_ENV.bundle),
        },
      });
      children.push(q.child);
      return q;
    };
    // Two rounds: whether a call is still running when the client closes varies from run to run.
    const receipts: Receipt[] = [];
    const rounds: Record<string, unknown>[] = [];
    for (let round = 1; round <= 2; round++) {
      const quell = await start();
      const load = driveLoad(
        quell.apiUrl,
        { ingest: quell.token('ingest'), reader: quell.token('responder') },
        quell.child,
        32,
      );
      await waitFor(async () => load.receipts.length >= 10, 60_000, 'ten accepted alerts');
      const stoppedAt = Date.now();
      quell.child.kill('SIGTERM');
      const exit = await quell.exited;
      const stopSeconds = ((Date.now() - stoppedAt) / 1000).toFixed(1);
      await load.done();
      expect(quell.output()).not.toMatch(CRASH);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(quell.output()).toContain('stopped cleanly');
      receipts.push(...load.receipts);
      rounds.push({ accepted: load.receipts.length, statuses: load.statuses, stopSeconds });
    }

    // The embedded server keeps its database in the data dir: a restarted Quell has every incident.
    const again = await start();
    await pool(receipts, 4, async (r) => {
      const res = await fetch(`${again.apiUrl}/api/v1/incidents/${r.incidentId}`, {
        headers: { authorization: `Bearer ${again.token('responder')}` },
      });
      expect(res.status).toBe(200);
      const state = (await res.json()) as { alerts: { recent: { alertId: string }[] } };
      expect(state.alerts.recent.map((a) => a.alertId)).toContain(r.alertId);
    });
    again.child.kill('SIGTERM');
    expect(await again.exited).toEqual({ code: 0, signal: null });
    report('SIGTERM: quell start', {
      rounds,
      checked: 'exit 0, no uncaught exception; every 202 receipt served by the restarted API',
    });
  }, 300_000);
});
