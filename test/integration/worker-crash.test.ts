import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLabServer, type RunningLab } from '../../src/connectors/lab';
import { normalizeGeneric } from '../../src/ingest/generic';
import { IncidentService } from '../../src/incidents/service';
import { parsePlaybook, PlaybookRegistry } from '../../src/playbooks/loader';
import { genericAlert } from '../support/alerts';
import { requireEnv, TEST_ENV } from '../support/env';
import { actionOf, testPlaybookYaml } from '../support/incident-harness';
import { waitFor } from '../support/processes';
import { testClient, uniqueTaskQueue } from '../support/temporal';
import { killWorker, spawnWorker, type WorkerProcess } from '../support/worker-process';

const playbook = testPlaybookYaml(`containment:
  isolate_host:
    approval: { critical: auto, high: auto, medium: auto, low: auto }
    retry: { initialInterval: 200ms, maximumInterval: 1s, maximumAttempts: 10, totalTimeout: 2m, attemptTimeout: 3s }`);

describe('a worker killed mid-containment (separate process, HTTP lab estate)', () => {
  let lab: RunningLab;
  let dataDir: string;
  const workers: WorkerProcess[] = [];
  beforeAll(async () => {
    lab = await startLabServer({ port: 0 });
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-crash-'));
  });
  afterAll(async () => {
    for (const w of workers) await killWorker(w);
    await lab?.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('finishes every incident after a restart, with each containment applied exactly once', async () => {
    const client = await testClient();
    const taskQueue = uniqueTaskQueue('crash');
    const spawnOne = async () => {
      const w = await spawnWorker({
        address: requireEnv(TEST_ENV.address),
        namespace: requireEnv(TEST_ENV.namespace),
        taskQueue,
        labUrl: lab.url,
        dataDir,
        client,
      });
      workers.push(w);
      return w;
    };
    const first = await spawnOne();
    const service = new IncidentService(
      client,
      taskQueue,
      PlaybookRegistry.from([parsePlaybook(playbook, 'crash.yaml')]),
    );
    // Containment requests take effect at the vendor but their answers are held: the worker dies in between.
    lab.store.addFault({
      match: { vendor: 'crowdstrike', pathPattern: 'devices-actions', method: 'POST' },
      fault: 'slow_response',
      holdMs: 4_000,
    });

    const hosts = Array.from({ length: 5 }, (_, i) => `ws-crash-${i}-${Date.now() % 100000}`);
    const receipts = await Promise.all(
      hosts.map((host) =>
        service.ingestAlert(
          normalizeGeneric(
            genericAlert({ severity: 'critical', hosts: [host], accounts: [] }),
            new Date().toISOString(),
          ),
          'siem',
        ),
      ),
    );
    await waitFor(
      async () =>
        lab.store.calls({ vendor: 'crowdstrike', method: 'POST', pathIncludes: 'devices-actions' }).length >=
        hosts.length,
      30_000,
      'containment requests in flight',
    );
    await killWorker(first);
    expect(lab.store.ledger({ effect: 'contain' }).filter((e) => hosts.includes(e.target))).toHaveLength(
      hosts.length,
    );

    await spawnOne();
    for (const r of receipts) {
      await waitFor(
        async () => {
          const s = await service.getState(r.incidentId);
          return s.phase === 'eradication' ? s : undefined;
        },
        60_000,
        `incident ${r.incidentId} to finish containment`,
      );
      const s = await service.getState(r.incidentId);
      const host = s.scope.hosts[0]!;
      const action = actionOf(s, 'isolate_host', host);
      expect(action.state).toBe('succeeded');
      // The retry after the crash found the host already contained.
      expect(action.attempts).toBeGreaterThanOrEqual(2);
      expect(action.result?.alreadyInState).toBe(true);
    }
    for (const host of hosts) {
      expect(lab.store.ledger({ effect: 'contain', target: host })).toHaveLength(1);
      expect(lab.store.findHost(host)?.status).toBe('contained');
    }
    await client.connection.close();
  }, 120_000);
});
