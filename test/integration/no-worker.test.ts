import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import request from 'supertest';
import { readinessCheck } from '../../src/api/readiness';
import { normalizeGeneric } from '../../src/ingest/generic';
import { NoWorkerError } from '../../src/incidents/errors';
import { IncidentService } from '../../src/incidents/service';
import { parsePlaybook, PlaybookRegistry } from '../../src/playbooks/loader';
import { testApp, TOKENS } from '../api/support/harness';
import { genericAlert } from '../support/alerts';
import { testPlaybookYaml } from '../support/incident-harness';
import { waitFor } from '../support/processes';
import { startTestWorker, testClient, testEndpoint, uniqueTaskQueue } from '../support/temporal';
import { killWorker, spawnWorker } from '../support/worker-process';

const registry = () => PlaybookRegistry.from([parsePlaybook(testPlaybookYaml(), 'test-pb.yaml')]);

describe('with no worker serving the incident task queue', () => {
  let client: Client;
  beforeAll(async () => {
    client = await testClient();
  });
  afterAll(() => client?.connection.close());

  it('alert intake answers 503 with Retry-After within seconds, and the retry is recorded exactly once', async () => {
    const taskQueue = uniqueTaskQueue('no-worker');
    const service = new IncidentService(client, taskQueue, registry(), undefined, { workerWaitMs: 1_000 });
    const { app } = testApp({ client, taskQueue, incidents: service });
    const alert = genericAlert({ severity: 'low' });

    const started = Date.now();
    const refused = await request(app)
      .post('/api/v1/alerts')
      .set('Authorization', `Bearer ${TOKENS.ingest}`)
      .send(alert);
    const waited = Date.now() - started;
    expect(refused.status).toBe(503);
    expect(refused.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(refused.headers['retry-after']).toBe('15');
    expect(refused.body).toMatchObject({ type: expect.stringContaining('no-worker'), status: 503 });
    // Before: no answer at all within 170 s. Now: the wait (1 s here) plus one liveness check.
    expect(waited).toBeLessThan(10_000);
    await expect(
      service.ingestAlert(normalizeGeneric(alert, new Date().toISOString()), 'siem'),
    ).rejects.toBeInstanceOf(NoWorkerError);

    // A worker comes back; the sender retries the same alert: one incident, the alert recorded once.
    const worker = await startTestWorker({ taskQueue });
    try {
      const retried = await request(app)
        .post('/api/v1/alerts')
        .set('Authorization', `Bearer ${TOKENS.ingest}`)
        .send(alert)
        .expect(202);
      const state = await waitFor(
        async () => {
          const s = await service.getState(retried.body.incidentId as string);
          return s.alerts.count + s.alerts.deduplicated >= 1 ? s : undefined;
        },
        20_000,
        'the retried alert',
      );
      expect(state.alerts.count).toBe(1);
      expect(state.alerts.recent.map((a) => a.alertId)).toEqual([`${alert.source}:${alert.id}`]);
    } finally {
      await worker.stop();
    }
  });

  it('/readyz says not ready within seconds of the last worker being SIGKILLed', async () => {
    const taskQueue = uniqueTaskQueue('readiness');
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-ready-'));
    const endpoint = testEndpoint();
    const worker = await spawnWorker({
      ...endpoint,
      taskQueue,
      labUrl: 'http://127.0.0.1:9',
      dataDir,
      client,
    });
    try {
      const live = await waitFor(
        async () => {
          const r = await readinessCheck(client, taskQueue);
          return r.ready && r.worker.source === 'heartbeats' ? r : undefined;
        },
        30_000,
        'a live worker seen through its heartbeats',
      );
      expect(live.worker.pollers).toBe(1);
      const { app } = testApp({ client, taskQueue });
      await request(app).get('/readyz').expect(200);

      await killWorker(worker);
      const killedAt = Date.now();
      const notReady = await waitFor(
        async () => {
          const r = await readinessCheck(client, taskQueue);
          return r.ready ? undefined : r;
        },
        60_000,
        '/readyz to notice the dead worker',
      );
      const noticedAfter = Date.now() - killedAt;
      expect(notReady.worker).toMatchObject({ polling: false, pollers: 0, source: 'heartbeats' });
      // Before: 200 with `pollers: 2` for 90 s. Heartbeats go stale after 15 s.
      expect(noticedAfter).toBeLessThan(25_000);
      const res = await request(app).get('/readyz');
      expect(res.status).toBe(503);
    } finally {
      if (worker.child.exitCode === null) worker.child.kill('SIGKILL');
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
