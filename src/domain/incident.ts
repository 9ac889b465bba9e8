import type { IncidentEnrichment } from './enrichment';
import type { AlertEntities, AlertSeverity, NormalizedAlert, Severity } from './alert';

export const PHASES = [
  'identification',
  'containment',
  'investigation',
  'eradication',
  'recovery',
  'lessons_learned',
  'closed',
] as const;
export type Phase = (typeof PHASES)[number];

export type IncidentStatus = 'open' | 'closed';
export type Resolution = 'false_positive' | 'resolved';

/** Roles a verified identity may hold. The API maps bearer tokens to these; the workflow enforces them. */
export const ROLES = ['ingest', 'responder', 'approver', 'auditor', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** A verified identity, as the API passes it to the workflow (never taken from a request body). */
export interface Actor {
  subject: string;
  roles: Role[];
}

/**
 * An action's kind: the name of a catalogue action (`isolate_host`, `run_antivirus_scan`, ...) or of the undo
 * one declares (`release_host`). The catalogue is open (src/actions), so this is a name, not a closed union.
 */
export type ActionKind = string;

/** The phases a playbook names catalogue actions in. */
export const ACTION_PHASES = ['containment', 'investigation', 'eradication'] as const;
export type ActionPhase = (typeof ACTION_PHASES)[number];
/** Why an action runs: the phase that planned it, or recovery for the undo of a containment action. */
export type ActionPurpose = ActionPhase | 'recovery';

export type ApprovalPolicy = 'auto' | 'approve' | 'two_person' | 'never';

export const ACTION_STATES = [
  'pending_approval',
  'approved',
  'rejected',
  'expired',
  'running',
  'succeeded',
  'failed',
  'skipped',
  'compensated',
] as const;
export type ActionState = (typeof ACTION_STATES)[number];

export interface ActionAttemptError {
  type: string;
  message: string;
  at: string;
  attempt?: number;
}

export interface IncidentAction {
  actionId: string;
  kind: ActionKind;
  /** How people read the kind, from the catalogue ("Isolate host"); absent for undos and older incidents. */
  label?: string;
  target: string;
  /**
   * containment: stops the threat; investigation and eradication: what those phases of the playbook name;
   * recovery: undoes a containment action.
   */
  purpose: ActionPurpose;
  /** For recovery actions: the containment action this undoes. */
  undoes?: string;
  /** The file hashes it acts on, when it takes them from the alerts (fixed when planned: what was approved). */
  files?: string[];
  policy: ApprovalPolicy;
  state: ActionState;
  approvalId?: string;
  /** Activity attempts across all runs of this action (retries within a run, and responder retries). */
  attempts: number;
  /** How many times a responder asked for a retry after a permanent failure. */
  responderRetries: number;
  lastError?: ActionAttemptError;
  result?: {
    alreadyInState: boolean;
    vendorRef?: string;
    /** What the action's answer says beyond success (e.g. files the vendor could not act on). */
    detail?: string;
    verifiedState?: string;
    /** Evidence the action collected (an investigation package), also listed in the incident's evidence. */
    evidenceId?: string;
  };
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** Why it is in its state, when that is not obvious (e.g. "policy never", "incident closed"). */
  reason?: string;
  /** Who resolved a failure with retry/skip, and why. */
  resolutions: { resolution: 'retry' | 'skip'; by: string; at: string; comment?: string }[];
  /** For containment: set once its undo has succeeded. */
  compensatedBy?: string;
  /** A responder's retry/skip not yet taken up by the action (kept in state so it survives continue-as-new). */
  requestedResolution?: 'retry' | 'skip';
  /** True for false-positive compensations: retried without an attempt limit. */
  saga?: boolean;
}

/** A Slack user (`U...`) in a workspace (`T...`), as Slack's signed interaction names them. */
export interface SlackIdentity {
  userId: string;
  teamId: string;
}

/** How a decision reached the incident: the API's update, a signal, or a Slack button (an update too). */
export type DecisionVia = 'update' | 'signal' | 'slack';

export interface ApprovalDecision {
  decision: 'approve' | 'reject';
  decider: string;
  roles: Role[];
  comment?: string;
  at: string;
  via: DecisionVia;
  /** For `via: 'slack'`: who clicked. */
  slack?: SlackIdentity;
}

/** A decision the workflow refused, kept for auditors (self-approval, a second decision, not an approver...). */
export interface RefusedDecision {
  decider: string;
  /** The roles the decider held (records made before roles were kept have none). */
  roles?: Role[];
  decision: 'approve' | 'reject';
  reason: string;
  /** The refusal type (one of the contracts' REFUSALS). */
  type: string;
  at: string;
  via: DecisionVia;
  slack?: SlackIdentity;
}

/** A refused request with no approval to be kept on: a decision on an unknown approval, or a close request. */
export interface RefusedRequest {
  request: 'decideApproval' | 'closeIncident';
  approvalId?: string;
  /** `approve` or `reject` for a decision; the requested resolution for a close. */
  decision: string;
  decider: string;
  roles: Role[];
  reason: string;
  type: string;
  at: string;
  via: DecisionVia;
  slack?: SlackIdentity;
}

/** What the incident waits for before its next step, when people must act; shown to responders. */
export interface WaitingFor {
  phase: Phase;
  since: string;
  /** One line for people: what is awaited and what to do about it. */
  summary: string;
  approvals: { approvalId: string; action: ActionKind; target: string }[];
  failedActions: { actionId: string; kind: ActionKind; target: string }[];
  /** Actions still running (their outcome decides what recovery undoes). */
  runningActions: string[];
}

export type ApprovalState = 'pending' | 'approved' | 'rejected' | 'expired' | 'cancelled';

export interface Approval {
  approvalId: string;
  actionIds: string[];
  policy: 'approve' | 'two_person';
  state: ApprovalState;
  requiredApprovers: number;
  /** What the approver is deciding: the action, its target, why, and what undoing it takes. */
  request: { action: ActionKind; target: string; why: string; undo: string; severity: Severity };
  /** Identities that raised or requested the action; they may not approve it. */
  requestedBy: string[];
  decisions: ApprovalDecision[];
  refusedAttempts: RefusedDecision[];
  requestedAt: string;
  escalateAt?: string;
  expiresAt?: string;
  escalatedAt?: string;
  decidedAt?: string;
  /** For expired approvals: what `onExpiry` applied. */
  expiryOutcome?: 'approve' | 'reject';
  /** Context that arose after the request, e.g. that eradication completed while it waited. */
  notice?: string;
}

export interface ChecklistItem {
  itemId: string;
  text: string;
  /** The eradication action whose success on every target completes the item (the playbook names it). */
  action?: string;
  completedBy?: string;
  completedAt?: string;
  note?: string;
}

export interface EvidenceSummary {
  evidenceId: string;
  name: string;
  subject: string;
  sha256: string;
  sizeBytes: number;
  location: string;
  collectedBy: string;
  collectedAt: string;
  timeZone: string;
  source: string;
  window?: { from: string; to: string };
}

export interface NotificationRecord {
  route: string;
  subject: string;
  reason: string;
  phase: Phase;
  at: string;
  delivered: boolean;
  error?: string;
}

export interface IncidentNote {
  noteId: string;
  kind: 'note' | 'lessons_learned';
  text: string;
  author: string;
  at: string;
}

export interface AlertSummary {
  alertId: string;
  source: string;
  title: string;
  ruleName: string;
  severity: AlertSeverity;
  detectedAt: string;
  receivedAt: string;
  raisedBy: string;
}

export interface IncidentMetrics {
  /** Seconds from the earliest observed activity to detection, when the source reports when activity began. */
  mttdSeconds: number | null;
  /** Seconds from opening to the first human response (a decision, note, checklist item, retry or skip). */
  mttaSeconds: number | null;
  /** Seconds from opening to containment complete. */
  mttcSeconds: number | null;
  /** Seconds from opening to recovery complete (or closure as a false positive). */
  mttrSeconds: number | null;
}

export interface TimelineMilestones {
  firstActivityAt?: string;
  detectedAt?: string;
  openedAt: string;
  acknowledgedAt?: string;
  containedAt?: string;
  recoveredAt?: string;
  closedAt?: string;
}

/**
 * The incident's ticket in the SOC's ticketing system (playbooks with `tickets.sync` only). Kept in the state
 * so a retried or continued-as-new run never opens a second ticket and never repeats a comment.
 */
export interface IncidentTicket {
  /** The ticket system's vendor (`jira`, `servicenow`), or `none` when the worker has none configured. */
  system: string;
  /**
   * `open` (synced), `closed` (closed at the vendor), `not_configured` (the worker has no ticket system:
   * recorded once, never tried again), `failed` (opening failed for good: nothing more is sent).
   */
  status: 'open' | 'closed' | 'not_configured' | 'failed';
  /** The key later calls take (Jira issue key, ServiceNow `sys_id`). */
  key?: string;
  /** What people call it (`SOC-42`, `INC0010001`). */
  displayId?: string;
  url?: string;
  openedAt?: string;
  closedAt?: string;
  /** Event keys already sent (or skipped after a permanent failure), in order: `phase:containment:<at>`, `approval:apr-1`. */
  synced: string[];
  /** The last call that failed for good (its event is skipped). */
  lastError?: string;
}

export interface IncidentState {
  incidentId: string;
  workflowId: string;
  title: string;
  severity: Severity;
  phase: Phase;
  status: IncidentStatus;
  resolution?: Resolution;
  playbook: { id: string; name: string; version: number; hash: string };
  correlationKey: string;
  openedAt: string;
  scope: AlertEntities;
  alerts: { count: number; deduplicated: number; recent: AlertSummary[] };
  actions: IncidentAction[];
  approvals: Approval[];
  checklist: ChecklistItem[];
  evidence: EvidenceSummary[];
  notifications: NotificationRecord[];
  notes: IncidentNote[];
  phaseTimestamps: Partial<Record<Phase, string>>;
  milestones: TimelineMilestones;
  metrics: IncidentMetrics;
  /** How many times the workflow continued as new (history kept small for long incidents). */
  runs: number;
  /** Decisions sent as signals on approvals that do not exist (refusals on known approvals are kept on them). */
  refusedSignals?: (RefusedDecision & { approvalId: string })[];
  /** Refused updates with no approval to be kept on: decisions on unknown approvals, refused close requests. */
  refusedRequests?: RefusedRequest[];
  /** Hosts whose logs were snapshotted (or whose snapshot failed, see the notes): each host once. */
  investigatedHosts?: string[];
  /** Set while the incident waits for people before its next step (today: recovery waiting on containment). */
  waitingFor?: WaitingFor;
  /** The mirrored ticket (only when the playbook enables ticket sync). */
  ticket?: IncidentTicket;
  /** Times the incident went back to containment because a correlated alert widened it after recovery began. */
  reopened: number;
  /** Threat-intelligence lookups of identification (only for playbooks with an `enrichment` section). */
  enrichment?: IncidentEnrichment;
}

export function summarizeAlert(alert: NormalizedAlert, alertId: string, raisedBy: string): AlertSummary {
  return {
    alertId,
    source: alert.source,
    title: alert.title,
    ruleName: alert.ruleName,
    severity: alert.severity,
    detectedAt: alert.detectedAt,
    receivedAt: alert.receivedAt,
    raisedBy,
  };
}
