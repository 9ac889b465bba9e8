/**
 * A set of catalogue actions, checked as a whole: unique action, undo and activity names. The API's playbook
 * loader and the worker are built from the same catalogue (the built-in one unless told otherwise): a playbook
 * may name only actions the worker can run.
 */
import { UserFixableError } from '../errors';
import type { ActionSpec } from '../domain/actions';
import type { ActionPhase } from '../domain/incident';
import { specOf, type AnyActionDefinition } from './define';
import { BUILTIN_ACTIONS } from './catalogue/index';

/** Thrown when a catalogue's actions clash (two with one name or activity) or one is malformed. */
export class ActionCatalogueError extends UserFixableError {
  override readonly name = 'ActionCatalogueError';
}

const ACTION_NAME = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;
const ACTIVITY_NAME = /^[a-z][A-Za-z0-9]*$/;
/** Activities the worker registers for itself, which no action may take. */
const RESERVED_ACTIVITIES = new Set([
  'snapshotLogs',
  'notifyStakeholders',
  'openTicket',
  'commentTicket',
  'closeTicket',
  'enrichIndicators',
]);

export class ActionCatalogue {
  private readonly byName = new Map<string, AnyActionDefinition>();
  private readonly activityOwners = new Map<string, string>();

  /** Thrown: {@link ActionCatalogueError} naming the clash. */
  constructor(readonly definitions: readonly AnyActionDefinition[]) {
    const claim = (activity: string, owner: string) => {
      if (!ACTIVITY_NAME.test(activity))
        throw new ActionCatalogueError(`action ${owner}: activity name "${activity}" must be camelCase`);
      const other = this.activityOwners.get(activity);
      if (RESERVED_ACTIVITIES.has(activity) || (other && other !== owner))
        throw new ActionCatalogueError(
          `action ${owner}: activity "${activity}" is already taken${other ? ` by ${other}` : ''}`,
        );
      this.activityOwners.set(activity, owner);
    };
    const names = new Set<string>();
    for (const d of definitions) {
      for (const name of [d.name, ...(d.undo ? [d.undo.name] : [])]) {
        if (!ACTION_NAME.test(name))
          throw new ActionCatalogueError(`action name "${name}" must be lower-case words joined by _`);
        if (names.has(name)) throw new ActionCatalogueError(`action name "${name}" is declared twice`);
        names.add(name);
      }
      if (d.phases.length === 0) throw new ActionCatalogueError(`action ${d.name}: names no phase`);
      if (d.undo && !d.changesState)
        throw new ActionCatalogueError(`action ${d.name}: has an undo but changes no state`);
      claim(d.activity, d.name);
      if (d.undo) claim(d.undo.activity, d.name);
      if (d.check) claim(d.check.activity, d.name);
      this.byName.set(d.name, d);
    }
  }

  get(name: string): AnyActionDefinition | undefined {
    return this.byName.get(name);
  }

  /** The actions a playbook may name in a phase, in catalogue order. */
  forPhase(phase: ActionPhase): AnyActionDefinition[] {
    return this.definitions.filter((d) => d.phases.includes(phase));
  }

  names(): string[] {
    return this.definitions.map((d) => d.name);
  }

  /** The specs of the named actions, for a playbook to carry into its incidents. */
  specs(names: Iterable<string>): Record<string, ActionSpec> {
    const out: Record<string, ActionSpec> = {};
    for (const name of names) {
      const d = this.byName.get(name);
      if (d) out[name] = specOf(d);
    }
    return out;
  }

  /** The action kind (or undo kind) an activity performs, and whether it is a state check; for the timeline. */
  activityRole(activity: string): { kind: string; role: 'perform' | 'undo' | 'check' } | undefined {
    for (const d of this.definitions) {
      if (d.activity === activity) return { kind: d.name, role: 'perform' };
      if (d.undo?.activity === activity) return { kind: d.undo.name, role: 'undo' };
      if (d.check?.activity === activity) return { kind: d.name, role: 'check' };
    }
    return undefined;
  }

  /** This catalogue with more actions (a deployment's or a test's own). */
  with(extra: readonly AnyActionDefinition[]): ActionCatalogue {
    return new ActionCatalogue([...this.definitions, ...extra]);
  }
}

/** The actions Quell ships. */
export const BUILTIN_CATALOGUE = new ActionCatalogue(BUILTIN_ACTIONS);
