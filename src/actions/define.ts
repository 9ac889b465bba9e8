/**
 * What one catalogue action declares (one file per action under `catalogue/`): the capability it goes
 * through, the entity it targets, its input schema, whether it changes state and its undo, its default approval
 * policy, its idempotency key, how its state is checked, and how approvals and reports name it. The playbook
 * loader reads the plain part into an {@link ActionSpec} the workflow runs by; the worker registers `perform`,
 * the undo and the check as activities under the names declared here.
 */
import type { z } from 'zod';
import type { Connectors, EffectResult } from '../connectors/types';
import type { ActionSpec, EntityKind } from '../domain/actions';
import type { ActionPhase, ApprovalPolicy } from '../domain/incident';
import type { Severity } from '../domain/alert';

/** Capabilities an action may go through (a key of {@link Connectors}). */
export type ActionCapability = 'edr' | 'identity' | 'firewall' | 'evidence';

/** What an activity of a catalogue action is given. */
export interface ActionRequest<Input> {
  incidentId: string;
  actionId: string;
  target: string;
  /** The recorded reason for the vendor's comment or notes field (connectors prefix the incident ID). */
  comment: string;
  /** The playbook's `with:` for the action, parsed by its input schema. */
  input: Input;
  /** Stable across activity retries and continue-as-new: see {@link ActionDefinition.idempotencyKey}. */
  idempotencyKey: string;
  /** Who collects, for evidence custody records: the worker and the activity attempt. */
  collector: string;
}

/** Evidence an action collected, for the evidence store (an investigation package, a memory image). */
export interface CollectedEvidence {
  name: string;
  content: Buffer;
  source: string;
}

/** What a catalogue action's `perform` returns: the vendor's answer, and evidence when it collected some. */
export interface ActionEffect extends EffectResult {
  evidence?: CollectedEvidence;
}

export interface ActionDefinition<Input = Record<string, never>> {
  /** The name playbooks use: lower-case words joined by `_`. */
  name: string;
  capability: ActionCapability;
  entity: EntityKind;
  /** Phases a playbook may name the action in. */
  phases: readonly ActionPhase[];
  /** The Temporal activity that performs it: what histories and the timeline name. Never rename one. */
  activity: string;
  /** The playbook's `with:` parameters; omitted when the action takes none. */
  input?: z.ZodType<Input>;
  /**
   * The action works on files: a playbook that gives it no `with:` has it act on the alerts' file hashes,
   * passed to `input` as `files` (see {@link ActionSpec.filesFromScope}).
   */
  filesFromScope?: boolean;
  changesState: boolean;
  /** The approval policy per severity when the playbook does not give one. */
  defaultApproval: Record<Severity, ApprovalPolicy>;
  /** Retry settings (milliseconds) where the playbook gives none: long-running vendor actions need longer attempts. */
  defaultRetry?: Partial<
    Record<
      'initialInterval' | 'maximumInterval' | 'attemptTimeout' | 'totalTimeout' | 'maximumAttempts',
      number
    >
  >;
  /** The key the vendor call is made idempotent by; by default `<incidentId>:<actionId>`. */
  idempotencyKey?: (req: { incidentId: string; actionId: string; target: string }) => string;
  describe: {
    /** How an approval request names it: "Isolate host". */
    verb: string;
    /** How the report names a success: "host isolated". */
    done: string;
  };
  perform(connectors: Connectors, req: ActionRequest<Input>): Promise<ActionEffect>;
  /** How to read the target's state, e.g. `checkHostState` answering `contained` or `normal`. */
  check?: {
    activity: string;
    read(connectors: Connectors, target: string): Promise<string>;
  };
  /** The undo of a state-changing action; its success is verified by `check` reading `restored`. */
  undo?: {
    name: string;
    activity: string;
    /** What undoing takes, in an approval request. */
    description: string;
    perform(connectors: Connectors, req: ActionRequest<Input>): Promise<ActionEffect>;
    /** The state `check` reads once the undo took effect. */
    restored?: string;
  };
}

/** Any action, whatever its input. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyActionDefinition = ActionDefinition<any>;

/** Declares a catalogue action (an identity function that keeps the input type tied to `perform`). */
export function defineAction<Input = Record<string, never>>(
  definition: ActionDefinition<Input>,
): ActionDefinition<Input> {
  return definition;
}

/** The plain part of a definition, as the workflow sees it. */
export function specOf(d: AnyActionDefinition): ActionSpec {
  return {
    name: d.name,
    activity: d.activity,
    entity: d.entity,
    phases: [...d.phases],
    changesState: d.changesState,
    verb: d.describe.verb,
    done: d.describe.done,
    ...(d.filesFromScope ? { filesFromScope: true } : {}),
    ...(d.undo
      ? {
          undo: {
            name: d.undo.name,
            activity: d.undo.activity,
            description: d.undo.description,
            ...(d.check && d.undo.restored !== undefined
              ? { verify: { activity: d.check.activity, restored: d.undo.restored } }
              : {}),
          },
        }
      : {}),
  };
}

/** The default idempotency key: the incident and the action, stable across retries and continue-as-new. */
export function idempotencyKeyOf(
  d: AnyActionDefinition,
  req: { incidentId: string; actionId: string; target: string },
): string {
  return d.idempotencyKey ? d.idempotencyKey(req) : `${req.incidentId}:${req.actionId}`;
}
