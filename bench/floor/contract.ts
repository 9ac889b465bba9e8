/**
 * The floor's messages and types, shared by its workflows (bundled on their own), the bench's bare client and
 * the bare memory worker. Only `defineUpdate` / `defineQuery` from the workflow package: safe to import outside
 * the sandbox.
 */
import type { NotifyInput, SnapshotLogsInput } from '../../activities';
import type { EvidenceSummary } from '../../src/domain/incident';
import { defineQuery, defineUpdate } from '@temporalio/workflow';

export const FLOOR_WORKFLOW_TYPE = 'floorIncident';
/** Ingest's floor: an incident that takes alerts and stays open (the bench-ingest playbook does no more). */
export const FLOOR_INTAKE_WORKFLOW_TYPE = 'floorIntake';
/** Memory's floor: an incident that sends its notice, then waits on a decision (as bench-approval does). */
export const FLOOR_AWAITING_DECISION_WORKFLOW_TYPE = 'floorAwaitingDecision';
/** The floor with Quell's vendor work: the same shape as `floorIncident`, its activities call Quell's connectors. */
export const FLOOR_CONNECTORS_WORKFLOW_TYPE = 'floorIncidentWithConnectors';
/**
 * The floor with Quell's vendor work, then its investigation (log snapshot into the evidence store), its
 * search-attribute upserts and a patch marker; it parks afterwards, as a `bench-contain` incident does.
 */
export const FLOOR_INVESTIGATION_WORKFLOW_TYPE = 'floorIncidentWithInvestigation';
/** The one `patched()` id `floorIncidentWithInvestigation` takes (Quell's first task takes one too). */
export const FLOOR_PATCH = 'floor-patch-marker';

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

/** What the connector floors' isolate activity is given (Quell's `ActionInput`: `incidentId:actionId` keys it). */
export interface FloorActionInput {
  incidentId: string;
  actionId: string;
  target: string;
  comment: string;
}

/** The identification notice the connector floors send: the fields of Quell's `NotifyInput` it uses. */
export type FloorNotifyInput = Pick<
  NotifyInput,
  'route' | 'incidentId' | 'subject' | 'text' | 'severity' | 'dedupKey' | 'idempotencyKey'
>;

/** A log snapshot request, as Quell's. */
export type FloorSnapshotInput = SnapshotLogsInput;

/** What the snapshot activity answers: the stored record without its custody trail, as Quell's does. */
export type FloorEvidence = EvidenceSummary;

/**
 * The connector floors' activities (named as Quell's are): each calls Quell's connector for it directly,
 * without Quell's activities layer.
 */
export interface FloorConnectorActivities {
  isolateHost(input: FloorActionInput): Promise<{ alreadyInState: boolean; vendorRef?: string }>;
  notifyStakeholders(input: FloorNotifyInput): Promise<{ delivered: boolean; vendorRef?: string }>;
  snapshotLogs(input: FloorSnapshotInput): Promise<FloorEvidence>;
}
