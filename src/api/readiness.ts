import type { Client } from '@temporalio/client';
import { workerLiveness, type WorkerLiveness } from '../temporal/worker-liveness';

export interface Readiness {
  ready: boolean;
  temporal: { reachable: boolean; error?: string };
  worker: {
    polling: boolean;
    /** Workers seen live on the incident task queue. */
    pollers: number;
    /** How liveness was judged: Temporal's worker heartbeats (within seconds) or the poller list (about a minute). */
    source?: WorkerLiveness['source'];
    error?: string;
  };
}

/**
 * Ready means: Temporal answers, and at least one worker serves the incident task queue. Checked through
 * Temporal rather than in-process, so an API running apart from its workers reports them truthfully, and a
 * worker that died is noticed within seconds where the server has worker heartbeats (see worker-liveness.ts).
 */
export async function readinessCheck(client: Client, taskQueue: string): Promise<Readiness> {
  const result: Readiness = {
    ready: false,
    temporal: { reachable: false },
    worker: { polling: false, pollers: 0 },
  };
  try {
    await client.connection.withDeadline(new Date(Date.now() + 3_000), () =>
      client.workflowService.describeNamespace({ namespace: client.options.namespace }),
    );
    result.temporal.reachable = true;
  } catch (err) {
    result.temporal.error = (err as Error).message;
    return result;
  }
  try {
    const liveness = await workerLiveness(client, taskQueue);
    result.worker = { polling: liveness.live > 0, pollers: liveness.live, source: liveness.source };
  } catch (err) {
    result.worker.error = (err as Error).message;
  }
  result.ready = result.temporal.reachable && result.worker.polling;
  return result;
}
