/**
 * One run of the incident workflow: the state that the query shows and continue-as-new carries, the
 * bookkeeping that is not state (dedup digests, raisers, counters), and the small helpers every part of the
 * workflow shares. The parts (handlers, approvals, actions, phases) are functions over an IncidentRun.
 */
import { condition, log, patched, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { AlertSeverity } from '../../src/domain/alert';
import { isSettled } from '../../src/domain/actions';
import {
  buildIncidentId,
  SA_ACCOUNTS,
  SA_CORRELATION_KEY,
  SA_HOSTS,
  SA_INCIDENT_ID,
  SA_PHASE,
  SA_PLAYBOOK,
  SA_SEVERITY,
  SA_STATUS,
  type CarriedIncident,
  type CloseIncidentRequest,
  type IncidentWorkflowInput,
} from '../../src/contracts';
import { digest53 } from '../../src/domain/digest';
import type { Approval, IncidentAction, IncidentState, Phase } from '../../src/domain/incident';
import { computeMetrics } from '../../src/domain/metrics';
import type { Playbook } from '../../src/playbooks/schema';
import { PATCHES } from './patches';

/** Incident IDs before the incident-id-run-tail patch took the head of the run ID. */
function legacyIncidentId(workflowId: string, firstExecutionRunId: string): string {
  return buildIncidentId(workflowId, firstExecutionRunId.replace(/-/g, '').slice(0, 6).padStart(32, '0'));
}

function newIncidentState(input: IncidentWorkflowInput, now: string): IncidentState {
  const info = workflowInfo();
  const playbook = input.playbook;
  return {
    incidentId: patched(PATCHES.incidentIdRunTail)
      ? buildIncidentId(info.workflowId, info.firstExecutionRunId)
      : legacyIncidentId(info.workflowId, info.firstExecutionRunId),
    workflowId: info.workflowId,
    title: '',
    severity: playbook.severity.minimum,
    phase: 'identification',
    status: 'open',
    playbook: { id: playbook.id, name: playbook.name, version: playbook.version, hash: input.playbookHash },
    correlationKey: input.correlationKey,
    openedAt: now,
    scope: { hosts: [], accounts: [], ips: [], domains: [] },
    alerts: { count: 0, deduplicated: 0, recent: [] },
    actions: [],
    approvals: [],
    checklist: playbook.eradication.checklist.map((item) => ({
      itemId: item.id,
      text: item.text,
      ...(item.action ? { action: item.action } : {}),
    })),
    evidence: [],
    notifications: [],
    notes: [],
    phaseTimestamps: { identification: now },
    milestones: { openedAt: now },
    metrics: { mttdSeconds: null, mttaSeconds: null, mttcSeconds: null, mttrSeconds: null },
    runs: 0,
    reopened: 0,
  };
}

export type ActionFields = Omit<
  IncidentAction,
  'actionId' | 'attempts' | 'responderRetries' | 'createdAt' | 'resolutions'
>;

export class IncidentRun {
  readonly playbook: Playbook;
  readonly state: IncidentState;
  /** Compact digests of every alert identity recorded (carried across runs, so dedup holds). */
  readonly seenAlerts: Set<string>;
  /** Identities that raised alerts: they may not approve the containment their alerts requested. */
  readonly raisers: Set<string>;
  readonly nextIds: CarriedIncident['nextIds'];
  closeRequest: (CloseIncidentRequest & { at: string }) | undefined;
  highestAlertSeverity: AlertSeverity;
  /** Activities in flight; continue-as-new waits for zero, since activities cannot cross runs. */
  inFlight = 0;
  /** Set while the phase loop waits at a resumable point (not between an activity and its bookkeeping). */
  mainParked = false;
  messagesThisRun = 0;
  reopenRequested = false;
  /** Set while the indicators of later alerts are being looked up (one lookup at a time). */
  enrichingLater = false;
  notificationSeq: number;
  /** Log snapshots of hosts that joined after investigation, still running (closing waits for them). */
  lateSnapshots = 0;
  private readonly syncedAttributes = new Map<string, string>();

  constructor(readonly input: IncidentWorkflowInput) {
    const carried = input.carried;
    this.playbook = input.playbook;
    this.state = carried?.state ?? newIncidentState(input, this.now());
    this.seenAlerts = new Set(carried?.seenAlertDigests ?? []);
    this.raisers = new Set(carried?.raisers ?? []);
    this.nextIds = carried?.nextIds ?? { approval: 1, note: 1, action: 1 };
    this.closeRequest = carried?.closeRequest;
    this.highestAlertSeverity = this.state.severity;
    this.notificationSeq = this.state.notifications.length;
  }

  /** Workflow time: the start of the current workflow task, the same in every replay. */
  now(): string {
    return new Date().toISOString();
  }

  /** What the next run starts from. */
  carried(): CarriedIncident {
    return {
      state: this.state,
      seenAlertDigests: [...this.seenAlerts],
      raisers: [...this.raisers],
      nextIds: this.nextIds,
      ...(this.closeRequest ? { closeRequest: this.closeRequest } : {}),
    };
  }

  /** Open, and not closing: alerts may still join. */
  get open(): boolean {
    return this.state.status === 'open' && !this.closeRequest;
  }

  closingAsFalsePositive(): boolean {
    return this.closeRequest?.resolution === 'false_positive';
  }

  containmentSettled(): boolean {
    return this.state.actions.filter((a) => a.purpose === 'containment').every(isSettled);
  }

  recoverySettled(): boolean {
    return this.state.actions.filter((a) => a.purpose === 'recovery').every(isSettled);
  }

  actionById(id: string): IncidentAction | undefined {
    return this.state.actions.find((a) => a.actionId === id);
  }

  approvalById(id: string): Approval | undefined {
    return this.state.approvals.find((a) => a.approvalId === id);
  }

  /** Action IDs are short and URL-safe (`act-7`); the counter is carried across runs, so they stay stable. */
  newAction(fields: ActionFields): IncidentAction {
    const action: IncidentAction = {
      actionId: `act-${this.nextIds.action++}`,
      ...fields,
      attempts: 0,
      responderRetries: 0,
      createdAt: this.now(),
      resolutions: [],
    };
    this.state.actions.push(action);
    return action;
  }

  /** A note the workflow writes itself (author `quell`). */
  addWorkflowNote(text: string): void {
    this.state.notes.push({
      noteId: `note-${this.nextIds.note++}`,
      kind: 'note',
      text,
      author: 'quell',
      at: this.now(),
    });
  }

  refreshMetrics(): void {
    this.state.metrics = computeMetrics(this.state.milestones);
  }

  /** The first human response (a decision, note, checklist item, retry or skip) sets MTTA. */
  acknowledge(): void {
    if (!this.state.milestones.acknowledgedAt) {
      this.state.milestones.acknowledgedAt = this.now();
      this.refreshMetrics();
    }
  }

  enterPhase(phase: Phase, at = this.now()): void {
    this.state.phase = phase;
    this.state.phaseTimestamps[phase] = at;
    this.syncSearchAttributes();
    log.info('incident phase', { incidentId: this.state.incidentId, phase });
  }

  /** Upserts the search attributes whose values changed (each upsert is a history event). */
  syncSearchAttributes(): void {
    const s = this.state;
    const redact = this.input.redactSearchAttributes;
    const wanted = [
      { key: SA_INCIDENT_ID, value: s.incidentId },
      { key: SA_SEVERITY, value: s.severity },
      { key: SA_PHASE, value: s.phase },
      { key: SA_STATUS, value: s.status },
      { key: SA_PLAYBOOK, value: s.playbook.id },
      {
        key: SA_CORRELATION_KEY,
        value: redact
          ? (this.input.correlationTag ?? `digest:${digest53(s.correlationKey)}`)
          : s.correlationKey,
      },
      { key: SA_HOSTS, value: redact ? [] : [...s.scope.hosts] },
      { key: SA_ACCOUNTS, value: redact ? [] : [...s.scope.accounts] },
    ];
    // Busy incidents see thousands of alerts: only what changed.
    const changed = wanted.filter(
      (pair) => this.syncedAttributes.get(pair.key.name) !== JSON.stringify(pair.value),
    );
    if (changed.length === 0) return;
    changed.forEach((pair) => this.syncedAttributes.set(pair.key.name, JSON.stringify(pair.value)));
    upsertSearchAttributes(changed);
  }

  /** Parks the phase loop at a resumable wait: continue-as-new may happen only while it is parked. */
  async parkUntil(fn: () => boolean, timeoutMs?: number): Promise<boolean> {
    this.mainParked = true;
    try {
      return timeoutMs === undefined ? (await condition(fn), true) : await condition(fn, timeoutMs);
    } finally {
      this.mainParked = false;
    }
  }

  scopeSummary(): string {
    const s = this.state.scope;
    return [
      s.hosts.length ? `hosts: ${s.hosts.join(', ')}` : '',
      s.accounts.length ? `accounts: ${s.accounts.join(', ')}` : '',
      s.ips.length ? `IPs: ${s.ips.join(', ')}` : '',
      s.domains.length ? `domains: ${s.domains.join(', ')}` : '',
      s.files?.length ? `files: ${s.files.join(', ')}` : '',
    ]
      .filter(Boolean)
      .join('; ');
  }
}
