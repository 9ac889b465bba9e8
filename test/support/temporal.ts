import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { Runtime, type NativeConnection, type Worker } from '@temporalio/worker';
import type { ActivityDeps } from '../../activities';
import { connectClient, connectWorker, type TemporalEndpoint } from '../../src/temporal/connection';
import type { Tracing } from '../../src/telemetry/tracing';
import { createIncidentWorker } from '../../src/worker';
import { WORKER_HEARTBEAT_INTERVAL_MS } from '../../src/temporal/worker-liveness';
import { requireEnv, TEST_ENV } from './env';
import { quietSdkLogger } from './logger';

let runtimeInstalled = false;
function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: quietSdkLogger(), workerHeartbeatInterval: WORKER_HEARTBEAT_INTERVAL_MS });
  } catch {
    // Already installed in this test worker.
  }
}

export function testEndpoint(): TemporalEndpoint {
  return { address: requireEnv(TEST_ENV.address), namespace: requireEnv(TEST_ENV.namespace) };
}

export function uniqueTaskQueue(prefix = 'test'): string {
  return `${prefix}-${randomUUID()}`;
}

export interface TestWorker {
  worker: Worker;
  taskQueue: string;
  connection: NativeConnection;
  running: Promise<void>;
  stop(): Promise<void>;
}

/** Runs a real worker on its own task queue against the run's dev server, with the prebuilt bundle. */
export async function startTestWorker(
  opts: {
    taskQueue?: string;
    activityDeps?: ActivityDeps;
    endpoint?: TemporalEndpoint;
    tracing?: Tracing;
  } = {},
): Promise<TestWorker> {
  installQuietRuntime();
  const taskQueue = opts.taskQueue ?? uniqueTaskQueue();
  const endpoint = opts.endpoint ?? testEndpoint();
  const connection = await connectWorker(endpoint);
  const worker = await createIncidentWorker({
    connection,
    namespace: endpoint.namespace,
    taskQueue,
    activityDeps: opts.activityDeps ?? {},
    workflowBundle: { codePath: requireEnv(TEST_ENV.bundle) },
    ...(opts.tracing ? { tracing: opts.tracing } : {}),
    shutdownGraceTimeMs: 2_000,
  });
  const running = worker.run();
  return {
    worker,
    taskQueue,
    connection,
    running,
    stop: async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running.catch(() => undefined);
      await connection.close();
    },
  };
}

export async function testClient(endpoint: TemporalEndpoint = testEndpoint()): Promise<Client> {
  return connectClient(endpoint);
}
