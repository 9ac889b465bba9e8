import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { normalizeGeneric } from '../../src/ingest/generic';
import { IncidentService } from '../../src/incidents/service';
import { parsePlaybook, PlaybookRegistry } from '../../src/playbooks/loader';
import { freePort } from '../../src/temporal/dev-server';
import { genericAlert } from '../support/alerts';
import { testPlaybookYaml } from '../support/incident-harness';
import { waitFor } from '../support/processes';
import { testClient, testEndpoint, uniqueTaskQueue } from '../support/temporal';
import { killWorker, spawnWorker } from '../support/worker-process';

describe('QUELL_SDK_METRICS_ADDRESS', () => {
  let client: Client;
  beforeAll(async () => {
    client = await testClient();
  });
  afterAll(() => client?.connection.close());

  it("makes `quell worker` serve the SDK's temporal_* metrics for Prometheus", async () => {
    const taskQueue = uniqueTaskQueue('sdk-metrics');
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-sdk-metrics-'));
    const address = `127.0.0.1:${await freePort()}`;
    const worker = await spawnWorker({
      ...testEndpoint(),
      taskQueue,
      labUrl: 'http://127.0.0.1:9',
      dataDir,
      client,
      env: { QUELL_SDK_METRICS_ADDRESS: address },
    });
    let workflowId: string | undefined;
    try {
      expect(worker.output()).toContain(`SDK metrics: http://${address}/metrics`);
      const service = new IncidentService(
        client,
        taskQueue,
        PlaybookRegistry.from([parsePlaybook(testPlaybookYaml(), 'test-pb.yaml')]),
      );
      const receipt = await service.ingestAlert(
        normalizeGeneric(genericAlert({ severity: 'low' }), new Date().toISOString()),
        'siem',
      );
      workflowId = receipt.workflowId;
      // The worker's first workflow task for the incident shows in the SDK's counters and latencies.
      const text = await waitFor(
        async () => {
          const res = await fetch(`http://${address}/metrics`);
          const body = await res.text();
          return res.ok &&
            /^temporal_workflow_completed|^temporal_workflow_task_execution_latency_count/m.test(body)
            ? body
            : undefined;
        },
        30_000,
        'temporal_* metrics after the first workflow task',
      );
      const names = new Set([...text.matchAll(/^(temporal_[a-z0-9_]+)[{ ]/gm)].map((m) => m[1]));
      for (const name of [
        'temporal_worker_task_slots_available',
        'temporal_workflow_task_schedule_to_start_latency_bucket',
        'temporal_workflow_task_execution_latency_bucket',
        'temporal_sticky_cache_size',
        'temporal_num_pollers',
      ]) {
        expect(names).toContain(name);
      }
      expect(text).toMatch(
        new RegExp(`temporal_worker_task_slots_available\\{[^}]*task_queue="${taskQueue}"`),
      );
    } finally {
      if (workflowId)
        await client.workflow
          .getHandle(workflowId)
          .terminate('test done')
          .catch(() => undefined);
      await killWorker(worker);
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);

  it('stops start-up with a message naming the variable when the address is unusable', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-sdk-metrics-'));
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    const start = (address: string) =>
      spawnWorker({
        ...testEndpoint(),
        taskQueue: uniqueTaskQueue('sdk-metrics-bad'),
        labUrl: 'http://127.0.0.1:9',
        dataDir,
        env: { QUELL_SDK_METRICS_ADDRESS: address },
      });
    try {
      await expect(start('localhost:9464')).rejects.toThrow(
        /QUELL_SDK_METRICS_ADDRESS: expected IP:port.*not a host name/,
      );
      await expect(start(`127.0.0.1:${port}`)).rejects.toThrow(
        new RegExp(
          `QUELL_SDK_METRICS_ADDRESS=127\\.0\\.0\\.1:${port}: .*Address already in use.*Choose a free port`,
        ),
      );
    } finally {
      taken.close();
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
