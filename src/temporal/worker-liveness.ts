import { status as GrpcStatus } from '@grpc/grpc-js';
import { isGrpcServiceError, type Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

/**
 * How often Quell's workers report to Temporal (Temporal's worker heartbeats), and how old the newest report
 * may be before the API stops counting the worker as live. Three missed reports: a worker that was SIGKILLed
 * is noticed within about 15 s, while a busy one is never mistaken for a dead one.
 */
export const WORKER_HEARTBEAT_INTERVAL_MS = 5_000;
export const WORKER_HEARTBEAT_STALE_MS = 3 * WORKER_HEARTBEAT_INTERVAL_MS;
/**
 * Without worker heartbeats (a Temporal server that lacks them or has them off), a poller counts as live when it
 * polled within this window. Idle pollers poll about once a minute (the server's long-poll expiry), so this is
 * the best a poller list can tell: a dead worker can look live for up to this long.
 */
export const POLLER_FRESH_MS = 70_000;

export interface WorkerLiveness {
  /** Workers seen live on the task queue. */
  live: number;
  /**
   * `heartbeats`: from Temporal's worker heartbeats (a dead worker is noticed within
   * {@link WORKER_HEARTBEAT_STALE_MS}); `pollers`: from the task queue's poller list (within {@link POLLER_FRESH_MS}).
   */
  source: 'heartbeats' | 'pollers';
}

const RUNNING = temporal.api.enums.v1.WorkerStatus.WORKER_STATUS_RUNNING;
const quote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const timestampMs = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
  t ? Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : 0;

/** Whether the server answered that it does not offer worker heartbeats (an older server, or the feature off). */
function heartbeatsUnavailable(err: unknown): boolean {
  return (
    isGrpcServiceError(err) &&
    (err.code === GrpcStatus.UNIMPLEMENTED ||
      err.code === GrpcStatus.FAILED_PRECONDITION ||
      err.code === GrpcStatus.PERMISSION_DENIED)
  );
}

/**
 * The workers serving a task queue, as Temporal sees them. Prefers worker heartbeats (fresh to within seconds);
 * falls back to the poller list when the server has no heartbeats or no worker on this queue sends them.
 * Thrown: the gRPC error when Temporal cannot answer either (the caller decides what "unreachable" means).
 */
export async function workerLiveness(
  client: Client,
  taskQueue: string,
  opts: { timeoutMs?: number; now?: () => number } = {},
): Promise<WorkerLiveness> {
  const deadline = () => new Date(Date.now() + (opts.timeoutMs ?? 3_000));
  const now = opts.now ?? Date.now;
  const namespace = client.options.namespace;
  try {
    const resp = await client.connection.withDeadline(deadline(), () =>
      client.workflowService.listWorkers({
        namespace,
        pageSize: 100,
        query: `TaskQueue = ${quote(taskQueue)}`,
      }),
    );
    const reports = (resp.workersInfo ?? []).map((w) => w.workerHeartbeat).filter((hb) => !!hb);
    // No worker on this queue has ever reported: they may run an SDK without heartbeats; ask the pollers.
    if (reports.length > 0) {
      const live = reports.filter(
        (hb) => hb.status === RUNNING && now() - timestampMs(hb.heartbeatTime) < WORKER_HEARTBEAT_STALE_MS,
      ).length;
      return { live, source: 'heartbeats' };
    }
  } catch (err) {
    if (!heartbeatsUnavailable(err)) throw err;
  }
  const resp = await client.connection.withDeadline(deadline(), () =>
    client.workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name: taskQueue },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    }),
  );
  const live = (resp.pollers ?? []).filter((p) => now() - timestampMs(p.lastAccessTime) < POLLER_FRESH_MS);
  return { live: live.length, source: 'pollers' };
}

/**
 * One liveness answer shared by every caller for up to `maxAgeMs`. In an alert storm hundreds of intake calls
 * wait on busy workers at once; each asking Temporal for itself (a ListWorkers per call, every few seconds)
 * would load the server it is waiting on. A failed probe is not kept: the next caller asks again.
 */
export class SharedLivenessProbe {
  private last: { at: number; answer: Promise<WorkerLiveness> } | undefined;

  constructor(
    private readonly probe: () => Promise<WorkerLiveness>,
    private readonly maxAgeMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The latest answer if it is fresh enough, else a new probe (joined by everyone who asks meanwhile). */
  liveness(): Promise<WorkerLiveness> {
    const at = this.now();
    if (this.last && at - this.last.at < this.maxAgeMs) return this.last.answer;
    const answer = this.probe();
    const entry = { at, answer };
    this.last = entry;
    answer.catch(() => {
      if (this.last === entry) this.last = undefined;
    });
    return answer;
  }
}
