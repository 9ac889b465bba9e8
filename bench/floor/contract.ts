/**
 * The floor's messages and types, shared by its workflows (bundled on their own), the bench's bare client and
 * the bare memory worker. Only `defineUpdate` / `defineQuery` from the workflow package: safe to import outside
 * the sandbox.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';

export const FLOOR_WORKFLOW_TYPE = 'floorIncident';
/** Ingest's floor: an incident that takes alerts and stays open (the bench-ingest playbook does no more). */
export const FLOOR_INTAKE_WORKFLOW_TYPE = 'floorIntake';
/** Memory's floor: an incident that sends its notice, then waits on a decision (as bench-approval does). */
export const FLOOR_AWAITING_DECISION_WORKFLOW_TYPE = 'floorAwaitingDecision';

export interface FloorAlert {
  alertId: string;
  host: string;
}

export interface FloorReceipt {
  deduplicated: boolean;
  alertCount: number;
}

/** Delivers an alert, as Quell's `ingestAlert` update does (validator, dedup, receipt). */
export const floorAlertUpdate = defineUpdate<FloorReceipt, [FloorAlert]>('floorAlert');

/** The decision a waiting floor incident waits on (an approver's answer, as Quell's approvals). */
export const floorDecisionUpdate = defineUpdate<void, [{ approve: boolean }]>('floorDecision');

/** Whether a waiting floor incident has sent its notice and still waits on its decision. */
export const floorWaitingQuery = defineQuery<{ notified: boolean; waiting: boolean }>('floorWaiting');

/** The floor's activities: no-ops; the bench records when each one runs. */
export interface FloorActivities {
  notify(host: string): Promise<void>;
  isolate(host: string): Promise<void>;
}
