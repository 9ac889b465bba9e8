/**
 * Bounds how many updates this process has in flight on one incident. Temporal refuses more than
 * `limit.workflowExecution.maxInFlightUpdates` (10 by default) at once on one workflow with RESOURCE_EXHAUSTED;
 * a burst of senders correlating into one incident then spends its time in retry back-off (16 concurrent
 * senders took 8x as long as 8). Queuing here, first come first served, keeps the incident at the limit
 * instead of over it. Other API replicas still meet the server's limit and retry.
 */
export class UpdateGate {
  private readonly queues = new Map<string, { running: number; waiting: (() => void)[] }>();

  constructor(private readonly perIncident: number) {}

  async run<T>(workflowId: string, call: () => Promise<T>): Promise<T> {
    let queue = this.queues.get(workflowId);
    if (!queue) {
      queue = { running: 0, waiting: [] };
      this.queues.set(workflowId, queue);
    }
    if (queue.running >= this.perIncident) {
      await new Promise<void>((resolve) => queue.waiting.push(resolve));
    } else {
      queue.running++;
    }
    try {
      return await call();
    } finally {
      // The slot passes straight to the next waiter, so `running` never dips below the limit under a burst.
      const next = queue.waiting.shift();
      if (next) next();
      else if (--queue.running === 0) this.queues.delete(workflowId);
    }
  }
}
