/**
 * The incident workflow: one security incident from its first alert to closure, through the response phases
 * (identification, containment, investigation, eradication, recovery, lessons learned). Deterministic code only.
 *
 * Shape: a phase loop (the main coroutine) plus one coroutine per action (wait for approval, run with retries,
 * wait for a responder after a permanent failure) and one per pending approval (escalate, then expire). All of
 * them resume from `state`, which is why the workflow can continue as new at any quiet moment without losing a
 * step: the new run restarts them from what the old one carried.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { ActionOutcome, FailureDetails, IncidentActivities } from '../activities';
import {
  alertIdentity,
  maxSeverity,
  severityRank,
  type AlertSeverity,
  type NormalizedAlert,
} from '../src/domain/alert';
import {
  addNoteUpdate,
  buildIncidentId,
  closeIncidentUpdate,
  completeChecklistItemUpdate,
  decideApprovalSignal,
  decideApprovalUpdate,
  incidentStateQuery,
  ingestAlertUpdate,
  resolveFailedActionUpdate,
  SA_ACCOUNTS,
  SA_CORRELATION_KEY,
  SA_HOSTS,
  SA_INCIDENT_ID,
  SA_PHASE,
  SA_PLAYBOOK,
  SA_SEVERITY,
  SA_STATUS,
  type AlertReceipt,
  type AddNoteRequest,
  type ApprovalDecisionRequest,
  type CompleteChecklistItemRequest,
  type ResolveFailedActionRequest,
  type CarriedIncident,
  type CloseIncidentRequest,
  type IncidentWorkflowInput,
  type RefusalType,
} from '../src/domain/contracts';
import { digest53 } from '../src/domain/digest';
import { isInternalIp } from '../src/domain/ip';
import {
  CONTAINMENT_KINDS,
  ENTITY_OF,
  type Actor,
  type RefusedDecision,
  type RefusedRequest,
  UNDO_OF,
  summarizeAlert,
  type ActionKind,
  type Approval,
  type ContainmentKind,
  type IncidentAction,
  type IncidentState,
  type Phase,
  type UndoKind,
} from '../src/domain/incident';
import { computeMetrics } from '../src/domain/metrics';
import { oneLine } from '../src/domain/untrusted-text';
import {
  containmentPolicy,
  evaluateSeverity,
  phaseRoutes,
  recoveryPolicy,
  requiredApprovers,
} from '../src/playbooks/policy';
import type { RetryPolicyConfig } from '../src/playbooks/schema';

export type { IncidentWorkflowInput };

const RECENT_ALERTS = 10;

/** Workflow changes made after histories existed; each `patched()` keeps older histories replaying. */
const PATCH_SKIP_INTERNAL_IPS = 'skip-internal-ips';
const PATCH_INCIDENT_ID_RUN_TAIL = 'incident-id-run-tail';
const PATCH_REOPEN_NEW_ENTITIES_ONLY = 'reopen-new-entities-only';
/** Hosts that join the scope after investigation began get their log snapshot too. */
const PATCH_LATE_ENTITY_EVIDENCE = 'late-entity-evidence';
/** What recovery waits for is recorded in the memo (hence in history), not only in the state. */
const PATCH_RECOVERY_WAIT_VISIBLE = 'recovery-wait-visible';

/** Incident IDs before PATCH_INCIDENT_ID_RUN_TAIL took the head of the run ID. */
function legacyIncidentId(workflowId: string, firstExecutionRunId: string): string {
  return buildIncidentId(workflowId, firstExecutionRunId.replace(/-/g, '').slice(0, 6).padStart(32, '0'));
}
/** Continue as new well before Temporal's history warning (10,240 events) and its 2,000-updates-per-run cap. */
const HISTORY_EVENTS_BEFORE_CONTINUE = 8_000;
/** Most recent refusals kept in the state per approval and per incident (the history holds every one). */
const REFUSALS_KEPT = 100;
const MESSAGES_BEFORE_CONTINUE = 1_000;

type EffectActivity =
  | 'isolateHost'
  | 'releaseHost'
  | 'disableAccount'
  | 'enableAccount'
  | 'blockIp'
  | 'unblockIp'
  | 'blockDomain'
  | 'unblockDomain';
type CheckActivity = 'checkHostState' | 'checkAccountState' | 'checkIpState' | 'checkDomainState';

const ACTIVITY_OF: Record<ActionKind, EffectActivity> = {
  isolate_host: 'isolateHost',
  disable_account: 'disableAccount',
  block_ip: 'blockIp',
  block_domain: 'blockDomain',
  release_host: 'releaseHost',
  enable_account: 'enableAccount',
  unblock_ip: 'unblockIp',
  unblock_domain: 'unblockDomain',
};

/** The state check that proves an undo took effect, and the state that counts as restored. */
const VERIFY_UNDO: Record<UndoKind, { activity: CheckActivity; restored: string }> = {
  release_host: { activity: 'checkHostState', restored: 'normal' },
  enable_account: { activity: 'checkAccountState', restored: 'active' },
  unblock_ip: { activity: 'checkIpState', restored: 'allowed' },
  unblock_domain: { activity: 'checkDomainState', restored: 'allowed' },
};

const DESCRIBE: Record<ContainmentKind, { verb: string; undo: string }> = {
  isolate_host: { verb: 'Isolate host', undo: 'release the host from network isolation' },
  disable_account: { verb: 'Disable account (and revoke its sessions)', undo: 're-enable the account' },
  block_ip: { verb: 'Block IP address', undo: 'remove the block rule for the IP address' },
  block_domain: { verb: 'Block domain', undo: 'remove the block rule for the domain' },
};

interface Refusal {
  type: RefusalType;
  message: string;
}

/**
 * Decisions (approve, reject, close) need the approver role itself: admin alone does not pass, so whoever
 * administers Quell is not also the one who approves containment (separation of duties).
 */
function approverRefusal(actor: Actor | undefined): Refusal | undefined {
  if (actor?.roles?.includes('approver')) return undefined;
  const subject = actor?.subject ?? '(unknown)';
  return {
    type: 'NotAnApprover',
    message: actor?.roles?.includes('admin')
      ? `${subject} holds admin but not the approver role; decisions need the approver role (separation of duties)`
      : `${subject} does not hold the approver role`,
  };
}

/** Refuses a message in its update validator: the update leaves no trace in history. */
function refuse(type: RefusalType, message: string): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true });
}

function retryOptions(retry: RetryPolicyConfig, unlimited = false): ActivityOptions {
  return {
    startToCloseTimeout: retry.attemptTimeout,
    ...(unlimited ? {} : { scheduleToCloseTimeout: retry.totalTimeout }),
    retry: {
      initialInterval: retry.initialInterval,
      backoffCoefficient: retry.backoffCoefficient,
      maximumInterval: retry.maximumInterval,
      ...(unlimited ? {} : { maximumAttempts: retry.maximumAttempts }),
    },
  };
}

const notifyActivities = proxyActivities<IncidentActivities>({
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '5m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
});
const evidenceActivities = proxyActivities<IncidentActivities>({
  startToCloseTimeout: '5m',
  heartbeatTimeout: '1m',
  scheduleToCloseTimeout: '30m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 10 },
});

function failureOf(err: unknown): { type: string; message: string; attempt?: number } {
  if (err instanceof ActivityFailure) {
    const cause = err.cause;
    if (cause instanceof ApplicationFailure) {
      const details = cause.details?.[0] as FailureDetails | undefined;
      return {
        type: cause.type ?? 'ApplicationFailure',
        message: cause.message,
        ...(details?.attempt !== undefined ? { attempt: details.attempt } : {}),
      };
    }
    return { type: cause?.name ?? 'ActivityFailure', message: cause?.message ?? err.message };
  }
  if (err instanceof ApplicationFailure)
    return { type: err.type ?? 'ApplicationFailure', message: err.message };
  return { type: 'Error', message: err instanceof Error ? err.message : String(err) };
}

/** One security incident, from the first alert to closure. */
export async function incidentWorkflow(input: IncidentWorkflowInput): Promise<IncidentState> {
  const info = workflowInfo();
  const playbook = input.playbook;
  const now = () => new Date().toISOString();
  const carried: CarriedIncident | undefined = input.carried;

  const state: IncidentState = carried?.state ?? {
    incidentId: patched(PATCH_INCIDENT_ID_RUN_TAIL)
      ? buildIncidentId(info.workflowId, info.firstExecutionRunId)
      : legacyIncidentId(info.workflowId, info.firstExecutionRunId),
    workflowId: info.workflowId,
    title: '',
    severity: playbook.severity.minimum,
    phase: 'identification',
    status: 'open',
    playbook: { id: playbook.id, name: playbook.name, version: playbook.version, hash: input.playbookHash },
    correlationKey: input.correlationKey,
    openedAt: now(),
    scope: { hosts: [], accounts: [], ips: [], domains: [] },
    alerts: { count: 0, deduplicated: 0, recent: [] },
    actions: [],
    approvals: [],
    checklist: playbook.eradication.checklist.map((item) => ({ itemId: item.id, text: item.text })),
    evidence: [],
    notifications: [],
    notes: [],
    phaseTimestamps: { identification: now() },
    milestones: { openedAt: now() },
    metrics: { mttdSeconds: null, mttaSeconds: null, mttcSeconds: null, mttrSeconds: null },
    runs: 0,
    reopened: 0,
  };
  const seenAlerts = new Set<string>(carried?.seenAlertDigests ?? []);
  const raisers = new Set<string>(carried?.raisers ?? []);
  const nextIds = carried?.nextIds ?? { approval: 1, note: 1, action: 1 };
  let closeRequest: (CloseIncidentRequest & { at: string }) | undefined = carried?.closeRequest;
  let highestAlertSeverity: AlertSeverity = state.severity;
  /** Activities in flight; continue-as-new waits for zero, since activities cannot cross runs. */
  let inFlight = 0;
  /** Set while the phase loop waits at a resumable point (not between an activity and its bookkeeping). */
  let mainParked = false;
  let messagesThisRun = 0;
  let reopenRequested = false;
  let notificationSeq = state.notifications.length;
  /** Log snapshots of hosts that joined after investigation, still running (closing waits for them). */
  let lateSnapshots = 0;

  // ---------------------------------------------------------------------------------------------------------
  // Bookkeeping
  // ---------------------------------------------------------------------------------------------------------
  const syncedAttributes = new Map<string, string>();
  function syncSearchAttributes(): void {
    const wanted = [
      { key: SA_INCIDENT_ID, value: state.incidentId },
      { key: SA_SEVERITY, value: state.severity },
      { key: SA_PHASE, value: state.phase },
      { key: SA_STATUS, value: state.status },
      { key: SA_PLAYBOOK, value: state.playbook.id },
      {
        key: SA_CORRELATION_KEY,
        value: input.redactSearchAttributes
          ? (input.correlationTag ?? `digest:${digest53(state.correlationKey)}`)
          : state.correlationKey,
      },
      { key: SA_HOSTS, value: input.redactSearchAttributes ? [] : [...state.scope.hosts] },
      { key: SA_ACCOUNTS, value: input.redactSearchAttributes ? [] : [...state.scope.accounts] },
    ];
    // Only changed values: each upsert is a history event, and busy incidents see thousands of alerts.
    const changed = wanted.filter(
      (pair) => syncedAttributes.get(pair.key.name) !== JSON.stringify(pair.value),
    );
    if (changed.length === 0) return;
    changed.forEach((pair) => syncedAttributes.set(pair.key.name, JSON.stringify(pair.value)));
    upsertSearchAttributes(changed);
  }

  function refreshMetrics(): void {
    state.metrics = computeMetrics(state.milestones);
  }

  function acknowledge(): void {
    if (!state.milestones.acknowledgedAt) {
      state.milestones.acknowledgedAt = now();
      refreshMetrics();
    }
  }

  function enterPhase(phase: Phase, at = now()): void {
    state.phase = phase;
    state.phaseTimestamps[phase] = at;
    syncSearchAttributes();
    log.info('incident phase', { incidentId: state.incidentId, phase });
  }

  function scopeSummary(): string {
    const s = state.scope;
    return [
      s.hosts.length ? `hosts: ${s.hosts.join(', ')}` : '',
      s.accounts.length ? `accounts: ${s.accounts.join(', ')}` : '',
      s.ips.length ? `IPs: ${s.ips.join(', ')}` : '',
      s.domains.length ? `domains: ${s.domains.join(', ')}` : '',
    ]
      .filter(Boolean)
      .join('; ');
  }

  /**
   * Sends to each route; a failed notification is recorded, never fatal to the incident. Subject and text are
   * one line each: alert titles and entity names inside them cannot add lines to what people read.
   */
  async function notify(routes: string[], subjectText: string, text: string, reason: string): Promise<void> {
    const subject = oneLine(subjectText);
    await Promise.all(
      [...new Set(routes)].map(async (route) => {
        const seq = ++notificationSeq;
        const record = {
          route,
          subject,
          reason,
          phase: state.phase,
          at: now(),
          delivered: false,
        } as IncidentState['notifications'][number];
        inFlight++;
        try {
          const result = await notifyActivities.notifyStakeholders({
            route,
            incidentId: state.incidentId,
            // Channels put the severity and the incident ID in front themselves.
            subject,
            text: oneLine(text),
            severity: state.severity,
            dedupKey: state.incidentId,
            idempotencyKey: `${state.incidentId}:notify:${seq}`,
            ...(reason === 'closed' ? { eventAction: 'resolve' as const } : {}),
          });
          record.delivered = result.delivered;
        } catch (err) {
          record.error = failureOf(err).message;
          log.warn('notification failed', { incidentId: state.incidentId, route, error: record.error });
        } finally {
          inFlight--;
        }
        state.notifications.push(record);
      }),
    );
  }

  async function notifyPhase(phase: Phase, text: string): Promise<void> {
    const routes = phaseRoutes(playbook, phase, state.severity);
    if (routes.length)
      await notify(routes, `${phase.replace('_', ' ')}: ${state.title}`, text, `phase ${phase}`);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Actions and approvals
  // ---------------------------------------------------------------------------------------------------------
  const actionById = (id: string) => state.actions.find((a) => a.actionId === id);
  const approvalById = (id: string) => state.approvals.find((a) => a.approvalId === id);

  function openApproval(
    actions: IncidentAction[],
    policy: 'approve' | 'two_person',
    why: string,
    requestedBy: string[],
  ): Approval {
    const first = actions[0]!;
    const requestedAt = now();
    const kind = first.kind;
    const undo =
      first.purpose === 'containment'
        ? DESCRIBE[kind as ContainmentKind].undo
        : 'containment would have to be applied again (a new containment action)';
    const approval: Approval = {
      approvalId: `apr-${nextIds.approval++}`,
      actionIds: actions.map((a) => a.actionId),
      policy,
      state: 'pending',
      requiredApprovers: requiredApprovers(policy),
      request: { action: kind, target: first.target, why, undo, severity: state.severity },
      requestedBy,
      decisions: [],
      refusedAttempts: [],
      requestedAt,
      escalateAt: new Date(Date.parse(requestedAt) + playbook.approvals.escalateAfter).toISOString(),
      expiresAt: new Date(Date.parse(requestedAt) + playbook.approvals.expireAfter).toISOString(),
    };
    state.approvals.push(approval);
    actions.forEach((a) => (a.approvalId = approval.approvalId));
    startApprovalWatch(approval);
    return approval;
  }

  function settleApproval(
    approval: Approval,
    outcome: 'approved' | 'rejected' | 'expired' | 'cancelled',
    actionState: 'approved' | 'rejected' | 'expired' | 'skipped',
    reason?: string,
  ): void {
    approval.state = outcome;
    approval.decidedAt = now();
    for (const id of approval.actionIds) {
      const action = actionById(id);
      if (action && action.state === 'pending_approval') {
        action.state = actionState;
        if (reason) action.reason = reason;
        if (actionState !== 'approved') action.finishedAt = now();
      }
    }
  }

  /** The refusal for a decision, or undefined when it may be applied. Same rules for updates and signals. */
  function decisionRefusal(req: ApprovalDecisionRequest): Refusal | undefined {
    const notApprover = approverRefusal(req.actor);
    if (notApprover) return notApprover;
    const approval = approvalById(req.approvalId);
    if (!approval)
      return { type: 'ApprovalNotFound', message: `no approval ${req.approvalId} on ${state.incidentId}` };
    if (approval.state === 'expired')
      return { type: 'ApprovalExpired', message: `approval ${approval.approvalId} has expired` };
    if (approval.state !== 'pending') {
      return {
        type: 'ApprovalAlreadyDecided',
        message: `approval ${approval.approvalId} is already ${approval.state}`,
      };
    }
    if (approval.requestedBy.includes(req.actor.subject)) {
      return {
        type: 'SelfApproval',
        message: `${req.actor.subject} raised or requested this action and cannot approve it`,
      };
    }
    if (approval.decisions.some((d) => d.decider === req.actor.subject)) {
      return {
        type: 'DuplicateApprover',
        message: `${req.actor.subject} has already decided on ${approval.approvalId}; a second approver is needed`,
      };
    }
    return undefined;
  }

  function applyDecision(req: ApprovalDecisionRequest, via: 'update' | 'signal'): Approval {
    const approval = approvalById(req.approvalId)!;
    acknowledge();
    approval.decisions.push({
      decision: req.decision,
      decider: req.actor.subject,
      roles: req.actor.roles,
      ...(req.comment ? { comment: req.comment } : {}),
      at: now(),
      via,
    });
    if (req.decision === 'reject') {
      settleApproval(approval, 'rejected', 'rejected', `rejected by ${req.actor.subject}`);
    } else if (
      approval.decisions.filter((d) => d.decision === 'approve').length >= approval.requiredApprovers
    ) {
      settleApproval(approval, 'approved', 'approved');
    }
    return approval;
  }

  function startApprovalWatch(approval: Approval): void {
    void (async () => {
      const pending = () => approval.state !== 'pending';
      const msUntil = (iso: string | undefined) => (iso ? Date.parse(iso) - Date.now() : 0);
      if (!approval.escalatedAt) {
        const wait = msUntil(approval.escalateAt);
        if (wait > 0 && (await condition(pending, wait))) return;
        if (approval.state !== 'pending') return;
        approval.escalatedAt = now();
        const routes = playbook.approvals.escalationRoutes;
        if (routes.length) {
          await notify(
            routes,
            `approval ${approval.approvalId} waiting`,
            `Approval ${approval.approvalId} (${approval.request.action} on ${approval.request.target}) has waited ` +
              `${Math.round(playbook.approvals.escalateAfter / 1000)} s without a decision. Why: ${approval.request.why}`,
            `escalation ${approval.approvalId}`,
          );
        }
      }
      const wait = msUntil(approval.expiresAt);
      if (wait > 0 && (await condition(pending, wait))) return;
      if (approval.state !== 'pending') return;
      const onExpiry = playbook.approvals.onExpiry;
      approval.expiryOutcome = onExpiry;
      if (onExpiry === 'approve')
        settleApproval(approval, 'expired', 'approved', 'approved on expiry by playbook policy');
      else settleApproval(approval, 'expired', 'expired', 'expired without a decision');
    })();
  }

  /** Activity options for an action: the playbook's retry policy for its kind, unlimited for compensations. */
  function activitiesFor(action: IncidentAction, unlimited: boolean): IncidentActivities {
    const retry =
      action.purpose === 'containment'
        ? (playbook.containment[action.kind as ContainmentKind]?.retry ?? playbook.recovery.retry)
        : playbook.recovery.retry;
    return proxyActivities<IncidentActivities>(retryOptions(retry, unlimited));
  }

  async function executeAction(action: IncidentAction, unlimited: boolean): Promise<void> {
    const acts = activitiesFor(action, unlimited);
    const outcome: ActionOutcome = await acts[ACTIVITY_OF[action.kind]]({
      incidentId: state.incidentId,
      actionId: action.actionId,
      target: action.target,
      comment: oneLine(`${action.kind} ${action.target} (${state.title})`), // connectors prefix the incident ID
    });
    action.attempts += outcome.attempt;
    action.result = {
      alreadyInState: outcome.alreadyInState,
      ...(outcome.vendorRef ? { vendorRef: outcome.vendorRef } : {}),
    };
    if (action.purpose === 'recovery') {
      const verify = VERIFY_UNDO[action.kind as UndoKind];
      const observed: { state: string } = await acts[verify.activity]({ target: action.target });
      action.result.verifiedState = observed.state;
      if (observed.state !== verify.restored) {
        throw ApplicationFailure.create({
          type: 'VerificationFailed',
          message: `${action.target} is ${observed.state} after ${action.kind}, expected ${verify.restored}`,
          nonRetryable: true,
        });
      }
    }
  }

  /**
   * Runs one action to a terminal state: waits for its approval, executes it with retries, and after a
   * permanent failure waits for a responder to retry (from this action, not from the start) or skip it.
   */
  function startRunner(action: IncidentAction): void {
    void (async () => {
      if (action.state === 'pending_approval') await condition(() => action.state !== 'pending_approval');
      for (;;) {
        if (action.state === 'failed') {
          await condition(() => action.requestedResolution !== undefined || action.state !== 'failed');
          const resolution = action.requestedResolution;
          delete action.requestedResolution;
          // Closing as a false positive settles failed actions from outside (skipped or superseded).
          if (!resolution) return;
          if (resolution === 'skip') {
            action.state = 'skipped';
            action.finishedAt = now();
            return;
          }
          action.state = 'approved';
        }
        if (action.state !== 'approved') return;
        action.state = 'running';
        action.startedAt = now();
        inFlight++;
        try {
          await executeAction(action, action.saga ?? false);
          action.state = 'succeeded';
          action.finishedAt = now();
          delete action.lastError;
          if (action.undoes) {
            const original = actionById(action.undoes);
            if (original) {
              original.state = 'compensated';
              original.compensatedBy = action.actionId;
            }
          }
          return;
        } catch (err) {
          const failure = failureOf(err);
          if (failure.attempt !== undefined) action.attempts += failure.attempt;
          action.state = 'failed';
          // The attempt that failed, counted like `attempts` (across responder retries), not within one run.
          action.lastError = {
            ...failure,
            ...(failure.attempt !== undefined ? { attempt: action.attempts } : {}),
            at: now(),
          };
          log.warn('action failed', {
            incidentId: state.incidentId,
            actionId: action.actionId,
            error: failure.message,
          });
        } finally {
          inFlight--;
        }
        const routes = playbook.notifications.responders;
        if (routes.length) {
          await notify(
            routes,
            `action ${action.actionId} failed`,
            `${action.kind} on ${action.target} failed (${action.lastError?.type}: ${action.lastError?.message}). ` +
              `Retry or skip it: POST /api/v1/incidents/${state.incidentId}/actions/${action.actionId}/retry|skip`,
            `action failed ${action.actionId}`,
          );
        }
      }
    })();
  }

  /** Action IDs are short and URL-safe (`act-7`); the counter is carried across runs, so they stay stable. */
  function newAction(
    fields: Omit<IncidentAction, 'actionId' | 'attempts' | 'responderRetries' | 'createdAt' | 'resolutions'>,
  ): IncidentAction {
    const action: IncidentAction = {
      actionId: `act-${nextIds.action++}`,
      ...fields,
      attempts: 0,
      responderRetries: 0,
      createdAt: now(),
      resolutions: [],
    };
    state.actions.push(action);
    return action;
  }

  /** Plans containment for every entity in scope that has no live containment action of its kind yet. */
  function planContainment(only?: Set<string>): number {
    let planned = 0;
    for (const kind of CONTAINMENT_KINDS) {
      const policy = containmentPolicy(playbook, kind, state.severity);
      if (!policy) continue;
      const onlyExternal = kind === 'block_ip' && playbook.containment.block_ip?.targets !== 'all';
      for (const target of state.scope[ENTITY_OF[kind]]) {
        if (only && !only.has(target)) continue;
        // Our own estate is investigated, never blocked at the edge (a change made once histories existed).
        if (onlyExternal && isInternalIp(target) && patched(PATCH_SKIP_INTERNAL_IPS)) continue;
        const existing = state.actions.filter(
          (a) => a.purpose === 'containment' && a.kind === kind && a.target === target,
        );
        // A target gets a new generation only after its previous containment was undone.
        if (existing.some((a) => a.state !== 'compensated')) continue;
        const action = newAction({
          kind,
          target,
          purpose: 'containment',
          policy,
          state: policy === 'auto' ? 'approved' : policy === 'never' ? 'skipped' : 'pending_approval',
          ...(policy === 'never'
            ? { reason: `playbook policy for ${kind} at ${state.severity} severity is never` }
            : {}),
        });
        planned++;
        if (policy === 'approve' || policy === 'two_person') {
          const requestedBy = [...raisers];
          openApproval(
            [action],
            policy,
            `${DESCRIBE[kind].verb} ${target}: in scope of ${state.severity} incident "${oneLine(state.title)}" ` +
              `(playbook ${playbook.id}; ${state.alerts.count} alert(s)).`,
            requestedBy,
          );
        }
        if (policy !== 'never') startRunner(action);
      }
    }
    return planned;
  }

  /** After severity rises, pending containment approvals follow the new severity's policy. */
  function applySeverityToPendingApprovals(): void {
    for (const approval of state.approvals) {
      if (approval.state !== 'pending') continue;
      const action = actionById(approval.actionIds[0]!);
      if (!action || action.purpose !== 'containment') continue;
      const policy = containmentPolicy(playbook, action.kind as ContainmentKind, state.severity);
      if (!policy || policy === approval.policy) continue;
      const reason = `severity raised to ${state.severity}: playbook policy is now ${policy}`;
      action.policy = policy;
      if (policy === 'auto') settleApproval(approval, 'cancelled', 'approved', reason);
      else if (policy === 'never') settleApproval(approval, 'cancelled', 'skipped', reason);
      else {
        approval.policy = policy;
        approval.requiredApprovers = requiredApprovers(policy);
        approval.request.severity = state.severity;
        if (approval.decisions.filter((d) => d.decision === 'approve').length >= approval.requiredApprovers) {
          settleApproval(approval, 'approved', 'approved');
        }
      }
    }
  }

  const terminal = (a: IncidentAction) =>
    !['pending_approval', 'approved', 'running', 'failed'].includes(a.state);
  const containmentSettled = () => state.actions.filter((a) => a.purpose === 'containment').every(terminal);
  const recoverySettled = () => state.actions.filter((a) => a.purpose === 'recovery').every(terminal);
  const closingAsFalsePositive = () => closeRequest?.resolution === 'false_positive';

  // ---------------------------------------------------------------------------------------------------------
  // Message handlers (registered before any await: update-with-start delivers the first alert at once)
  // ---------------------------------------------------------------------------------------------------------
  const open = () => state.status === 'open' && !closeRequest;
  const countMessage = () => messagesThisRun++;

  setHandler(incidentStateQuery, () => state);

  setHandler(
    ingestAlertUpdate,
    ({ alert, raisedBy }): AlertReceipt => {
      countMessage();
      const alertId = alertIdentity(alert);
      const key = digest53(alertId);
      if (seenAlerts.has(key)) {
        state.alerts.deduplicated++;
        return {
          incidentId: state.incidentId,
          alertId,
          deduplicated: true,
          alertCount: state.alerts.count,
          severity: state.severity,
        };
      }
      seenAlerts.add(key);
      recordAlert(alert, alertId, raisedBy);
      return {
        incidentId: state.incidentId,
        alertId,
        deduplicated: false,
        alertCount: state.alerts.count,
        severity: state.severity,
      };
    },
    {
      validator: ({ alert, raisedBy }: { alert: NormalizedAlert; raisedBy: string }) => {
        if (!open())
          refuse('IncidentClosing', `incident ${state.incidentId} is closing; the alert opens a new one`);
        if (!alert?.source || !alert.sourceAlertId || !raisedBy)
          refuse('InvalidRequest', 'alert has no identity');
      },
    },
  );

  function recordAlert(alert: NormalizedAlert, alertId: string, raisedBy: string): void {
    const first = state.alerts.count === 0;
    raisers.add(raisedBy);
    state.alerts.count++;
    state.alerts.recent = [...state.alerts.recent, summarizeAlert(alert, alertId, raisedBy)].slice(
      -RECENT_ALERTS,
    );
    if (first) {
      state.title = alert.title;
      state.milestones.detectedAt = alert.detectedAt;
      if (alert.firstSeenAt) state.milestones.firstActivityAt = alert.firstSeenAt;
      refreshMetrics();
    }
    const added = new Set<string>();
    for (const kind of ['hosts', 'accounts', 'ips', 'domains'] as const) {
      for (const entity of alert.entities[kind]) {
        if (!state.scope[kind].includes(entity)) {
          state.scope[kind].push(entity);
          added.add(entity);
        }
      }
    }
    const widened = added.size > 0;
    // A host that joins once investigation is over (eradication onwards) is snapshotted at once: every host in
    // scope gets its evidence, whenever it was added. (During investigation the phase loop takes it.)
    if (
      widened &&
      ['eradication', 'recovery', 'lessons_learned'].includes(state.phase) &&
      !closeRequest &&
      uninvestigatedHosts().length > 0 &&
      patched(PATCH_LATE_ENTITY_EVIDENCE)
    ) {
      const hosts = uninvestigatedHosts();
      lateSnapshots++;
      void collectEvidence(hosts).finally(() => lateSnapshots--);
    }
    const previous = state.severity;
    highestAlertSeverity = first ? alert.severity : maxSeverity(highestAlertSeverity, alert.severity);
    const next = evaluateSeverity(playbook, highestAlertSeverity, state.scope);
    // Severity never drops: dedup and correlation must never hide an escalation.
    state.severity = first || severityRank(next) > severityRank(previous) ? next : previous;
    const escalated = !first && severityRank(state.severity) > severityRank(previous);
    syncSearchAttributes();
    if (state.phase === 'identification') return;
    if (escalated) {
      applySeverityToPendingApprovals();
      void notify(
        phaseRoutes(playbook, state.phase, state.severity).concat(playbook.notifications.responders),
        `severity raised to ${state.severity}`,
        `A correlated alert (${alert.title}) raised the incident from ${previous} to ${state.severity}. Scope: ${scopeSummary()}`,
        'severity escalation',
      );
    }
    if (widened || escalated) {
      const recovering = state.phase === 'recovery' || state.phase === 'lessons_learned';
      // Once recovery has begun, only the entities this alert adds are contained: hosts already released stay
      // released rather than flap with every late alert about them.
      const planned = planContainment(
        recovering && patched(PATCH_REOPEN_NEW_ENTITIES_ONLY) ? added : undefined,
      );
      if (planned > 0 && recovering) reopenRequested = true;
    }
  }

  // Refused decisions are accepted, recorded, then failed with their refusal type: a validator's refusal would
  // leave no trace in history, and auditors must see self-approvals, second decisions and non-approvers trying.
  // (Histories from before hold no refused updates at all, so replaying them takes no other path.)
  setHandler(
    decideApprovalUpdate,
    (req) => {
      countMessage();
      const refusal = decisionRefusal(req);
      if (refusal) {
        recordRefusedDecision(req, refusal, 'update');
        throw ApplicationFailure.create({ type: refusal.type, message: refusal.message, nonRetryable: true });
      }
      return applyDecision(req, 'update');
    },
    {
      validator: (req: ApprovalDecisionRequest) => {
        if (state.status !== 'open') refuse('IncidentClosed', `incident ${state.incidentId} is closed`);
        if (!req?.actor?.subject || !req.approvalId || !['approve', 'reject'].includes(req.decision))
          refuse(
            'InvalidRequest',
            'a decision needs an approval ID, approve or reject, and the verified actor',
          );
      },
    },
  );

  setHandler(decideApprovalSignal, (req) => {
    countMessage();
    const refusal =
      state.status !== 'open'
        ? { type: 'IncidentClosed' as const, message: 'incident is closed' }
        : decisionRefusal(req);
    if (refusal) {
      // A signal cannot be answered, so the refusal is kept where responders and auditors can see it.
      recordRefusedDecision(req, refusal, 'signal');
      return;
    }
    applyDecision(req, 'signal');
  });

  /** Keeps a refused decision on its approval, or on the incident when the approval does not exist. */
  function recordRefusedDecision(
    req: ApprovalDecisionRequest,
    refusal: Refusal,
    via: 'update' | 'signal',
  ): void {
    const attempt: RefusedDecision = {
      decider: req.actor?.subject ?? '(unknown)',
      ...(req.actor?.roles ? { roles: req.actor.roles } : {}),
      decision: req.decision,
      reason: refusal.message,
      type: refusal.type,
      at: now(),
      via,
    };
    const approval = approvalById(req.approvalId);
    if (approval) approval.refusedAttempts = [...approval.refusedAttempts, attempt].slice(-REFUSALS_KEPT);
    else if (via === 'signal')
      state.refusedSignals = [
        ...(state.refusedSignals ?? []),
        { ...attempt, approvalId: req.approvalId },
      ].slice(-50);
    else
      recordRefusedRequest({
        request: 'decideApproval',
        approvalId: req.approvalId,
        decision: req.decision,
        decider: attempt.decider,
        roles: req.actor?.roles ?? [],
        reason: refusal.message,
        type: refusal.type,
        at: attempt.at,
        via,
      });
  }

  function recordRefusedRequest(refused: RefusedRequest): void {
    state.refusedRequests = [...(state.refusedRequests ?? []), refused].slice(-REFUSALS_KEPT);
  }

  setHandler(
    resolveFailedActionUpdate,
    (req) => {
      countMessage();
      acknowledge();
      const action = actionById(req.actionId)!;
      action.requestedResolution = req.resolution;
      // The answer shows what happens next: queued to run again, or skipped (the runner takes it from here).
      if (req.resolution === 'retry') {
        action.responderRetries++;
        action.state = 'approved';
      } else {
        action.state = 'skipped';
        action.finishedAt = now();
      }
      action.resolutions.push({
        resolution: req.resolution,
        by: req.actor.subject,
        at: now(),
        ...(req.comment ? { comment: req.comment } : {}),
      });
      return action;
    },
    {
      validator: (req: ResolveFailedActionRequest) => {
        if (state.status !== 'open') refuse('IncidentClosed', `incident ${state.incidentId} is closed`);
        const action = actionById(req.actionId);
        if (!action) refuse('ActionNotFound', `no action ${req.actionId} on ${state.incidentId}`);
        if (action.state !== 'failed' || action.requestedResolution) {
          refuse(
            'ActionNotFailed',
            `action ${req.actionId} is ${action.state}; only failed actions can be retried or skipped`,
          );
        }
      },
    },
  );

  setHandler(
    completeChecklistItemUpdate,
    (req) => {
      countMessage();
      acknowledge();
      const item = state.checklist.find((i) => i.itemId === req.itemId)!;
      item.completedBy = req.actor.subject;
      item.completedAt = now();
      if (req.note) item.note = req.note;
      return item;
    },
    {
      validator: (req: CompleteChecklistItemRequest) => {
        if (state.status !== 'open') refuse('IncidentClosed', `incident ${state.incidentId} is closed`);
        const item = state.checklist.find((i) => i.itemId === req.itemId);
        if (!item) refuse('ChecklistItemNotFound', `no checklist item ${req.itemId} on ${state.incidentId}`);
        if (item.completedAt)
          refuse(
            'ChecklistItemCompleted',
            `checklist item ${req.itemId} was completed by ${item.completedBy}`,
          );
      },
    },
  );

  setHandler(
    addNoteUpdate,
    (req) => {
      countMessage();
      acknowledge();
      const note = {
        noteId: `note-${nextIds.note++}`,
        kind: req.kind,
        text: req.text,
        author: req.actor.subject,
        at: now(),
      };
      state.notes.push(note);
      return note;
    },
    {
      validator: (req: AddNoteRequest) => {
        if (state.status !== 'open') refuse('IncidentClosed', `incident ${state.incidentId} is closed`);
        if (!req.text || req.text.length > 20_000)
          refuse('InvalidRequest', 'a note needs 1 to 20,000 characters');
      },
    },
  );

  function closeRefusal(req: CloseIncidentRequest): Refusal | undefined {
    if (closeRequest)
      return { type: 'IncidentClosed', message: `incident ${state.incidentId} is already closing` };
    const notApprover = approverRefusal(req.actor);
    if (notApprover) return notApprover;
    if (req.resolution === 'resolved' && state.phase !== 'lessons_learned') {
      return {
        type: 'WrongPhase',
        message: `an incident closes as resolved only after recovery (it is in ${state.phase}); close it as a false positive instead`,
      };
    }
    return undefined;
  }

  setHandler(
    closeIncidentUpdate,
    (req) => {
      countMessage();
      const refusal = closeRefusal(req);
      if (refusal) {
        recordRefusedRequest({
          request: 'closeIncident',
          decision: req.resolution,
          decider: req.actor?.subject ?? '(unknown)',
          roles: req.actor?.roles ?? [],
          reason: refusal.message,
          type: refusal.type,
          at: now(),
          via: 'update',
        });
        throw ApplicationFailure.create({ type: refusal.type, message: refusal.message, nonRetryable: true });
      }
      acknowledge();
      closeRequest = { ...req, at: now() };
      return {
        incidentId: state.incidentId,
        resolution: req.resolution,
        compensating: req.resolution === 'false_positive' ? compensationOrder().map((a) => a.actionId) : [],
      };
    },
    {
      validator: (req: CloseIncidentRequest) => {
        if (state.status !== 'open') refuse('IncidentClosed', `incident ${state.incidentId} is closed`);
        if (!req?.actor?.subject || !['resolved', 'false_positive'].includes(req.resolution))
          refuse(
            'InvalidRequest',
            'a close needs a resolution (resolved or false_positive) and the verified actor',
          );
      },
    },
  );

  /** Containment actions whose effect is in place, most recent first: the saga's compensation order. */
  function compensationOrder(): IncidentAction[] {
    return state.actions
      .filter(
        (a) =>
          a.purpose === 'containment' &&
          (a.state === 'succeeded' || a.state === 'running' || a.state === 'approved'),
      )
      .sort((a, b) => (b.finishedAt ?? '9999').localeCompare(a.finishedAt ?? '9999'));
  }

  // ---------------------------------------------------------------------------------------------------------
  // Resume after continue-as-new: restart the coroutines the state says were live.
  // ---------------------------------------------------------------------------------------------------------
  for (const approval of state.approvals) if (approval.state === 'pending') startApprovalWatch(approval);
  for (const action of state.actions) {
    if (['pending_approval', 'approved', 'failed'].includes(action.state)) startRunner(action);
  }
  syncSearchAttributes();

  // ---------------------------------------------------------------------------------------------------------
  // Continue-as-new watcher and the phase loop
  // ---------------------------------------------------------------------------------------------------------
  const shouldContinueAsNew = () =>
    state.status === 'open' &&
    (workflowInfo().continueAsNewSuggested ||
      workflowInfo().historyLength >= HISTORY_EVENTS_BEFORE_CONTINUE ||
      messagesThisRun >= MESSAGES_BEFORE_CONTINUE);

  const continueWhenQuiet = async (): Promise<'continue'> => {
    await condition(() => shouldContinueAsNew() && mainParked && inFlight === 0 && allHandlersFinished());
    return 'continue';
  };

  /** Parks the phase loop at a resumable wait. */
  async function parkUntil(fn: () => boolean, timeoutMs?: number): Promise<boolean> {
    mainParked = true;
    try {
      return timeoutMs === undefined ? (await condition(fn), true) : await condition(fn, timeoutMs);
    } finally {
      mainParked = false;
    }
  }

  const outcome = await Promise.race([runPhases(), continueWhenQuiet()]);
  if (outcome === 'continue') {
    state.runs++;
    log.info('continuing as new', {
      incidentId: state.incidentId,
      historyLength: workflowInfo().historyLength,
    });
    const next: CarriedIncident = {
      state,
      seenAlertDigests: [...seenAlerts],
      raisers: [...raisers],
      nextIds,
      ...(closeRequest ? { closeRequest } : {}),
    };
    return continueAsNew<typeof incidentWorkflow>({ ...input, carried: next });
  }
  return state;

  async function runPhases(): Promise<'done'> {
    for (;;) {
      if (closingAsFalsePositive()) {
        await closeAsFalsePositive();
        return 'done';
      }
      switch (state.phase) {
        case 'identification': {
          await parkUntil(() => state.alerts.count > 0 || closeRequest !== undefined);
          if (closeRequest) continue;
          // Containment starts before the identification notice is delivered: seconds matter more than order.
          const identified = notifyPhase(
            'identification',
            `New ${state.severity} incident "${state.title}". Scope: ${scopeSummary()}`,
          );
          enterPhase('containment');
          planContainment();
          await identified;
          break;
        }
        case 'containment': {
          await parkUntil(() => containmentSettled() || closingAsFalsePositive());
          if (closingAsFalsePositive()) continue;
          if (!state.milestones.containedAt) {
            state.milestones.containedAt = now();
            refreshMetrics();
          }
          await notifyPhase('containment', `Containment complete. ${describeActions('containment')}`);
          enterPhase('investigation');
          break;
        }
        case 'investigation': {
          await collectEvidence();
          // Hosts that joined while the snapshots ran are investigated before the phase ends.
          while (
            !closingAsFalsePositive() &&
            uninvestigatedHosts().length > 0 &&
            patched(PATCH_LATE_ENTITY_EVIDENCE)
          )
            await collectEvidence(uninvestigatedHosts());
          if (closingAsFalsePositive()) continue;
          await notifyPhase(
            'investigation',
            `Evidence collected for ${state.evidence.length} item(s). Scope: ${scopeSummary()}. ${describeActions('containment')}`,
          );
          enterPhase('eradication');
          break;
        }
        case 'eradication': {
          await parkUntil(() => state.checklist.every((i) => i.completedAt) || closingAsFalsePositive());
          if (closingAsFalsePositive()) continue;
          enterPhase('recovery');
          break;
        }
        case 'recovery': {
          await recover();
          if (closingAsFalsePositive()) continue;
          if (reopenRequested) {
            reopen();
            break;
          }
          if (!state.milestones.recoveredAt) {
            state.milestones.recoveredAt = now();
            refreshMetrics();
          }
          await notifyPhase('recovery', `Recovery complete. ${describeActions('recovery')}`);
          enterPhase('lessons_learned');
          await notifyPhase(
            'lessons_learned',
            `Post-incident report ready: MTTA ${fmt(state.metrics.mttaSeconds)}, MTTC ${fmt(state.metrics.mttcSeconds)}, ` +
              `MTTR ${fmt(state.metrics.mttrSeconds)}. Add lessons learned, then close the incident.`,
          );
          break;
        }
        case 'lessons_learned': {
          const enteredAt = Date.parse(state.phaseTimestamps.lessons_learned ?? now());
          const remaining = enteredAt + playbook.closure.autoCloseAfter - Date.now();
          if (remaining > 0) await parkUntil(() => closeRequest !== undefined || reopenRequested, remaining);
          if (closingAsFalsePositive()) continue;
          if (reopenRequested) {
            reopen();
            break;
          }
          await finishClose(closeRequest?.resolution ?? 'resolved');
          return 'done';
        }
        case 'closed':
          return 'done';
      }
    }
  }

  function reopen(): void {
    reopenRequested = false;
    state.reopened++;
    enterPhase('containment');
  }

  function describeActions(purpose: 'containment' | 'recovery'): string {
    const actions = state.actions.filter((a) => a.purpose === purpose);
    if (!actions.length) return `No ${purpose} actions.`;
    return actions.map((a) => `${a.kind} ${a.target}: ${a.state}`).join('; ');
  }

  function hasLogEvidence(host: string): boolean {
    return state.evidence.some((e) => e.subject === host && e.name === `logs:${host}`);
  }

  /** Hosts in scope that no investigation has looked at yet (they joined after it began). */
  function uninvestigatedHosts(): string[] {
    return state.scope.hosts.filter((h) => !hasLogEvidence(h) && !state.investigatedHosts?.includes(h));
  }

  /**
   * Snapshots the logs of each host into the evidence store (by default: every host in scope without its
   * snapshot, so a host whose snapshot failed is tried again at the next investigation).
   */
  async function collectEvidence(
    hosts: string[] = state.scope.hosts.filter((h) => !hasLogEvidence(h)),
  ): Promise<void> {
    const anchor = Date.parse(state.milestones.detectedAt ?? state.openedAt);
    const from = new Date(anchor - playbook.evidence.windowBefore).toISOString();
    const to = new Date(anchor + playbook.evidence.windowAfter).toISOString();
    state.investigatedHosts = [...new Set([...(state.investigatedHosts ?? []), ...hosts])];
    await Promise.all(
      hosts.map(async (host) => {
        inFlight++;
        try {
          const evidence = await evidenceActivities.snapshotLogs({
            incidentId: state.incidentId,
            host,
            from,
            to,
            idempotencyKey: `${state.incidentId}:evidence:logs:${host}`,
          });
          state.evidence.push(evidence);
        } catch (err) {
          const failure = failureOf(err);
          log.warn('evidence collection failed', {
            incidentId: state.incidentId,
            host,
            error: failure.message,
          });
          state.notes.push({
            noteId: `note-${nextIds.note++}`,
            kind: 'note',
            text: `Evidence collection for ${host} failed: ${failure.type}: ${failure.message}`,
            author: 'quell',
            at: now(),
          });
        } finally {
          inFlight--;
        }
      }),
    );
  }

  /** Undoes every containment still in place, each under the recovery approval policy, then verifies it. */
  async function recover(): Promise<void> {
    await waitForContainmentToSettle();
    if (closingAsFalsePositive()) return;
    const policy = recoveryPolicy(playbook, state.severity);
    const eradicators = [
      ...new Set(state.checklist.map((i) => i.completedBy).filter((s): s is string => !!s)),
    ];
    for (const original of compensationOrder()) {
      if (
        state.actions.some(
          (a) =>
            a.undoes === original.actionId &&
            a.state !== 'failed' &&
            a.state !== 'rejected' &&
            a.state !== 'expired' &&
            a.state !== 'skipped',
        )
      )
        continue;
      const kind = UNDO_OF[original.kind as ContainmentKind];
      const undo = newAction({
        kind,
        target: original.target,
        purpose: 'recovery',
        undoes: original.actionId,
        policy,
        state: policy === 'auto' ? 'approved' : policy === 'never' ? 'skipped' : 'pending_approval',
        ...(policy === 'never' ? { reason: 'playbook recovery policy is never: undo it by hand' } : {}),
      });
      if (policy === 'approve' || policy === 'two_person') {
        openApproval(
          [undo],
          policy,
          `Recovery: ${kind} ${original.target}, undoing ${original.actionId} now that eradication is complete.`,
          eradicators,
        );
      }
      if (policy !== 'never') startRunner(undo);
    }
    await parkUntil(() => recoverySettled() || closingAsFalsePositive() || reopenRequested);
  }

  /**
   * Recovery undoes only containment that took effect, so it first waits for every containment action to
   * settle: running ones to finish, pending approvals to be decided (or to expire), failed ones to be retried
   * or skipped. While it waits, `state.waitingFor` (and the memo, hence the history and the timeline) says for
   * what; approvals still pending say that approving now contains, and recovery then asks to undo it.
   */
  async function waitForContainmentToSettle(): Promise<void> {
    if (containmentSettled() || closingAsFalsePositive()) return;
    const recordInHistory = patched(PATCH_RECOVERY_WAIT_VISIBLE);
    const since = now();
    for (;;) {
      const waiting = describeContainmentWait(since);
      const key = waiting.summary;
      state.waitingFor = waiting;
      for (const a of waiting.approvals) {
        const approval = approvalById(a.approvalId);
        if (approval && !approval.notice) {
          approval.notice =
            'Eradication is complete and recovery waits for this decision: approving applies the containment ' +
            'now, and recovery then asks to undo it. Reject it if the containment is no longer needed.';
        }
      }
      if (recordInHistory) upsertMemo({ waitingFor: waiting.summary });
      await parkUntil(
        () =>
          containmentSettled() || closingAsFalsePositive() || describeContainmentWait(since).summary !== key,
      );
      if (containmentSettled() || closingAsFalsePositive()) break;
    }
    delete state.waitingFor;
    if (recordInHistory) upsertMemo({ waitingFor: undefined });
  }

  function describeContainmentWait(since: string): NonNullable<IncidentState['waitingFor']> {
    const unsettled = state.actions.filter((a) => a.purpose === 'containment' && !terminal(a));
    const approvals = unsettled
      .filter((a) => a.state === 'pending_approval' && a.approvalId)
      .map((a) => ({ approvalId: a.approvalId!, action: a.kind, target: a.target }));
    const failedActions = unsettled
      .filter((a) => a.state === 'failed')
      .map((a) => ({ actionId: a.actionId, kind: a.kind, target: a.target }));
    const runningActions = unsettled
      .filter((a) => a.state === 'running' || a.state === 'approved')
      .map((a) => a.actionId);
    const parts = [
      ...approvals.map(
        (a) => `${a.approvalId} (${a.action} ${oneLine(a.target)}) awaits an approver's decision`,
      ),
      ...failedActions.map((a) => `${a.actionId} (${a.kind} ${oneLine(a.target)}) failed: retry or skip it`),
      ...(runningActions.length ? [`${runningActions.join(', ')} still running`] : []),
    ];
    return {
      phase: state.phase,
      since,
      summary: `Recovery waits for containment to settle: ${parts.join('; ')}.`,
      approvals,
      failedActions,
      runningActions,
    };
  }

  /** Saga compensation: undo every containment already done, newest first, each retried until done. */
  async function closeAsFalsePositive(): Promise<void> {
    for (const approval of state.approvals) {
      if (approval.state === 'pending')
        settleApproval(approval, 'cancelled', 'skipped', 'incident closed as a false positive');
    }
    // Let running actions finish first: their effect must be known before it can be undone.
    await parkUntil(() => !state.actions.some((a) => a.state === 'running' || a.state === 'approved'));
    for (const a of state.actions) {
      if (a.state === 'failed' && a.purpose === 'containment') {
        a.state = 'skipped';
        a.reason = 'incident closed as a false positive';
      }
    }
    for (const original of compensationOrder()) {
      let undo = state.actions.find((a) => a.undoes === original.actionId && a.saga);
      if (!undo) {
        // A recovery undo that failed or waits for approval is superseded by the compensation.
        for (const stale of state.actions) {
          if (stale.undoes === original.actionId && !terminal(stale)) {
            stale.state = 'skipped';
            stale.reason = 'superseded by false-positive compensation';
            stale.finishedAt = now();
          }
        }
        const kind = UNDO_OF[original.kind as ContainmentKind];
        undo = newAction({
          kind,
          target: original.target,
          purpose: 'recovery',
          undoes: original.actionId,
          policy: 'auto',
          state: 'approved',
          reason: 'false-positive compensation',
          saga: true,
        });
        startRunner(undo);
      }
      const u = undo;
      // One at a time, in reverse order: a later containment may depend on an earlier one still holding.
      await parkUntil(() => terminal(u));
    }
    await finishClose('false_positive');
  }

  async function finishClose(resolution: 'false_positive' | 'resolved'): Promise<void> {
    if (lateSnapshots > 0) await condition(() => lateSnapshots === 0);
    state.resolution = resolution;
    if (!state.milestones.recoveredAt) state.milestones.recoveredAt = now();
    state.milestones.closedAt = now();
    refreshMetrics();
    await notify(
      phaseRoutes(playbook, 'closed', state.severity).concat(playbook.notifications.responders),
      `closed (${resolution.replace('_', ' ')})`,
      `Incident closed as ${resolution.replace('_', ' ')}${closeRequest?.comment ? `: ${closeRequest.comment}` : ''}. ` +
        `MTTA ${fmt(state.metrics.mttaSeconds)}, MTTC ${fmt(state.metrics.mttcSeconds)}, MTTR ${fmt(state.metrics.mttrSeconds)}.`,
      'closed',
    );
    state.status = 'closed';
    // One closing time: the report's "Closed" and the phase table's must not differ by the notification's time.
    enterPhase('closed', state.milestones.closedAt);
    // Let in-flight message handlers finish before the run completes, so no update is cut off.
    await condition(allHandlersFinished);
  }
}

function fmt(seconds: number | null): string {
  if (seconds === null) return 'n/a';
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  return `${(seconds / 3600).toFixed(1)}h`;
}
