import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import type { NormalizedAlert } from '../domain/alert';
import { playbookMatches } from './policy';
import { playbookSchema, type Playbook } from './schema';
import { UserFixableError } from '../errors';

/** Thrown when a playbook file is invalid; the message names the file and the path inside it. */
export class PlaybookError extends UserFixableError {
  override readonly name = 'PlaybookError';
}

export interface LoadedPlaybook {
  playbook: Playbook;
  /** SHA-256 of the file's bytes: what the incident's history records as the policy that ran. */
  hash: string;
  file: string;
}

function describePath(p: readonly PropertyKey[]): string {
  return p.length
    ? p
        .map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`))
        .join('')
        .replace(/^\./, '')
    : '(root)';
}

/**
 * Parses and validates one playbook.
 * Thrown: {@link PlaybookError} naming the file, the path inside it and, for YAML errors, the line.
 */
export function parsePlaybook(text: string, file: string): LoadedPlaybook {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new PlaybookError(`${file}: invalid YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
  }
  const parsed = playbookSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${file}: ${describePath(i.path)}: ${i.message}`);
    throw new PlaybookError(`Invalid playbook ${file}:\n${lines.join('\n')}`);
  }
  return { playbook: parsed.data, hash: createHash('sha256').update(text).digest('hex'), file };
}

/** The playbooks Quell runs with, and which one handles an alert. */
export class PlaybookRegistry {
  private constructor(
    readonly playbooks: readonly LoadedPlaybook[],
    private readonly fallback: LoadedPlaybook,
  ) {}

  /**
   * Validates a set of playbooks as a whole: unique IDs and exactly one default.
   * Thrown: {@link PlaybookError}.
   */
  static from(playbooks: LoadedPlaybook[]): PlaybookRegistry {
    const seen = new Map<string, string>();
    for (const p of playbooks) {
      const other = seen.get(p.playbook.id);
      if (other) throw new PlaybookError(`${p.file}: id "${p.playbook.id}" is already used by ${other}`);
      seen.set(p.playbook.id, p.file);
    }
    const defaults = playbooks.filter((p) => p.playbook.default);
    if (defaults.length !== 1) {
      throw new PlaybookError(
        defaults.length === 0
          ? 'No default playbook: mark exactly one playbook with `default: true` (it handles alerts no other matches).'
          : `Several default playbooks (${defaults.map((d) => d.file).join(', ')}): exactly one may be default.`,
      );
    }
    const sorted = [...playbooks].sort(
      (a, b) => b.playbook.priority - a.playbook.priority || a.playbook.id.localeCompare(b.playbook.id),
    );
    return new PlaybookRegistry(sorted, defaults[0]!);
  }

  /** The highest-priority matching playbook, else the default. */
  select(alert: NormalizedAlert): LoadedPlaybook {
    return (
      this.playbooks.find((p) => !p.playbook.default && playbookMatches(p.playbook, alert)) ?? this.fallback
    );
  }

  get(id: string): LoadedPlaybook | undefined {
    return this.playbooks.find((p) => p.playbook.id === id);
  }
}

/**
 * Loads every `*.yaml` / `*.yml` under the directory (the preparation phase).
 * Thrown: {@link PlaybookError} for the first invalid file, or when the set is inconsistent.
 */
export async function loadPlaybooks(dir: string): Promise<PlaybookRegistry> {
  let entries: string[];
  try {
    entries = (await fs.readdir(dir)).filter((f) => /\.ya?ml$/i.test(f)).sort();
  } catch (err) {
    throw new PlaybookError(`Cannot read the playbooks directory ${dir}: ${(err as Error).message}`);
  }
  if (entries.length === 0) throw new PlaybookError(`No playbooks (*.yaml) in ${dir}.`);
  const loaded: LoadedPlaybook[] = [];
  for (const name of entries) {
    const file = path.join(dir, name);
    loaded.push(parsePlaybook(await fs.readFile(file, 'utf8'), path.relative(process.cwd(), file) || file));
  }
  return PlaybookRegistry.from(loaded);
}
