/**
 * The floor: the least Temporal work that has the shape of Quell's path from alert to containment, so the
 * bench can say how much of Quell's latency is Temporal's and how much is Quell's own.
 *
 * Shape, as in workflows/incident.ts: update-with-start delivers the first alert (a validator, then a handler
 * that deduplicates and answers a receipt); in the same workflow task the identification notice and the
 * isolation are scheduled together; the isolation activity running is the "contained" moment. Unlike Quell it
 * has no playbook, no state document, no search attributes and no phases after containment: it completes.
 *
 * `floorIntake` and `floorAwaitingDecision` are the same alert intake with less after it, the floors of the
 * ingest and memory benchmarks (whose Quell playbooks also do less).
 */
import { allHandlersFinished, condition, proxyActivities, setHandler } from '@temporalio/workflow';
import {
  floorAlertUpdate,
  floorDecisionUpdate,
  floorWaitingQuery,
  type FloorActivities,
  type FloorAlert,
} from './contract';

const activities = proxyActivities<FloorActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumAttempts: 5 },
});

/** The alert update's handlers; returns the alert identities seen so far. */
function takeAlerts(): Set<string> {
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
  return seen;
}

export async function floorIncident(host: string): Promise<number> {
  const seen = takeAlerts();
  await condition(() => seen.size > 0);
  await Promise.all([activities.notify(host), activities.isolate(host)]);
  await condition(allHandlersFinished);
  return seen.size;
}

/** Takes alerts until the bench's run ends (it is terminated with the server): no activities, no timers. */
export async function floorIntake(): Promise<number> {
  const seen = takeAlerts();
  await condition(() => false);
  return seen.size;
}

/** Sends the identification notice for its first alert, then waits on one decision. */
export async function floorAwaitingDecision(host: string): Promise<boolean> {
  const seen = takeAlerts();
  let notified = false;
  let decision: boolean | undefined;
  setHandler(floorWaitingQuery, () => ({ notified, waiting: decision === undefined }));
  setHandler(floorDecisionUpdate, ({ approve }) => {
    decision = approve;
  });
  await condition(() => seen.size > 0);
  await activities.notify(host);
  notified = true;
  await condition(() => decision !== undefined);
  await condition(allHandlersFinished);
  return decision!;
}
