/**
 * A deployment's own catalogue actions: files named by QUELL_ACTIONS, each exporting one action (or a list) as
 * its default export, added to the built-in catalogue. The API (to validate playbooks) and every worker (to run
 * the actions) must load the same files.
 */
import { UserFixableError } from '../errors';
import { type ActionCatalogue, BUILTIN_CATALOGUE } from './catalogue';
import type { AnyActionDefinition } from './define';

/** Thrown when an action file cannot be loaded or exports no action. */
export class ActionModuleError extends UserFixableError {
  override readonly name = 'ActionModuleError';
}

function isDefinition(v: unknown): v is AnyActionDefinition {
  const d = v as Partial<AnyActionDefinition> | undefined;
  return (
    typeof d?.name === 'string' &&
    typeof d.activity === 'string' &&
    typeof d.perform === 'function' &&
    Array.isArray(d.phases)
  );
}

/**
 * The built-in catalogue plus the actions of these files (absolute paths).
 * Thrown: {@link ActionModuleError} naming the file; `ActionCatalogueError` when its actions clash.
 */
export function loadCatalogue(files: readonly string[]): ActionCatalogue {
  if (files.length === 0) return BUILTIN_CATALOGUE;
  const extra: AnyActionDefinition[] = [];
  for (const file of files) {
    let mod: { default?: unknown };
    try {
      // require, not import(): Quell runs as CommonJS, and TypeScript action files load through its runner.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      mod = require(file) as { default?: unknown };
    } catch (err) {
      throw new ActionModuleError(`QUELL_ACTIONS: cannot load ${file}: ${(err as Error).message}`);
    }
    // A CommonJS build of an ES module puts its default export one level down.
    let exported = mod.default;
    if (exported && typeof exported === 'object' && 'default' in exported)
      exported = (exported).default;
    const list = Array.isArray(exported) ? (exported as unknown[]) : [exported];
    if (list.length === 0 || !list.every(isDefinition))
      throw new ActionModuleError(
        `QUELL_ACTIONS: ${file} must export an action (defineAction({...})) or a list of them as its default export`,
      );
    extra.push(...list);
  }
  return BUILTIN_CATALOGUE.with(extra);
}
