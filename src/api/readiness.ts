import type { Client } from '@temporalio/client';

export interface Readiness {
  ready: boolean;
  temporal: { reachable: boolean; error?: string };
  worker: { polling: boolean; pollers: number; error?: string };
}

/** A poller seen within this window counts as a live worker. */
const POLLER_FRESH_MS = 90_000;

/**
 * Ready means: Temporal answers, and at least one worker has polled the incident task queue recently. Checked
 * through Temporal rather than in-process, so an API running apart from its workers reports them truthfully.
 */
export async function readinessCheck(client: Client, taskQueue: string): Promise<Readiness> {
  const deadline = () => new Date(Date.now() + 3_000);
  const result: Readiness = {
    ready: false,
    temporal: { reachable: false },
    worker: { polling: false, pollers: 0 },
  };
  try {
    await client.connection.withDeadline(deadline(), () =>
      client.workflowService.describeNamespace({ namespace: client.options.namespace }),
    );
    result.temporal.reachable = true;
  } catch (err) {
    result.temporal.error = (err as Error).message;
    return result;
  }
  try {
    const resp = await client.connection.withDeadline(deadline(), () =>
      client.workflowService.describeTaskQueue({
        namespace: client.options.namespace,
        taskQueue: { name: taskQueue },
        taskQueueType: 1, // TASK_QUEUE_TYPE_WORKFLOW
      }),
    );
    const now = Date.now();
    const fresh = (resp.pollers ?? []).filter((p) => {
      const seconds = Number(p.lastAccessTime?.seconds ?? 0);
      return now - seconds * 1000 < POLLER_FRESH_MS;
    });
    result.worker.pollers = fresh.length;
    result.worker.polling = fresh.length > 0;
  } catch (err) {
    result.worker.error = (err as Error).message;
  }
  result.ready = result.temporal.reachable && result.worker.polling;
  return result;
}
