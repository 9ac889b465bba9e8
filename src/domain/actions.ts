/**
 * What the workflow knows of a catalogue action: plain data (an {@link ActionSpec}) that the playbook loader
 * derives from the action's file in src/actions/catalogue and that the playbook carries into the incident, so
 * the history records what each action was when the incident ran. Playbooks recorded before the catalogue
 * carry no specs: {@link LEGACY_ACTION_SPECS} says what their four containment kinds were.
 * Workflow-safe: plain data and pure functions.
 */
import type { AlertEntities } from './alert';
import type { ActionPhase, ActionState } from './incident';

/** The scope list an action takes its targets from. */
export type EntityKind = keyof AlertEntities;

/** How an undo is proven: the state check to run after it and the state that counts as restored. */
export interface VerifySpec {
  activity: string;
  restored: string;
}

export interface UndoSpec {
  /** The undo's action kind, e.g. `release_host`. */
  name: string;
  /** The Temporal activity that performs it. */
  activity: string;
  /** What undoing takes, in an approval request ("release the host from network isolation"). */
  description: string;
  verify?: VerifySpec;
}

export interface ActionSpec {
  /** The name playbooks use, e.g. `isolate_host`. */
  name: string;
  /** The Temporal activity that performs it (the history names it). */
  activity: string;
  entity: EntityKind;
  /** The phases a playbook may name it in. */
  phases: readonly ActionPhase[];
  /** Whether it changes the target's state (a read-only action has nothing to undo or compensate). */
  changesState: boolean;
  /** How an approval request names it ("Isolate host ws-1: ..."). */
  verb: string;
  /** How the report names a success ("host isolated"). */
  done: string;
  /** Its undo, for actions that change state and can be reversed: recovery and false-positive closure run it. */
  undo?: UndoSpec;
  /**
   * Set for actions on files (quarantine): when the playbook gives the action no `with:`, it acts on the file
   * hashes the incident's alerts name, sent as `with.files`, and is planned only once the scope has some.
   */
  filesFromScope?: boolean;
}

/** Whether a playbook's use of an action takes the alerts' file hashes (see {@link ActionSpec.filesFromScope}). */
export function takesScopeFiles(spec: ActionSpec, params: Record<string, unknown> | undefined): boolean {
  return spec.filesFromScope === true && (!params || Object.keys(params).length === 0);
}

/** The four containment kinds as they were before playbooks carried their actions' specs (frozen). */
export const LEGACY_ACTION_SPECS: Readonly<Record<string, ActionSpec>> = {
  isolate_host: {
    name: 'isolate_host',
    activity: 'isolateHost',
    entity: 'hosts',
    phases: ['containment'],
    changesState: true,
    verb: 'Isolate host',
    done: 'host isolated',
    undo: {
      name: 'release_host',
      activity: 'releaseHost',
      description: 'release the host from network isolation',
      verify: { activity: 'checkHostState', restored: 'normal' },
    },
  },
  disable_account: {
    name: 'disable_account',
    activity: 'disableAccount',
    entity: 'accounts',
    phases: ['containment'],
    changesState: true,
    verb: 'Disable account (and revoke its sessions)',
    done: 'account disabled and its sessions revoked',
    undo: {
      name: 'enable_account',
      activity: 'enableAccount',
      description: 're-enable the account',
      verify: { activity: 'checkAccountState', restored: 'active' },
    },
  },
  block_ip: {
    name: 'block_ip',
    activity: 'blockIp',
    entity: 'ips',
    phases: ['containment'],
    changesState: true,
    verb: 'Block IP address',
    done: 'IP address blocked',
    undo: {
      name: 'unblock_ip',
      activity: 'unblockIp',
      description: 'remove the block rule for the IP address',
      verify: { activity: 'checkIpState', restored: 'allowed' },
    },
  },
  block_domain: {
    name: 'block_domain',
    activity: 'blockDomain',
    entity: 'domains',
    phases: ['containment'],
    changesState: true,
    verb: 'Block domain',
    done: 'domain blocked',
    undo: {
      name: 'unblock_domain',
      activity: 'unblockDomain',
      description: 'remove the block rule for the domain',
      verify: { activity: 'checkDomainState', restored: 'allowed' },
    },
  },
};

/**
 * The action specs a playbook runs with: the ones it carries, else (recorded before the catalogue) the
 * legacy four.
 */
export function specsOf(playbook: {
  actionSpecs?: Readonly<Record<string, ActionSpec>>;
}): Readonly<Record<string, ActionSpec>> {
  return playbook.actionSpecs ?? LEGACY_ACTION_SPECS;
}

/** The spec of an action kind, and for an undo kind the spec of the action it undoes. */
export function resolveKind(
  specs: Readonly<Record<string, ActionSpec>>,
  kind: string,
): { spec: ActionSpec; undo?: UndoSpec } | undefined {
  const spec = Object.prototype.hasOwnProperty.call(specs, kind) ? specs[kind] : undefined;
  if (spec) return { spec };
  for (const s of Object.values(specs)) if (s.undo?.name === kind) return { spec: s, undo: s.undo };
  return undefined;
}

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
