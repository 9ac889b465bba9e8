import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLabServer, type RunningLab } from '../../src/connectors/lab';
import { normalizeGeneric } from '../../src/ingest/generic';
import { IncidentService } from '../../src/incidents/service';
import { parsePlaybook, PlaybookRegistry } from '../../src/playbooks/loader';
import { genericAlert } from '../support/alerts';
import { requireEnv, TEST_ENV } from '../support/env';
import { waitFor } from '../support/processes';
import { testClient, uniqueTaskQueue } from '../support/temporal';
import { killWorker, spawnWorker, type WorkerProcess } from '../support/worker-process';
import { containmentDone, drillPlaybook, pool, report, size } from './drill-support';

describe('drill: worker crashes', () => {
  let lab: RunningLab;
  let dataDir: string;
  let current: WorkerProcess | undefined;
  beforeAll(async () => {
    lab = await startLabServer({ port: 0 });
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-drill-crash-'));
  });
  afterAll(async () => {
    if (current) await killWorker(current);
    await lab?.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('incidents complete containment through SIGKILLs at random moments, each effect applied once per target', async () => {
    const n = size(30, 200);
    const kills = size(2, 6);
    const client = await testClient();
    const taskQueue = uniqueTaskQueue('drill-crash');
    const spawn = () =>
      spawnWorker({
        address: requireEnv(TEST_ENV.address),
        namespace: requireEnv(TEST_ENV.namespace),
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
    // A third of the vendor calls answer slowly, so kills land while effects are in flight.
    lab.store.addFault({ fault: 'slow_response', probability: 0.3, holdMs: 1_500 });
    current = await spawn();
    const tag = Date.now().toString(36);
    const targets = Array.from({ length: n }, (_, i) => ({
      host: `ws-crash-${i}-${tag}`,
      account: `crash-${i}-${tag}`,
    }));
    const started = Date.now();
    const ingesting = pool(targets, 4, (t) =>
      service.ingestAlert(
        normalizeGeneric(
          genericAlert({
            severity: 'critical',
            rule: `drill.crash.${t.host}`,
            hosts: [t.host],
            accounts: [t.account],
          }),
          new Date().toISOString(),
        ),
        'siem',
      ),
    );
    const killLog: string[] = [];
    for (let k = 0; k < kills; k++) {
      await new Promise((r) => setTimeout(r, 1_000 + Math.random() * 3_000));
      const effects = lab.store.ledger().length;
      await killWorker(current);
      killLog.push(
        `kill ${k + 1} at ${((Date.now() - started) / 1000).toFixed(1)}s after ${effects} effects`,
      );
      current = await spawn();
    }
    const receipts = await ingesting;
    await pool(receipts, 8, (r) =>
      waitFor(
        async () => containmentDone(await service.getState(r.incidentId)) || undefined,
        180_000,
        `containment of ${r.incidentId}`,
      ),
    );
    const states = await Promise.all(receipts.map((r) => service.getState(r.incidentId)));
    expect(new Set(states.map((s) => s.incidentId)).size).toBe(n);
    for (const s of states) {
      expect(s.actions.filter((a) => a.purpose === 'containment').map((a) => a.state)).toEqual([
        'succeeded',
        'succeeded',
      ]);
    }
    let repeated = 0;
    for (const t of targets) {
      expect(lab.store.ledger({ effect: 'contain', target: t.host })).toHaveLength(1);
      expect(lab.store.ledger({ effect: 'disable', target: t.account })).toHaveLength(1);
      repeated += lab.store.calls({ vendor: 'crowdstrike', pathIncludes: t.host }).length > 1 ? 1 : 0;
    }
    report('worker crash', {
      incidents: n,
      kills: killLog,
      labCalls: lab.store.calls().length,
      targetsLookedUpMoreThanOnce: repeated,
      checked: 'every incident finished containment; one contain and one disable effect per target',
      seconds: ((Date.now() - started) / 1000).toFixed(1),
    });
    await client.connection.close();
  }, 400_000);
});
