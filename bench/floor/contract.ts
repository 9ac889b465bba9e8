/**
 * The floor's message and types, shared by its workflow (bundled on its own) and the bench's bare client.
 * Only `defineUpdate` from the workflow package: safe to import outside the sandbox.
 */
import { defineUpdate } from '@temporalio/workflow';

export const FLOOR_WORKFLOW_TYPE = 'floorIncident';

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

/** The floor's activities: no-ops; the bench records when each one runs. */
export interface FloorActivities {
  notify(host: string): Promise<void>;
  isolate(host: string): Promise<void>;
}
