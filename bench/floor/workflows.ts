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
 *
 * `floorIncidentWithConnectors` and `floorIncidentWithInvestigation` add Quell's work back, step by step (see
 * bench/README.md), so the throughput benchmark can tell the cost of the work from Quell's own overhead.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import {
  SA_ACCOUNTS,
  SA_CORRELATION_KEY,
  SA_HOSTS,
  SA_INCIDENT_ID,
  SA_PHASE,
  SA_PLAYBOOK,
  SA_SEVERITY,
  SA_STATUS,
} from '../../src/domain/search-attributes';
import { EVIDENCE_HEARTBEAT_TIMEOUT_MS } from '../../src/contracts';
import {
  FLOOR_PATCH,
  floorAlertUpdate,
  floorDecisionUpdate,
  floorWaitingQuery,
  type FloorActivities,
  type FloorAlert,
  type FloorConnectorActivities,
} from './contract';

const activities = proxyActivities<FloorActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumAttempts: 5 },
});

// Quell's own activity options (workflows/incident/proxies.ts, and the bench-contain playbook's isolate_host
// retry), so a task lost under load is retried after the same timeouts as Quell's.
const notifyActivities = proxyActivities<FloorConnectorActivities>({
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '5m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
});

const isolateActivities = proxyActivities<FloorConnectorActivities>({
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '5m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 8 },
});

const evidenceActivities = proxyActivities<FloorConnectorActivities>({
  startToCloseTimeout: '5m',
  heartbeatTimeout: EVIDENCE_HEARTBEAT_TIMEOUT_MS,
  scheduleToCloseTimeout: '30m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 10 },
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

/**
 * The identification notice and the isolation, scheduled together as in `floorIncident`, through Quell's Slack
 * and CrowdStrike connectors (the bench's activities call them). The notice and the action's comment carry
 * what Quell's would for a bench alert on the host; the incident ID is the workflow ID.
 */
function containThroughConnectors(host: string, incidentId: string): Promise<unknown> {
  const title = `Bench: ransomware behaviour on ${host}`;
  return Promise.all([
    notifyActivities.notifyStakeholders({
      route: 'soc',
      incidentId,
      subject: `identification: ${title}`,
      text: `New critical incident "${title}". Scope: hosts: ${host}`,
      severity: 'critical',
      dedupKey: incidentId,
      idempotencyKey: `${incidentId}:notify:1`,
    }),
    isolateActivities.isolateHost({
      incidentId,
      actionId: 'act-1',
      target: host,
      comment: `isolate_host ${host} (${title})`,
    }),
  ]);
}

/** `floorIncident` whose notice and isolation go to the lab through Quell's connectors. */
export async function floorIncidentWithConnectors(host: string): Promise<number> {
  const { seen } = takeAlerts();
  await condition(() => seen.size > 0);
  await containThroughConnectors(host, workflowInfo().workflowId);
  await condition(allHandlersFinished);
  return seen.size;
}

/** Quell's evidence window around the detection (the bench-contain playbook's: one minute either side). */
const EVIDENCE_WINDOW_MS = 60_000;

/**
 * `floorIncidentWithConnectors`, then what a `bench-contain` incident does after containment: its log snapshot
 * in an activity of its own, stored as evidence. Its search attributes are Quell's own (the namespace has them
 * registered, and SQL visibility has no room for as many again), upserted where Quell's are: all eight in the
 * first task, then the phase at each change. One `patched()` call at the start, as Quell's first task makes,
 * so its history has the marker and the SDK's `TemporalChangeVersion` upsert too. It then parks, as Quell's
 * incident waits in eradication on its checklist, until a `floorDecision` update (the bench sends none: it
 * is still parked when the run's server goes away).
 */
export async function floorIncidentWithInvestigation(host: string): Promise<number> {
  patched(FLOOR_PATCH);
  const { seen } = takeAlerts();
  let decided = false;
  setHandler(floorDecisionUpdate, () => {
    decided = true;
  });
  const incidentId = workflowInfo().workflowId;
  upsertSearchAttributes([
    { key: SA_INCIDENT_ID, value: incidentId },
    { key: SA_SEVERITY, value: 'critical' },
    { key: SA_PHASE, value: 'identification' },
    { key: SA_STATUS, value: 'open' },
    { key: SA_PLAYBOOK, value: 'bench-floor' },
    { key: SA_CORRELATION_KEY, value: host },
    { key: SA_HOSTS, value: [host] },
    { key: SA_ACCOUNTS, value: [] },
  ]);
  await condition(() => seen.size > 0);
  const detectedAt = Date.now();
  upsertSearchAttributes([{ key: SA_PHASE, value: 'containment' }]);
  await containThroughConnectors(host, incidentId);
  upsertSearchAttributes([{ key: SA_PHASE, value: 'investigation' }]);
  await evidenceActivities.snapshotLogs({
    incidentId,
    host,
    from: new Date(detectedAt - EVIDENCE_WINDOW_MS).toISOString(),
    to: new Date(detectedAt + EVIDENCE_WINDOW_MS).toISOString(),
    idempotencyKey: `${incidentId}:evidence:logs:${host}`,
  });
  upsertSearchAttributes([{ key: SA_PHASE, value: 'eradication' }]);
  await condition(() => decided);
  await condition(allHandlersFinished);
  return seen.size;
}
