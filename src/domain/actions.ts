/**
 * What each action kind is, in one table: the entity it acts on, the activity that performs it, its undo and
 * how the undo is verified, and how people read it. The workflow, the timeline and the report all read this
 * table, so adding a containment kind touches it and the connector behind its activity, nothing else.
 * Workflow-safe: plain data and pure functions.
 */
import type { AlertEntities } from './alert';
import type { ActionKind, ActionState, ContainmentKind, UndoKind } from './incident';

/** Activities that change a target's state (see activities/index.ts). */
export type EffectActivity =
  | 'isolateHost'
  | 'releaseHost'
  | 'disableAccount'
  | 'enableAccount'
  | 'blockIp'
  | 'unblockIp'
  | 'blockDomain'
  | 'unblockDomain';
/** Activities that read a target's state. */
export type CheckActivity = 'checkHostState' | 'checkAccountState' | 'checkIpState' | 'checkDomainState';

export interface ContainmentAction {
  /** The scope list the action takes its targets from. */
  entity: keyof AlertEntities;
  activity: EffectActivity;
  undo: UndoKind;
  /** How an approval request names the action ("Isolate host ws-1: ..."). */
  verb: string;
  /** What undoing it takes, in an approval request. */
  undoDescription: string;
}

export interface UndoAction {
  undoes: ContainmentKind;
  activity: EffectActivity;
  /** The state check that proves the undo took effect, and the state that counts as restored. */
  verify: { activity: CheckActivity; restored: string };
}

export const CONTAINMENT_ACTIONS: Readonly<Record<ContainmentKind, ContainmentAction>> = {
  isolate_host: {
    entity: 'hosts',
    activity: 'isolateHost',
    undo: 'release_host',
    verb: 'Isolate host',
    undoDescription: 'release the host from network isolation',
  },
  disable_account: {
    entity: 'accounts',
    activity: 'disableAccount',
    undo: 'enable_account',
    verb: 'Disable account (and revoke its sessions)',
    undoDescription: 're-enable the account',
  },
  block_ip: {
    entity: 'ips',
    activity: 'blockIp',
    undo: 'unblock_ip',
    verb: 'Block IP address',
    undoDescription: 'remove the block rule for the IP address',
  },
  block_domain: {
    entity: 'domains',
    activity: 'blockDomain',
    undo: 'unblock_domain',
    verb: 'Block domain',
    undoDescription: 'remove the block rule for the domain',
  },
};

export const UNDO_ACTIONS: Readonly<Record<UndoKind, UndoAction>> = {
  release_host: {
    undoes: 'isolate_host',
    activity: 'releaseHost',
    verify: { activity: 'checkHostState', restored: 'normal' },
  },
  enable_account: {
    undoes: 'disable_account',
    activity: 'enableAccount',
    verify: { activity: 'checkAccountState', restored: 'active' },
  },
  unblock_ip: {
    undoes: 'block_ip',
    activity: 'unblockIp',
    verify: { activity: 'checkIpState', restored: 'allowed' },
  },
  unblock_domain: {
    undoes: 'block_domain',
    activity: 'unblockDomain',
    verify: { activity: 'checkDomainState', restored: 'allowed' },
  },
};

export function isContainmentKind(kind: ActionKind): kind is ContainmentKind {
  return Object.prototype.hasOwnProperty.call(CONTAINMENT_ACTIONS, kind);
}

/** The activity that performs an action of this kind. */
export function activityOf(kind: ActionKind): EffectActivity {
  return isContainmentKind(kind) ? CONTAINMENT_ACTIONS[kind].activity : UNDO_ACTIONS[kind].activity;
}

/** The action kind an effect activity performs (the timeline reads activities back as actions). */
export const ACTION_KIND_OF_ACTIVITY: Readonly<Record<EffectActivity, ActionKind>> = Object.fromEntries(
  [...Object.entries(CONTAINMENT_ACTIONS), ...Object.entries(UNDO_ACTIONS)].map(([kind, a]) => [
    a.activity,
    kind,
  ]),
) as Record<EffectActivity, ActionKind>;

/** The state-check activities (undo verification). */
export const CHECK_ACTIVITIES: ReadonlySet<string> = new Set(
  Object.values(UNDO_ACTIONS).map((u) => u.verify.activity),
);

/**
 * States in which an action is still live: waiting for a decision, cleared to run, running, or failed and
 * waiting for a responder's retry or skip. Every other state is final.
 */
export const LIVE_ACTION_STATES: readonly ActionState[] = [
  'pending_approval',
  'approved',
  'running',
  'failed',
];

/** Whether an action has reached a final state (succeeded, rejected, expired, skipped, compensated). */
export function isSettled(action: { state: ActionState }): boolean {
  return !LIVE_ACTION_STATES.includes(action.state);
}

/** States an action's runner picks up again after continue-as-new (a running action is never carried). */
export const RESUMABLE_ACTION_STATES: readonly ActionState[] = ['pending_approval', 'approved', 'failed'];
