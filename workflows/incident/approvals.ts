/**
 * Approvals: the rules a decision must pass (pure, unit-tested without a server), opening and settling an
 * approval, and the watch that escalates and then expires it.
 */
import { ApplicationFailure, condition, patched, upsertMemo, workflowInfo } from '@temporalio/workflow';
import { resolveKind, specsOf } from '../../src/domain/actions';
import type { ApprovalDecisionRequest, CloseIncidentRequest, RefusalType } from '../../src/contracts';
import type {
  Actor,
  Approval,
  DecisionVia,
  IncidentAction,
  IncidentState,
  RefusedDecision,
  RefusedRequest,
  SlackIdentity,
} from '../../src/domain/incident';
import { actionPolicy, requiredApprovers } from '../../src/playbooks/policy';
import { approvalNotice } from '../../src/domain/approval-notice';
import { notify } from './notify';
import { PATCHES } from './patches';
import type { IncidentRun } from './run';

export interface Refusal {
  type: RefusalType;
  message: string;
}

/** Most recent refusals kept in the state per approval and per incident (the history holds every one). */
export const REFUSALS_KEPT = 100;

/** Refuses a message in its update validator: the update leaves no trace in history. */
export function refuse(type: RefusalType, message: string): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true });
}

/** Fails an accepted update with its refusal: the update is in history, with the refusal as its outcome. */
export function refusalFailure(refusal: Refusal): ApplicationFailure {
  return ApplicationFailure.create({ type: refusal.type, message: refusal.message, nonRetryable: true });
}

// ---- Rules (pure) ----

/**
 * Decisions (approve, reject, close) need the approver role itself: admin alone does not pass, so whoever
 * administers Quell is not also the one who approves containment (separation of duties).
 */
export function approverRefusal(actor: Actor | undefined): Refusal | undefined {
  if (actor?.roles?.includes('approver')) return undefined;
  const subject = actor?.subject ?? '(unknown)';
  return {
    type: 'NotAnApprover',
    message: actor?.roles?.includes('admin')
      ? `${subject} holds admin but not the approver role; decisions need the approver role (separation of duties)`
      : `${subject} does not hold the approver role`,
  };
}

/** The refusal for a decision, or undefined when it may be applied. Same rules for updates and signals. */
export function decisionRefusal(state: IncidentState, req: ApprovalDecisionRequest): Refusal | undefined {
  const notApprover = approverRefusal(req.actor);
  if (notApprover) return notApprover;
  const approval = state.approvals.find((a) => a.approvalId === req.approvalId);
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

/** The refusal for a close request, or undefined. `closing`: a close was already accepted. */
export function closeRefusal(
  state: IncidentState,
  closing: boolean,
  req: CloseIncidentRequest,
): Refusal | undefined {
  if (closing) return { type: 'IncidentClosed', message: `incident ${state.incidentId} is already closing` };
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

/** Settles an approval and moves the actions still waiting on it to `actionState`. */
export function settleApproval(
  state: IncidentState,
  approval: Approval,
  outcome: 'approved' | 'rejected' | 'expired' | 'cancelled',
  actionState: 'approved' | 'rejected' | 'expired' | 'skipped',
  at: string,
  reason?: string,
): void {
  approval.state = outcome;
  approval.decidedAt = at;
  for (const id of approval.actionIds) {
    const action = state.actions.find((a) => a.actionId === id);
    if (action && action.state === 'pending_approval') {
      action.state = actionState;
      if (reason) action.reason = reason;
      if (actionState !== 'approved') action.finishedAt = at;
    }
  }
}

/**
 * Records a decision that passed the rules: a rejection settles the approval at once, an approval once it has
 * as many distinct approvers as its policy requires.
 */
export function recordDecision(
  state: IncidentState,
  req: ApprovalDecisionRequest,
  via: 'update' | 'signal',
  at: string,
): Approval {
  const approval = state.approvals.find((a) => a.approvalId === req.approvalId)!;
  approval.decisions.push({
    decision: req.decision,
    decider: req.actor.subject,
    roles: req.actor.roles,
    ...(req.comment ? { comment: req.comment } : {}),
    at,
    ...arrivedVia(req, via),
  });
  if (req.decision === 'reject') {
    settleApproval(state, approval, 'rejected', 'rejected', at, `rejected by ${req.actor.subject}`);
  } else if (
    approval.decisions.filter((d) => d.decision === 'approve').length >= approval.requiredApprovers
  ) {
    settleApproval(state, approval, 'approved', 'approved', at);
  }
  return approval;
}

/** A Slack decision arrives as an update that names Slack and who clicked; signals are always signals. */
function arrivedVia(
  req: ApprovalDecisionRequest,
  via: 'update' | 'signal',
): { via: DecisionVia; slack?: SlackIdentity } {
  if (via === 'update' && req.via === 'slack')
    return { via: 'slack', ...(req.slack ? { slack: req.slack } : {}) };
  return { via };
}

// ---- In the run ----

/** Applies a decision that passed the rules (it is a human response: it acknowledges the incident). */
export function applyDecision(
  run: IncidentRun,
  req: ApprovalDecisionRequest,
  via: 'update' | 'signal',
): Approval {
  run.acknowledge();
  return recordDecision(run.state, req, via, run.now());
}

/** Keeps a refused decision on its approval, or on the incident when the approval does not exist. */
export function recordRefusedDecision(
  run: IncidentRun,
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
    at: run.now(),
    ...arrivedVia(req, via),
  };
  const state = run.state;
  const approval = run.approvalById(req.approvalId);
  if (approval) approval.refusedAttempts = [...approval.refusedAttempts, attempt].slice(-REFUSALS_KEPT);
  else if (via === 'signal')
    state.refusedSignals = [
      ...(state.refusedSignals ?? []),
      { ...attempt, approvalId: req.approvalId },
    ].slice(-50);
  else
    recordRefusedRequest(state, {
      request: 'decideApproval',
      approvalId: req.approvalId,
      decision: req.decision,
      decider: attempt.decider,
      roles: req.actor?.roles ?? [],
      reason: refusal.message,
      type: refusal.type,
      at: attempt.at,
      ...arrivedVia(req, via),
    });
}

export function recordRefusedRequest(state: IncidentState, refused: RefusedRequest): void {
  state.refusedRequests = [...(state.refusedRequests ?? []), refused].slice(-REFUSALS_KEPT);
}

/** What undoing an action takes, as an approval request tells the approver. */
function undoDescription(playbook: IncidentRun['playbook'], action: IncidentAction): string {
  if (action.purpose === 'recovery')
    return 'containment would have to be applied again (a new containment action)';
  const resolved = resolveKind(specsOf(playbook), action.kind);
  if (resolved?.spec.undo && !resolved.undo) return resolved.spec.undo.description;
  return resolved && !resolved.spec.changesState
    ? 'nothing to undo: it changes no state'
    : 'no automatic undo: reverse it at the vendor by hand';
}

/** Opens an approval for actions (today always one) and starts its escalation and expiry watch. */
export function openApproval(
  run: IncidentRun,
  actions: IncidentAction[],
  policy: 'approve' | 'two_person',
  why: string,
  requestedBy: string[],
): Approval {
  const { state, playbook } = run;
  const first = actions[0]!;
  const requestedAt = run.now();
  const kind = first.kind;
  const undo = undoDescription(playbook, first);
  const approval: Approval = {
    approvalId: `apr-${run.nextIds.approval++}`,
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
  watchApproval(run, approval);
  const routes = playbook.notifications.responders;
  if (routes.length && patched(PATCHES.approvalNotice)) {
    void notify(
      run,
      routes,
      `approval ${approval.approvalId}: ${kind} on ${first.target}`,
      `Approval ${approval.approvalId} requested: ${kind} on ${first.target}. Why: ${why}`,
      `approval ${approval.approvalId}`,
      approvalNotice(approval),
    );
  }
  return approval;
}

/** How many approvals wait for a decision. */
export function pendingApprovalCount(state: IncidentState): number {
  return state.approvals.filter((a) => a.state === 'pending').length;
}

/**
 * Keeps the memo's `pendingApprovals` (read by the incident list) equal to the pending approvals, with one
 * memo upsert whenever the count changes (never when it does not), checked after each message or timer rather
 * than at every place an approval opens or settles. The intake starts incidents with `pendingApprovals: 0` in
 * the memo; a run whose memo lacks it (opened before this, or a continue-as-new that dropped it) records it
 * at its first change, or at once after continue-as-new.
 */
export function recordPendingApprovals(run: IncidentRun): void {
  const memo = workflowInfo().memo?.pendingApprovals;
  let recorded = typeof memo === 'number' ? memo : undefined;
  let observed = pendingApprovalCount(run.state);
  const record = () => {
    if (observed !== recorded && patched(PATCHES.pendingApprovalsInMemo)) {
      upsertMemo({ pendingApprovals: observed });
      recorded = observed;
    }
  };
  if (run.input.carried) record();
  void (async () => {
    for (;;) {
      await condition(() => pendingApprovalCount(run.state) !== observed);
      observed = pendingApprovalCount(run.state);
      record();
    }
  })();
}

/**
 * Escalates a pending approval after the playbook's `escalateAfter`, then expires it after `expireAfter`
 * with the playbook's `onExpiry`. Resumable: it starts from what the approval records (after continue-as-new).
 */
export function watchApproval(run: IncidentRun, approval: Approval): void {
  const { playbook } = run;
  void (async () => {
    const decided = () => approval.state !== 'pending';
    const msUntil = (iso: string | undefined) => (iso ? Date.parse(iso) - Date.now() : 0);
    if (!approval.escalatedAt) {
      const wait = msUntil(approval.escalateAt);
      if (wait > 0 && (await condition(decided, wait))) return;
      if (approval.state !== 'pending') return;
      approval.escalatedAt = run.now();
      const routes = playbook.approvals.escalationRoutes;
      if (routes.length) {
        await notify(
          run,
          routes,
          `approval ${approval.approvalId} waiting`,
          `Approval ${approval.approvalId} (${approval.request.action} on ${approval.request.target}) has waited ` +
            `${Math.round(playbook.approvals.escalateAfter / 1000)} s without a decision. Why: ${approval.request.why}`,
          `escalation ${approval.approvalId}`,
          approvalNotice(approval),
        );
      }
    }
    const wait = msUntil(approval.expiresAt);
    if (wait > 0 && (await condition(decided, wait))) return;
    if (approval.state !== 'pending') return;
    const onExpiry = playbook.approvals.onExpiry;
    approval.expiryOutcome = onExpiry;
    if (onExpiry === 'approve')
      settleApproval(
        run.state,
        approval,
        'expired',
        'approved',
        run.now(),
        'approved on expiry by playbook policy',
      );
    else settleApproval(run.state, approval, 'expired', 'expired', run.now(), 'expired without a decision');
  })();
}

/** After severity rises, pending approvals of a phase's actions follow the new severity's policy. */
export function applySeverityToPendingApprovals(run: IncidentRun): void {
  const { state, playbook } = run;
  for (const approval of state.approvals) {
    if (approval.state !== 'pending') continue;
    const action = run.actionById(approval.actionIds[0]!);
    if (!action || action.purpose === 'recovery') continue;
    const policy = actionPolicy(playbook, action.purpose, action.kind, state.severity);
    if (!policy || policy === approval.policy) continue;
    const reason = `severity raised to ${state.severity}: playbook policy is now ${policy}`;
    action.policy = policy;
    if (policy === 'auto') settleApproval(state, approval, 'cancelled', 'approved', run.now(), reason);
    else if (policy === 'never') settleApproval(state, approval, 'cancelled', 'skipped', run.now(), reason);
    else {
      approval.policy = policy;
      approval.requiredApprovers = requiredApprovers(policy);
      approval.request.severity = state.severity;
      if (approval.decisions.filter((d) => d.decision === 'approve').length >= approval.requiredApprovers) {
        settleApproval(state, approval, 'approved', 'approved', run.now());
      }
    }
  }
}
