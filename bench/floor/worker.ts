/**
 * The bare worker of the memory benchmark's floor, run in a process of its own (`node -r tsx/cjs`, as
 * `bin/quell.js` runs Quell from a checkout): SDK defaults, the prebuilt floor bundle, no-op activities. It
 * tells its parent (IPC) how many notices it has sent, since its activities run here and not in the bench.
 *
 * Environment: FLOOR_TEMPORAL_ADDRESS, FLOOR_TEMPORAL_NAMESPACE, FLOOR_TASK_QUEUE, FLOOR_WORKFLOW_BUNDLE.
 */
import { NativeConnection, Worker } from '@temporalio/worker';
import type { FloorActivities } from './contract';

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

async function main(): Promise<void> {
  const connection = await NativeConnection.connect({ address: required('FLOOR_TEMPORAL_ADDRESS') });
  let notified = 0;
  const activities: FloorActivities = {
    notify: async () => {
      notified++;
    },
    isolate: async () => undefined,
  };
  const worker = await Worker.create({
    connection,
    namespace: required('FLOOR_TEMPORAL_NAMESPACE'),
    taskQueue: required('FLOOR_TASK_QUEUE'),
    workflowBundle: { codePath: required('FLOOR_WORKFLOW_BUNDLE') },
    activities,
    shutdownGraceTime: 2_000,
  });
  let reported = -1;
  const report = setInterval(() => {
    if (notified !== reported) process.send?.({ notified: (reported = notified) });
  }, 200);
  process.once('SIGTERM', () => worker.shutdown());
  const running = worker.run();
  process.send?.({ running: true });
  try {
    await running;
  } finally {
    clearInterval(report);
    await connection.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(
      `floor worker: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
