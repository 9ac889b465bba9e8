/**
 * Actions: which containment to plan (pure, unit-tested without a server), proposing an action (plan, ask
 * for approval, run), the runner that takes one action to a final state, and the saga's compensation order.
 */
import { ApplicationFailure, condition, log } from '@temporalio/workflow';
import type { ActionOutcome } from '../../activities';
import { activityOf, CONTAINMENT_ACTIONS, isContainmentKind, UNDO_ACTIONS } from '../../src/domain/actions';
import {
  CONTAINMENT_KINDS,
  type ActionKind,
  type ApprovalPolicy,
  type ContainmentKind,
  type IncidentAction,
  type IncidentState,
} from '../../src/domain/incident';
import { isInternalIp } from '../../src/domain/ip';
import { oneLine } from '../../src/domain/untrusted-text';
import { containmentPolicy } from '../../src/playbooks/policy';
import type { Playbook } from '../../src/playbooks/schema';
import { actionActivities, failureOf } from './proxies';
import { openApproval } from './approvals';
import { notify } from './notify';
import type { IncidentRun } from './run';

// ---- Rules (pure) ----

export interface PlannedContainment {
  kind: ContainmentKind;
  target: string;
  policy: ApprovalPolicy;
}

/**
 * The containment the scope calls for, one at a time: each kind the playbook has, on every target in scope
 * that has no containment of its kind in place (a target gets a new one only after the previous was undone).
 * A generator, so the caller plans each before the next is considered (the next one sees it) and calls
 * `leaveInternal` (a `patched()` check) exactly where it always has.
 * - `only`: consider only these targets (the entities a late alert added);
 * - `leaveInternal`: whether block_ip leaves this internal address alone (unless the playbook says `targets: all`).
 */
export function* containmentToPlan(
  state: IncidentState,
  playbook: Playbook,
  opts: { only?: ReadonlySet<string>; leaveInternal: () => boolean },
): Generator<PlannedContainment> {
  for (const kind of CONTAINMENT_KINDS) {
    const policy = containmentPolicy(playbook, kind, state.severity);
    if (!policy) continue;
    const onlyExternal = kind === 'block_ip' && playbook.containment.block_ip?.targets !== 'all';
    for (const target of state.scope[CONTAINMENT_ACTIONS[kind].entity]) {
      if (opts.only && !opts.only.has(target)) continue;
      // Our own estate is investigated, never blocked at the edge.
      if (onlyExternal && isInternalIp(target) && opts.leaveInternal()) continue;
      const previous = state.actions.filter(
        (a) => a.purpose === 'containment' && a.kind === kind && a.target === target,
      );
      if (previous.some((a) => a.state !== 'compensated')) continue;
      yield { kind, target, policy };
    }
  }
}

/**
 * Containment actions whose effect is in place (or about to be), most recent first: the order in which a saga
 * undoes them, since a later containment may depend on an earlier one still holding.
 */
export function compensationOrder(actions: readonly IncidentAction[]): IncidentAction[] {
  return actions
    .filter(
      (a) =>
        a.purpose === 'containment' &&
        (a.state === 'succeeded' || a.state === 'running' || a.state === 'approved'),
    )
    .sort((a, b) => (b.finishedAt ?? '9999').localeCompare(a.finishedAt ?? '9999'));
}

/** The state an action starts in under its policy. */
export function initialActionState(policy: ApprovalPolicy): IncidentAction['state'] {
  return policy === 'auto' ? 'approved' : policy === 'never' ? 'skipped' : 'pending_approval';
}

// ---- In the run ----

export interface ProposedAction {
  kind: ActionKind;
  target: string;
  purpose: IncidentAction['purpose'];
  policy: ApprovalPolicy;
  undoes?: string;
  /** Why it is skipped when the policy is `never`. */
  neverReason: string;
  /** What an approver is asked (for `approve` and `two_person`), and who may not approve it. */
  approval: () => { why: string; requestedBy: string[] };
}

/** Plans an action, asks for its approval when its policy wants one, and starts its runner unless it is `never`. */
export function proposeAction(run: IncidentRun, p: ProposedAction): IncidentAction {
  const action = run.newAction({
    kind: p.kind,
    target: p.target,
    purpose: p.purpose,
    ...(p.undoes ? { undoes: p.undoes } : {}),
    policy: p.policy,
    state: initialActionState(p.policy),
    ...(p.policy === 'never' ? { reason: p.neverReason } : {}),
  });
  if (p.policy === 'approve' || p.policy === 'two_person') {
    const { why, requestedBy } = p.approval();
    openApproval(run, [action], p.policy, why, requestedBy);
  }
  if (p.policy !== 'never') startRunner(run, action);
  return action;
}

/** Plans containment for what the scope calls for (see containmentToPlan); returns how many were planned. */
export function planContainment(run: IncidentRun, leaveInternal: () => boolean, only?: Set<string>): number {
  const { state, playbook } = run;
  let planned = 0;
  for (const { kind, target, policy } of containmentToPlan(state, playbook, {
    ...(only ? { only } : {}),
    leaveInternal,
  })) {
    proposeAction(run, {
      kind,
      target,
      purpose: 'containment',
      policy,
      neverReason: `playbook policy for ${kind} at ${state.severity} severity is never`,
      approval: () => ({
        why:
          `${CONTAINMENT_ACTIONS[kind].verb} ${target}: in scope of ${state.severity} incident "${oneLine(state.title)}" ` +
          `(playbook ${playbook.id}; ${state.alerts.count} alert(s)).`,
        requestedBy: [...run.raisers],
      }),
    });
    planned++;
  }
  return planned;
}

async function executeAction(run: IncidentRun, action: IncidentAction, unlimited: boolean): Promise<void> {
  const acts = actionActivities(run.playbook, action, unlimited);
  const outcome: ActionOutcome = await acts[activityOf(action.kind)]({
    incidentId: run.state.incidentId,
    actionId: action.actionId,
    target: action.target,
    comment: oneLine(`${action.kind} ${action.target} (${run.state.title})`), // connectors prefix the incident ID
  });
  action.attempts += outcome.attempt;
  action.result = {
    alreadyInState: outcome.alreadyInState,
    ...(outcome.vendorRef ? { vendorRef: outcome.vendorRef } : {}),
  };
  if (action.purpose === 'recovery' && !isContainmentKind(action.kind)) {
    const verify = UNDO_ACTIONS[action.kind].verify;
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
 * Runs one action to a final state: waits for its approval, executes it with retries, and after a permanent
 * failure waits for a responder to retry (from this action, not from the start) or skip it.
 */
export function startRunner(run: IncidentRun, action: IncidentAction): void {
  const { state, playbook } = run;
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
          action.finishedAt = run.now();
          return;
        }
        action.state = 'approved';
      }
      if (action.state !== 'approved') return;
      action.state = 'running';
      action.startedAt = run.now();
      run.inFlight++;
      try {
        await executeAction(run, action, action.saga ?? false);
        action.state = 'succeeded';
        action.finishedAt = run.now();
        delete action.lastError;
        if (action.undoes) {
          const original = run.actionById(action.undoes);
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
          at: run.now(),
        };
        log.warn('action failed', {
          incidentId: state.incidentId,
          actionId: action.actionId,
          error: failure.message,
        });
      } finally {
        run.inFlight--;
      }
      const routes = playbook.notifications.responders;
      if (routes.length) {
        await notify(
          run,
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
