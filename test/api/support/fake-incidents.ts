import { createHash } from 'node:crypto';
import type { NormalizedAlert } from '../../../src/domain/alert';
import type { CloseReceipt } from '../../../src/contracts';
import type {
  Actor,
  Approval,
  ChecklistItem,
  IncidentAction,
  IncidentNote,
  IncidentState,
  Phase,
  Resolution,
} from '../../../src/domain/incident';
import type {
  IncidentCountFilter,
  IncidentListFilter,
  IncidentListItem,
  IncidentOperations,
  IngestResult,
} from '../../../src/incidents/types';

export const INCIDENT_ID = 'INC-3f9a0c1b2d4e5f60-a1b2c3';
export const WORKFLOW_ID = 'quell-incident-3f9a0c1b2d4e5f60';
const AT = '2026-11-28T09:00:00.000Z';

export type OperationName = keyof IncidentOperations;
export interface RecordedCall {
  method: OperationName;
  args: unknown[];
}

/** A complete, realistic incident state (valid against the documented schema). */
export function sampleState(incidentId = INCIDENT_ID): IncidentState {
  return {
    incidentId,
    workflowId: WORKFLOW_ID,
    title: 'Ransomware behaviour: mass file encryption on ws-fin-042',
    severity: 'critical',
    phase: 'containment',
    status: 'open',
    playbook: { id: 'ransomware', name: 'Ransomware', version: 3, hash: 'sha256:0f1e2d' },
    correlationKey: 'ransomware.mass_encryption|ws-fin-042',
    openedAt: AT,
    scope: { hosts: ['ws-fin-042'], accounts: ['j.doe'], ips: [], domains: [] },
    alerts: {
      count: 2,
      deduplicated: 1,
      recent: [
        {
          alertId: 'edr-lab:det-0001',
          source: 'edr-lab',
          title: 'Ransomware behaviour',
          ruleName: 'ransomware.mass_encryption',
          severity: 'critical',
          detectedAt: '2026-11-28T08:55:00.000Z',
          receivedAt: AT,
          raisedBy: 'source:edr-lab',
        },
      ],
    },
    actions: [sampleAction()],
    approvals: [sampleApproval()],
    checklist: [{ itemId: 'reimage', text: 'Reimage the host' }],
    evidence: [
      {
        evidenceId: 'ev-1',
        name: 'process list',
        subject: 'ws-fin-042',
        sha256: 'ab'.repeat(32),
        sizeBytes: 1024,
        location: 'file:///data/evidence/ev-1',
        collectedBy: 'quell',
        collectedAt: AT,
        timeZone: 'UTC',
        source: 'edr',
        window: { from: '2026-11-28T07:55:00.000Z', to: '2026-11-28T09:10:00.000Z' },
      },
    ],
    notifications: [
      {
        route: 'secops-slack',
        subject: 'Incident opened',
        reason: 'phase',
        phase: 'identification',
        at: AT,
        delivered: true,
      },
    ],
    notes: [{ noteId: 'note-1', kind: 'note', text: 'Looking into it', author: 'alice', at: AT }],
    phaseTimestamps: { identification: AT, containment: AT },
    milestones: { openedAt: AT, detectedAt: '2026-11-28T08:55:00.000Z' },
    metrics: { mttdSeconds: null, mttaSeconds: 60, mttcSeconds: null, mttrSeconds: null },
    runs: 1,
    reopened: 0,
  };
}

export function sampleAction(actionId = 'act-1', state: IncidentAction['state'] = 'failed'): IncidentAction {
  return {
    actionId,
    kind: 'isolate_host',
    target: 'ws-fin-042',
    purpose: 'containment',
    policy: 'approve',
    state,
    approvalId: 'apr-1',
    attempts: 3,
    responderRetries: 0,
    lastError: { type: 'VendorUnavailable', message: 'EDR answered 503', at: AT, attempt: 3 },
    createdAt: AT,
    resolutions: [],
  };
}

export function sampleApproval(
  approvalId = 'apr-1',
  decider?: Actor,
  decision?: 'approve' | 'reject',
): Approval {
  return {
    approvalId,
    actionIds: ['act-1'],
    policy: 'approve',
    state: decision ? (decision === 'approve' ? 'approved' : 'rejected') : 'pending',
    requiredApprovers: 1,
    request: {
      action: 'isolate_host',
      target: 'ws-fin-042',
      why: 'ransomware behaviour',
      undo: 'release_host',
      severity: 'critical',
    },
    requestedBy: ['source:edr-lab'],
    decisions:
      decider && decision
        ? [{ decision, decider: decider.subject, roles: decider.roles, at: AT, via: 'update' }]
        : [],
    refusedAttempts: [],
    requestedAt: AT,
    ...(decision ? { decidedAt: AT } : {}),
  };
}

/**
 * An in-memory IncidentOperations that records every call, answers with realistic values, and can be told
 * to fail (e.g. with IncidentRefusedError or TemporalUnavailableError). For API validation, auth and error
 * mapping tests; it implements no workflow behaviour.
 */
export class FakeIncidents implements IncidentOperations {
  readonly calls: RecordedCall[] = [];
  private readonly seen = new Set<string>();
  private readonly failures = new Map<OperationName, () => unknown>();
  listResult: { items: IncidentListItem[]; nextCursor?: string } = { items: [] };
  /** What countOpen answers, per phase (0 for a phase not listed). */
  openCounts: Partial<Record<Phase, number>> = {};

  /** Every later call of `method` throws what `make` returns. */
  fail(method: OperationName, make: () => unknown): void {
    this.failures.set(method, make);
  }

  clearFailures(): void {
    this.failures.clear();
  }

  reset(): void {
    this.calls.length = 0;
    this.seen.clear();
    this.failures.clear();
  }

  callsOf(method: OperationName): unknown[][] {
    return this.calls.filter((c) => c.method === method).map((c) => c.args);
  }

  private record(method: OperationName, args: unknown[]): void {
    this.calls.push({ method, args });
    const make = this.failures.get(method);
    if (make) throw make();
  }

  async ingestAlert(alert: NormalizedAlert, raisedBy: string): Promise<IngestResult> {
    this.record('ingestAlert', [alert, raisedBy]);
    const alertId = `${alert.source}:${alert.sourceAlertId}`;
    const deduplicated = this.seen.has(alertId);
    this.seen.add(alertId);
    const digest = createHash('sha256')
      .update(`${alert.ruleName}|${alert.entities.hosts[0] ?? alert.entities.accounts[0] ?? ''}`)
      .digest('hex')
      .slice(0, 16);
    return {
      incidentId: `INC-${digest}-0a1b2c`,
      workflowId: `quell-incident-${digest}`,
      playbookId: 'default',
      alertId,
      deduplicated,
      alertCount: 1,
      severity: alert.severity === 'informational' ? 'low' : alert.severity,
    };
  }

  async getState(incidentId: string): Promise<IncidentState> {
    this.record('getState', [incidentId]);
    return sampleState(incidentId);
  }

  async list(filter: IncidentListFilter): Promise<{ items: IncidentListItem[]; nextCursor?: string }> {
    this.record('list', [filter]);
    return this.listResult;
  }

  /** Sums `openCounts` over the phase asked for (every phase without one); the playbook is not modelled. */
  async countOpen(filter: IncidentCountFilter = {}): Promise<number> {
    this.record('countOpen', [filter]);
    const counts = Object.entries(this.openCounts) as [Phase, number][];
    return counts.filter(([p]) => !filter.phase || p === filter.phase).reduce((n, [, c]) => n + c, 0);
  }

  async decideApproval(
    incidentId: string,
    approvalId: string,
    decision: 'approve' | 'reject',
    comment: string | undefined,
    actor: Actor,
  ): Promise<Approval> {
    this.record('decideApproval', [incidentId, approvalId, decision, comment, actor]);
    return sampleApproval(approvalId, actor, decision);
  }

  async resolveFailedAction(
    incidentId: string,
    actionId: string,
    resolution: 'retry' | 'skip',
    comment: string | undefined,
    actor: Actor,
  ): Promise<IncidentAction> {
    this.record('resolveFailedAction', [incidentId, actionId, resolution, comment, actor]);
    return {
      ...sampleAction(actionId, resolution === 'retry' ? 'running' : 'skipped'),
      resolutions: [{ resolution, by: actor.subject, at: AT, ...(comment !== undefined ? { comment } : {}) }],
    };
  }

  async completeChecklistItem(
    incidentId: string,
    itemId: string,
    note: string | undefined,
    actor: Actor,
  ): Promise<ChecklistItem> {
    this.record('completeChecklistItem', [incidentId, itemId, note, actor]);
    return {
      itemId,
      text: 'Reimage the host',
      completedBy: actor.subject,
      completedAt: AT,
      ...(note !== undefined ? { note } : {}),
    };
  }

  async addNote(
    incidentId: string,
    text: string,
    kind: 'note' | 'lessons_learned',
    actor: Actor,
  ): Promise<IncidentNote> {
    this.record('addNote', [incidentId, text, kind, actor]);
    return { noteId: 'note-2', kind, text, author: actor.subject, at: AT };
  }

  async close(
    incidentId: string,
    resolution: Resolution,
    comment: string | undefined,
    actor: Actor,
  ): Promise<CloseReceipt> {
    this.record('close', [incidentId, resolution, comment, actor]);
    return { incidentId, resolution, compensating: resolution === 'false_positive' ? ['act-1'] : [] };
  }
}
