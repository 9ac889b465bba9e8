/**
 * Actions: which catalogue actions a phase plans (pure, unit-tested without a server), proposing an action
 * (plan, ask for approval, run), the runner that takes one action to a final state, and the saga's
 * compensation order. What each action is comes from the specs its playbook carries (src/domain/actions.ts).
 */
import { ApplicationFailure, condition, log } from '@temporalio/workflow';
import type { ActionInput, ActionOutcome, CatalogueCheckActivity } from '../../activities';
import {
  LEGACY_ACTION_SPECS,
  resolveKind,
  specsOf,
  takesScopeFiles,
  type ActionSpec,
} from '../../src/domain/actions';
import type {
  ActionKind,
  ActionPhase,
  ApprovalPolicy,
  IncidentAction,
  IncidentState,
} from '../../src/domain/incident';
import { isInternalIp } from '../../src/domain/ip';
import { oneLine } from '../../src/domain/untrusted-text';
import { actionConfig, actionsOfPhase } from '../../src/playbooks/policy';
import type { Playbook } from '../../src/playbooks/schema';
import { actionActivities, failureOf } from './proxies';
import { openApproval } from './approvals';
import { notify } from './notify';
import type { IncidentRun } from './run';

// ---- Rules (pure) ----

export interface PlannedAction {
  kind: string;
  spec: ActionSpec;
  target: string;
  policy: ApprovalPolicy;
  /** For an action on the alerts' files: the hashes in scope when it was planned. */
  files?: string[];
}

/** The actions a playbook names in a phase, in planning order (recorded playbooks: the legacy four's order). */
function phaseKinds(playbook: Playbook, phase: ActionPhase): string[] {
  if (playbook.actionSpecs) return actionsOfPhase(playbook, phase);
  return phase === 'containment'
    ? Object.keys(LEGACY_ACTION_SPECS).filter((k) => actionConfig(playbook, phase, k) !== undefined)
    : [];
}

/**
 * The actions a phase calls for, one at a time: each action the playbook names in the phase, on every target in
 * scope that has no action of its kind and purpose in place (a target gets a new one only after the previous
 * was undone). A generator, so the caller plans each before the next is considered (the next one sees it) and
 * calls `leaveInternal` (a `patched()` check) exactly where it always has.
 * - `only`: consider only these targets (the entities a late alert added);
 * - `leaveInternal`: whether an action on IP addresses leaves this internal address alone (unless the playbook
 *   says `targets: all`).
 */
export function* actionsToPlan(
  state: IncidentState,
  playbook: Playbook,
  phase: ActionPhase,
  opts: { only?: ReadonlySet<string>; leaveInternal: () => boolean },
): Generator<PlannedAction> {
  const specs = specsOf(playbook);
  for (const kind of phaseKinds(playbook, phase)) {
    const spec = specs[kind];
    const config = actionConfig(playbook, phase, kind);
    const policy = config?.approval[state.severity];
    if (!spec || !policy) continue;
    const onlyExternal = spec.entity === 'ips' && config?.targets !== 'all';
    // An action on the alerts' files waits for the scope to name one.
    const files = takesScopeFiles(spec, config?.with) ? (state.scope.files ?? []) : undefined;
    if (files?.length === 0) continue;
    for (const target of state.scope[spec.entity] ?? []) {
      if (opts.only && !opts.only.has(target)) continue;
      // Our own estate is investigated, never blocked at the edge.
      if (onlyExternal && isInternalIp(target) && opts.leaveInternal()) continue;
      const previous = state.actions.filter(
        (a) => a.purpose === phase && a.kind === kind && a.target === target,
      );
      if (previous.some((a) => a.state !== 'compensated')) continue;
      yield { kind, spec, target, policy, ...(files ? { files: [...files] } : {}) };
    }
  }
}

/** Containment's plan (see {@link actionsToPlan}). */
export function containmentToPlan(
  state: IncidentState,
  playbook: Playbook,
  opts: { only?: ReadonlySet<string>; leaveInternal: () => boolean },
): Generator<PlannedAction> {
  return actionsToPlan(state, playbook, 'containment', opts);
}

/**
 * Checklist items an eradication action completes: those naming its kind, once every eradication action of
 * that kind has succeeded. Returns the items it completed.
 */
export function completeChecklistByActions(state: IncidentState, kind: string, at: string): string[] {
  const done: string[] = [];
  const runs = state.actions.filter((a) => a.purpose === 'eradication' && a.kind === kind);
  if (!runs.length || !runs.every((a) => a.state === 'succeeded')) return done;
  for (const item of state.checklist) {
    if (item.action !== kind || item.completedAt) continue;
    item.completedAt = at;
    item.completedBy = `quell:action:${kind}`;
    item.note = `Completed by ${kind} on ${runs.map((a) => `${oneLine(a.target)} (${a.actionId})`).join(', ')}.`;
    done.push(item.itemId);
  }
  return done;
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
  label?: string;
  target: string;
  purpose: IncidentAction['purpose'];
  policy: ApprovalPolicy;
  undoes?: string;
  files?: string[];
  /** Why it is skipped when the policy is `never`. */
  neverReason: string;
  /** What an approver is asked (for `approve` and `two_person`), and who may not approve it. */
  approval: () => { why: string; requestedBy: string[] };
}

/** Plans an action, asks for its approval when its policy wants one, and starts its runner unless it is `never`. */
export function proposeAction(run: IncidentRun, p: ProposedAction): IncidentAction {
  const action = run.newAction({
    kind: p.kind,
    ...(p.label ? { label: p.label } : {}),
    target: p.target,
    purpose: p.purpose,
    ...(p.undoes ? { undoes: p.undoes } : {}),
    ...(p.files ? { files: p.files } : {}),
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

/** Plans a phase's actions for what the scope calls for (see actionsToPlan); returns how many were planned. */
export function planPhaseActions(
  run: IncidentRun,
  phase: ActionPhase,
  leaveInternal: () => boolean,
  only?: Set<string>,
): number {
  const { state, playbook } = run;
  let planned = 0;
  for (const { kind, spec, target, policy, files } of actionsToPlan(state, playbook, phase, {
    ...(only ? { only } : {}),
    leaveInternal,
  })) {
    const context = phase === 'containment' ? 'in scope of' : `${phase} of`;
    proposeAction(run, {
      kind,
      ...(playbook.actionSpecs ? { label: spec.verb } : {}),
      target,
      purpose: phase,
      policy,
      ...(files ? { files } : {}),
      neverReason: `playbook policy for ${kind} at ${state.severity} severity is never`,
      approval: () => ({
        why:
          `${spec.verb} ${target}: ${context} ${state.severity} incident "${oneLine(state.title)}" ` +
          `(playbook ${playbook.id}; ${state.alerts.count} alert(s)).` +
          (files ? ` Files: ${files.join(', ')}.` : ''),
        requestedBy: [...run.raisers],
      }),
    });
    planned++;
  }
  return planned;
}

/** Plans containment for what the scope calls for; returns how many were planned. */
export function planContainment(run: IncidentRun, leaveInternal: () => boolean, only?: Set<string>): number {
  return planPhaseActions(run, 'containment', leaveInternal, only);
}

async function executeAction(run: IncidentRun, action: IncidentAction, unlimited: boolean): Promise<void> {
  const { state, playbook } = run;
  const resolved = resolveKind(specsOf(playbook), action.kind);
  if (!resolved) {
    throw ApplicationFailure.create({
      type: 'UnknownAction',
      message: `${action.kind} is not an action this incident's playbook names`,
      nonRetryable: true,
    });
  }
  const acts = actionActivities(playbook, action, unlimited);
  const params =
    action.purpose === 'recovery' ? undefined : actionConfig(playbook, action.purpose, action.kind)?.with;
  const input: ActionInput = {
    incidentId: state.incidentId,
    actionId: action.actionId,
    target: action.target,
    comment: oneLine(`${action.kind} ${action.target} (${state.title})`), // connectors prefix the incident ID
    // Only actions with parameters send them: the four original kinds' inputs stay as histories recorded them.
    ...(params && Object.keys(params).length ? { with: params } : {}),
    ...(action.files ? { with: { files: action.files } } : {}),
  };
  const activity = resolved.undo ? resolved.undo.activity : resolved.spec.activity;
  const perform = acts[activity] as (input: ActionInput) => Promise<ActionOutcome>;
  const outcome = await perform(input);
  action.attempts += outcome.attempt;
  action.result = {
    alreadyInState: outcome.alreadyInState,
    ...(outcome.vendorRef ? { vendorRef: outcome.vendorRef } : {}),
    ...(outcome.detail ? { detail: outcome.detail } : {}),
  };
  if (outcome.evidence) {
    if (!state.evidence.some((e) => e.evidenceId === outcome.evidence!.evidenceId))
      state.evidence.push(outcome.evidence);
    action.result.evidenceId = outcome.evidence.evidenceId;
  }
  const verify = action.purpose === 'recovery' ? resolved.undo?.verify : undefined;
  if (verify) {
    const check = acts[verify.activity] as CatalogueCheckActivity;
    const observed = await check({ target: action.target });
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
        if (action.purpose === 'eradication')
          completeChecklistByActions(state, action.kind, action.finishedAt);
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
