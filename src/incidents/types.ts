import type { NormalizedAlert, Severity } from '../domain/alert';
import type { AlertReceipt, CloseReceipt } from '../contracts';
import type {
  Actor,
  Approval,
  ChecklistItem,
  IncidentAction,
  IncidentNote,
  IncidentState,
  IncidentStatus,
  Phase,
  SlackIdentity,
  Resolution,
} from '../domain/incident';

export interface IngestResult extends AlertReceipt {
  workflowId: string;
  playbookId: string;
}

export interface IncidentListFilter {
  status?: IncidentStatus;
  severity?: Severity;
  phase?: Phase;
  /** A playbook ID. */
  playbook?: string;
  limit: number;
  /** Opaque cursor from a previous page. */
  cursor?: string;
}

export interface IncidentCountFilter {
  phase?: Phase;
  /** A playbook ID. */
  playbook?: string;
}

export interface IncidentListItem {
  incidentId: string;
  workflowId: string;
  runId: string;
  /** The first alert's title (from the workflow memo; older incidents have none). */
  title?: string;
  severity?: string;
  phase?: string;
  status?: string;
  playbook?: string;
  hosts: string[];
  startedAt: string;
  closedAt?: string;
  /**
   * Approvals waiting for a decision (from the workflow memo). Absent for an incident whose workflow has not
   * recorded it: opened before the count was listed, and no approval opened or settled since.
   */
  pendingApprovals?: number;
}

/**
 * What the API and the CLI can do with incidents. Implemented over the Temporal client by IncidentService.
 * Errors: IncidentNotFoundError (404), IncidentRefusedError (the workflow's refusal type and its HTTP status),
 * InvalidCursorError (400, from list), TemporalUnavailableError (503).
 */
export interface IncidentOperations {
  ingestAlert(alert: NormalizedAlert, raisedBy: string): Promise<IngestResult>;
  getState(incidentId: string): Promise<IncidentState>;
  list(filter: IncidentListFilter): Promise<{ items: IncidentListItem[]; nextCursor?: string }>;
  /** How many incidents are open (in the phase and of the playbook given), counted without listing them. */
  countOpen(filter?: IncidentCountFilter): Promise<number>;
  /** `from`: the decision came through Slack (recorded as `via: 'slack'` with the Slack user and team). */
  decideApproval(
    incidentId: string,
    approvalId: string,
    decision: 'approve' | 'reject',
    comment: string | undefined,
    actor: Actor,
    from?: { via: 'slack'; slack: SlackIdentity },
  ): Promise<Approval>;
  resolveFailedAction(
    incidentId: string,
    actionId: string,
    resolution: 'retry' | 'skip',
    comment: string | undefined,
    actor: Actor,
  ): Promise<IncidentAction>;
  completeChecklistItem(
    incidentId: string,
    itemId: string,
    note: string | undefined,
    actor: Actor,
  ): Promise<ChecklistItem>;
  addNote(
    incidentId: string,
    text: string,
    kind: 'note' | 'lessons_learned',
    actor: Actor,
  ): Promise<IncidentNote>;
  close(
    incidentId: string,
    resolution: Resolution,
    comment: string | undefined,
    actor: Actor,
  ): Promise<CloseReceipt>;
}
