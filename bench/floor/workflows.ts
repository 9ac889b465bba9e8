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
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
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

/** Alert identities seen so far, and how many alerts this run took. */
interface Intake {
  seen: Set<string>;
  taken: number;
}

/** The alert update's handlers. */
function takeAlerts(carried: string[] = []): Intake {
  const intake: Intake = { seen: new Set(carried), taken: 0 };
  const { seen } = intake;
  setHandler(
    floorAlertUpdate,
    (alert: FloorAlert) => {
      const deduplicated = seen.has(alert.alertId);
      seen.add(alert.alertId);
      intake.taken++;
      return { deduplicated, alertCount: seen.size };
    },
    {
      validator: (alert: FloorAlert) => {
        if (!alert?.alertId) throw new Error('alert has no identity');
      },
    },
  );
  return intake;
}

export async function floorIncident(host: string): Promise<number> {
  const { seen } = takeAlerts();
  await condition(() => seen.size > 0);
  await Promise.all([activities.notify(host), activities.isolate(host)]);
  await condition(allHandlersFinished);
  return seen.size;
}

/**
 * Takes alerts until the bench's run ends (it is terminated with the server): no activities, no timers. Like
 * Quell's incident it continues as new after 1,000 messages, so a long run of dedup hits does not grow one
 * history without bound (which slowed every workflow task of the floor's).
 */
export async function floorIntake(carried: string[] = []): Promise<number> {
  const intake = takeAlerts(carried);
  await condition(() => intake.taken >= FLOOR_MESSAGES_BEFORE_CONTINUE && allHandlersFinished());
  return continueAsNew<typeof floorIntake>([...intake.seen]);
}

const FLOOR_MESSAGES_BEFORE_CONTINUE = 1_000;

/** Sends the identification notice for its first alert, then waits on one decision. */
export async function floorAwaitingDecision(host: string): Promise<boolean> {
  const { seen } = takeAlerts();
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
