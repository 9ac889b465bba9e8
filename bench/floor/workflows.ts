/**
 * The floor: the least Temporal work that has the shape of Quell's path from alert to containment, so the
 * bench can say how much of Quell's latency is Temporal's and how much is Quell's own.
 *
 * Shape, as in workflows/incident.ts: update-with-start delivers the first alert (a validator, then a handler
 * that deduplicates and answers a receipt); in the same workflow task the identification notice and the
 * isolation are scheduled together; the isolation activity running is the "contained" moment. Unlike Quell it
 * has no playbook, no state document, no search attributes and no phases after containment: it completes.
 */
import { allHandlersFinished, condition, proxyActivities, setHandler } from '@temporalio/workflow';
import { floorAlertUpdate, type FloorActivities, type FloorAlert } from './contract';

const activities = proxyActivities<FloorActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumAttempts: 5 },
});

export async function floorIncident(host: string): Promise<number> {
  const seen = new Set<string>();
  setHandler(
    floorAlertUpdate,
    (alert: FloorAlert) => {
      const deduplicated = seen.has(alert.alertId);
      seen.add(alert.alertId);
      return { deduplicated, alertCount: seen.size };
    },
    {
      validator: (alert: FloorAlert) => {
        if (!alert?.alertId) throw new Error('alert has no identity');
      },
    },
  );
  await condition(() => seen.size > 0);
  await Promise.all([activities.notify(host), activities.isolate(host)]);
  await condition(allHandlersFinished);
  return seen.size;
}
