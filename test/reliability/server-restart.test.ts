import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLabServer, type RunningLab } from '../../src/connectors/lab';
import { loadConfig } from '../../src/config';
import { normalizeGeneric } from '../../src/ingest/generic';
import { IncidentService } from '../../src/incidents/service';
import { parsePlaybook, PlaybookRegistry } from '../../src/playbooks/loader';
import { connectClient } from '../../src/temporal/connection';
import { freePort } from '../../src/temporal/dev-server';
import { provisionTemporal, type ProvisionedTemporal } from '../../src/temporal/provision';
import { genericAlert } from '../support/alerts';
import { requireEnv, TEST_ENV } from '../support/env';
import { waitFor } from '../support/processes';
import { uniqueTaskQueue } from '../support/temporal';
import { killWorker, spawnWorker, type WorkerProcess } from '../support/worker-process';
import { containmentDone, drillPlaybook, pool, report, size } from './drill-support';

describe('drill: Temporal server restart', () => {
  let lab: RunningLab;
  let dataDir: string;
  let server: ProvisionedTemporal | undefined;
  let worker: WorkerProcess | undefined;
  beforeAll(async () => {
    lab = await startLabServer({ port: 0 });
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-drill-restart-'));
  });
  afterAll(async () => {
    if (worker) await killWorker(worker);
    await server?.stop();
    await lab?.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('every incident completes when the dev server is stopped and restarted on the same database mid-run', async () => {
    const n = size(20, 200);
    const port = await freePort();
    const dbFile = path.join(dataDir, 'temporal.sqlite');
    const { TEMPORAL_ADDRESS: _a, ...env } = process.env;
    const config = loadConfig({
      ...env,
      QUELL_DATA_DIR: dataDir,
      TEMPORAL_CLI_PATH: requireEnv(TEST_ENV.cliPath),
    });
    const startServer = () =>
      provisionTemporal(config, {
        embeddedOverrides: { port, headless: true, dbFile, logFile: path.join(dataDir, 'temporal.log') },
      });
    server = await startServer();
    const client = await connectClient(server);
    const taskQueue = uniqueTaskQueue('drill-restart');
    worker = await spawnWorker({
      address: server.address,
      namespace: server.namespace,
      taskQueue,
      labUrl: lab.url,
      dataDir,
      client,
    });
    const service = new IncidentService(
      client,
      taskQueue,
      PlaybookRegistry.from([parsePlaybook(drillPlaybook, 'drill.yaml')]),
    );
    lab.store.addFault({ fault: 'slow_response', probability: 0.5, holdMs: 1_000 });
    const tag = Date.now().toString(36);
    const ingest = (i: number) =>
      service.ingestAlert(
        normalizeGeneric(
          genericAlert({
            severity: 'critical',
            rule: `drill.restart.${i}.${tag}`,
            hosts: [`ws-rs-${i}-${tag}`],
            accounts: [],
          }),
          new Date().toISOString(),
        ),
        'siem',
      );
    const started = Date.now();
    const before = await pool(
      Array.from({ length: n / 2 }, (_, i) => i),
      4,
      (i) => ingest(i),
    );

    await server.stop();
    const downAt = Date.now();
    await new Promise((r) => setTimeout(r, 2_000));
    server = await startServer();
    const downSeconds = ((Date.now() - downAt) / 1000).toFixed(1);
    // The rest arrive after the restart, through the same client connection (it reconnects by itself).
    const after = await pool(
      Array.from({ length: n / 2 }, (_, i) => i + n / 2),
      4,
      (i) => ingest(i),
    );
    const receipts = [...before, ...after];
    await pool(receipts, 8, (r) =>
      waitFor(
        async () => containmentDone(await service.getState(r.incidentId)) || undefined,
        180_000,
        `containment of ${r.incidentId}`,
      ),
    );
    for (const r of receipts) {
      const s = await service.getState(r.incidentId);
      expect(s.alerts.count).toBe(1);
      expect(s.actions.map((a) => a.state)).toEqual(['succeeded']);
      expect(lab.store.ledger({ effect: 'contain', target: s.scope.hosts[0]! })).toHaveLength(1);
    }
    report('server restart', {
      incidents: n,
      restart: `server down ${downSeconds}s after ${n / 2} incidents had started`,
      checked:
        'every incident (before and after the restart) finished containment; one contain effect per host',
      seconds: ((Date.now() - started) / 1000).toFixed(1),
    });
    await client.connection.close();
  }, 400_000);
});
