/**
 * The one place where API, CLI, worker, tests and workflows agree on names: the incident workflow's messages
 * (signals, updates, queries) and input, its search attributes, the task queue, and how workflow and incident
 * IDs are built. It stands above src/domain and src/playbooks (the input carries a playbook), below everything
 * that talks to the workflow. Workflow-safe: no Node builtins, no I/O.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { NormalizedAlert, Severity } from './domain/alert';
import type {
  Actor,
  Approval,
  ChecklistItem,
  IncidentAction,
  IncidentNote,
  IncidentState,
  Resolution,
  SlackIdentity,
} from './domain/incident';
import type { Playbook } from './playbooks/schema';

export * from './domain/search-attributes';

export const DEFAULT_TASK_QUEUE = 'quell-incidents';
export const INCIDENT_WORKFLOW_TYPE = 'incidentWorkflow';

/**
 * The evidence activity's heartbeat timeout, and how often it beats while working (a third of it, so one late
 * beat is not a timeout). Shared so the workflow's timeout and the activity's beat cannot drift apart.
 */
export const EVIDENCE_HEARTBEAT_TIMEOUT_MS = 60_000;
export const EVIDENCE_HEARTBEAT_EVERY_MS = EVIDENCE_HEARTBEAT_TIMEOUT_MS / 3;

// ---- IDs ----
const WORKFLOW_ID_PREFIX = 'quell-incident-';

/**
 * The workflow ID for a correlation key's digest. Alerts with the same correlation key land on the same
 * workflow ID, which is what makes update-with-start open exactly one incident for a burst.
 */
export function incidentWorkflowId(correlationDigest: string): string {
  return `${WORKFLOW_ID_PREFIX}${correlationDigest}`;
}

/**
 * An incident's ID: the correlation digest (which names the workflow) and the last six hex digits of the
 * incident's first run ID (which tells incidents apart when a later incident reuses a closed one's key).
 */
export function buildIncidentId(workflowId: string, firstExecutionRunId: string): string {
  const digest = workflowId.startsWith(WORKFLOW_ID_PREFIX)
    ? workflowId.slice(WORKFLOW_ID_PREFIX.length)
    : workflowId;
  return `INC-${digest}-${incidentRunTag(firstExecutionRunId)}`;
}

/**
 * The part of an incident ID taken from its first run ID: the last six hex digits. The tail, not the head:
 * run IDs are UUIDv7, whose leading digits are a timestamp shared by every run started within hours.
 */
export function incidentRunTag(firstExecutionRunId: string): string {
  return firstExecutionRunId.replace(/-/g, '').slice(-6);
}

/** An incident ID: `INC-<16 hex digits naming the workflow>-<6 hex digits of its first run>`. */
export const INCIDENT_ID_PATTERN = /^INC-([0-9a-f]{16})-([0-9a-f]{6})$/;

/** The workflow ID an incident ID lives under, or undefined when the text is not an incident ID. */
export function parseIncidentId(incidentId: string): { workflowId: string; runTag: string } | undefined {
  const m = INCIDENT_ID_PATTERN.exec(incidentId);
  if (!m || !m[1] || !m[2]) return undefined;
  return { workflowId: incidentWorkflowId(m[1]), runTag: m[2] };
}

// ---- Messages ----
export interface AlertReceipt {
  incidentId: string;
  alertId: string;
  /** True when this alert's identity was already recorded on the incident (a redelivery). */
  deduplicated: boolean;
  alertCount: number;
  severity: Severity;
}

export interface IngestAlertRequest {
  alert: NormalizedAlert;
  /** The verified identity that delivered the alert (ingest token subject or signing source). */
  raisedBy: string;
}

export interface ApprovalDecisionRequest {
  approvalId: string;
  decision: 'approve' | 'reject';
  comment?: string;
  /** Verified by the API; never taken from a request body. */
  actor: Actor;
  /** Where the decision was made, when not through the API itself (a Slack button). */
  via?: 'slack';
  /** The Slack user and workspace that clicked, verified by Slack's request signature. */
  slack?: SlackIdentity;
}

export interface ResolveFailedActionRequest {
  actionId: string;
  resolution: 'retry' | 'skip';
  comment?: string;
  actor: Actor;
}

export interface CompleteChecklistItemRequest {
  itemId: string;
  note?: string;
  actor: Actor;
}

export interface AddNoteRequest {
  text: string;
  kind: 'note' | 'lessons_learned';
  actor: Actor;
}

export interface CloseIncidentRequest {
  resolution: Resolution;
  comment?: string;
  actor: Actor;
}

export interface CloseReceipt {
  incidentId: string;
  resolution: Resolution;
  /** Containment actions that will be undone (in this order) before the incident closes. */
  compensating: string[];
}

/** Input of the incident workflow: the policy it runs under, and on continue-as-new, everything so far. */
export interface IncidentWorkflowInput {
  correlationKey: string;
  playbook: Playbook;
  playbookHash: string;
  /**
   * Keep entity names out of search attributes (hosts, accounts, the correlation key): Temporal indexes them in
   * plain text where no payload codec reaches. Set when payload encryption is on.
   */
  redactSearchAttributes?: boolean;
  /**
   * With `redactSearchAttributes`: the correlation search attribute's value, keyed by the API with the
   * deployment secret (incidents started before have none: the workflow then writes an unkeyed digest).
   */
  correlationTag?: string;
  /** Set only when continuing as new. */
  carried?: CarriedIncident;
}

/** What one run hands to the next on continue-as-new: the state plus what the query does not show. */
export interface CarriedIncident {
  state: IncidentState;
  /** Compact digests of every alert identity recorded, so dedup holds across runs. */
  seenAlertDigests: string[];
  /** Actors who raised alerts (they may not approve the containment those alerts requested). */
  raisers: string[];
  nextIds: { approval: number; note: number; action: number };
  closeRequest?: CloseIncidentRequest & { at: string };
}

/** Records an alert on the incident (opening it when the update starts the workflow). */
export const ingestAlertUpdate = defineUpdate<AlertReceipt, [IngestAlertRequest]>('ingestAlert');
/** An approver's decision; the validator refuses unknown, decided, expired, self- and duplicate approvals. */
export const decideApprovalUpdate = defineUpdate<Approval, [ApprovalDecisionRequest]>('decideApproval');
/** The same decision for callers that cannot wait for an answer; refusals are recorded in the state. */
export const decideApprovalSignal = defineSignal<[ApprovalDecisionRequest]>('decideApproval');
/** Retry or skip a permanently failed action (resumes from that action, never from the start). */
export const resolveFailedActionUpdate = defineUpdate<IncidentAction, [ResolveFailedActionRequest]>(
  'resolveFailedAction',
);
export const completeChecklistItemUpdate = defineUpdate<ChecklistItem, [CompleteChecklistItemRequest]>(
  'completeChecklistItem',
);
export const addNoteUpdate = defineUpdate<IncidentNote, [AddNoteRequest]>('addNote');
/** Close as resolved (after recovery) or as a false positive (any time; undoes all containment first). */
export const closeIncidentUpdate = defineUpdate<CloseReceipt, [CloseIncidentRequest]>('closeIncident');
/** The incident's full state. */
export const incidentStateQuery = defineQuery<IncidentState>('incidentState');

/**
 * Why the workflow refuses a message: the `type` of the ApplicationFailure a validator throws, and the HTTP
 * status the API answers with. Callers branch on the type, never on the message text.
 */
export const REFUSALS = {
  IncidentClosed: 409,
  IncidentClosing: 409,
  ApprovalNotFound: 404,
  ApprovalAlreadyDecided: 409,
  ApprovalExpired: 409,
  NotAnApprover: 403,
  SelfApproval: 403,
  DuplicateApprover: 409,
  ActionNotFound: 404,
  ActionNotFailed: 409,
  ChecklistItemNotFound: 404,
  ChecklistItemCompleted: 409,
  WrongPhase: 409,
  InvalidRequest: 400,
} as const;
export type RefusalType = keyof typeof REFUSALS;

export function isRefusalType(type: unknown): type is RefusalType {
  return typeof type === 'string' && Object.prototype.hasOwnProperty.call(REFUSALS, type);
}
