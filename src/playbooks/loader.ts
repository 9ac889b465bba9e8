import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import type { NormalizedAlert } from '../domain/alert';
import { playbookMatches } from './policy';
import { BUILTIN_CATALOGUE, type ActionCatalogue } from '../actions/catalogue';
import { actionsNamedBy, playbookSchemaFor, type Playbook } from './schema';
import { UserFixableError } from '../errors';

/** Thrown when a playbook file is invalid; the message names the file and the path inside it. */
export class PlaybookError extends UserFixableError {
  override readonly name: string = 'PlaybookError';
}

/** Thrown when a playbook directory or file named to Quell cannot be read at all. */
export class PlaybookPathError extends PlaybookError {
  override readonly name = 'PlaybookPathError';
}

export interface LoadedPlaybook {
  playbook: Playbook;
  /** SHA-256 of the file's bytes: what the incident's history records as the policy that ran. */
  hash: string;
  file: string;
}

/** One thing wrong with a playbook, located as precisely as the source allows. */
export interface PlaybookProblem {
  /** The field, e.g. `containment.isolate_host.approval.high`; `(root)` for the whole playbook, `(yaml)` for syntax. */
  path: string;
  /** 1-based line in the file, when the problem maps to a place in the YAML source. */
  line?: number;
  message: string;
}

/** The outcome of checking one playbook file on its own and within its set. */
export interface PlaybookFileCheck {
  file: string;
  problems: PlaybookProblem[];
  /** Present when the file itself is valid (the set may still reject it, see `problems`). */
  loaded?: LoadedPlaybook;
}

export interface PlaybookSetCheck {
  files: PlaybookFileCheck[];
  /** Problems of the set as a whole that no single file carries (no default playbook). */
  problems: PlaybookProblem[];
}

export function isPlaybookSetValid(check: PlaybookSetCheck): boolean {
  return check.problems.length === 0 && check.files.every((f) => f.problems.length === 0);
}

/** `file:line: path: message`, the line left out when unknown: what the CLI and the startup error print. */
export function formatPlaybookProblem(file: string | undefined, p: PlaybookProblem): string {
  const where = file === undefined ? '' : p.line === undefined ? `${file}: ` : `${file}:${p.line}: `;
  return `${where}${p.path}: ${p.message}`;
}

function describePath(p: readonly PropertyKey[]): string {
  return p.length
    ? p
        .map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`))
        .join('')
        .replace(/^\./, '')
    : '(root)';
}

/** Where a zod issue points in the YAML source: the deepest key or item of its path that the file has. */
function sourceOffset(doc: Document, steps: readonly PropertyKey[]): number | undefined {
  let node: unknown = doc.contents;
  let offset = isMap(node) || isSeq(node) || isScalar(node) ? node.range?.[0] : undefined;
  for (const step of steps) {
    if (isMap(node)) {
      const pair = node.items.find((it) => isScalar(it.key) && String(it.key.value) === String(step));
      if (!pair) break;
      offset = (isScalar(pair.key) ? pair.key.range?.[0] : undefined) ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof step === 'number') {
      const item: unknown = node.items[step];
      if (!(isMap(item) || isSeq(item) || isScalar(item))) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else break;
  }
  return offset;
}

function issueProblem(located: LocatedSource, issue: z.core.$ZodIssue): PlaybookProblem {
  const unknownKey = issue.code === 'unrecognized_keys' ? issue.keys[0] : undefined;
  const line = located.lineOf(unknownKey === undefined ? issue.path : [...issue.path, unknownKey]);
  return { path: describePath(issue.path), ...(line !== undefined ? { line } : {}), message: issue.message };
}

/** A parsed playbook source that can say on which line a path of it is. */
interface LocatedSource {
  lineOf(p: readonly PropertyKey[]): number | undefined;
}

const schemas = new WeakMap<ActionCatalogue, ReturnType<typeof playbookSchemaFor>>();
function schemaFor(catalogue: ActionCatalogue): ReturnType<typeof playbookSchemaFor> {
  let schema = schemas.get(catalogue);
  if (!schema) schemas.set(catalogue, (schema = playbookSchemaFor(catalogue)));
  return schema;
}

function checkSource(
  text: string,
  file: string,
  catalogue: ActionCatalogue,
): { check: PlaybookFileCheck; source: LocatedSource } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter: lines });
  const source: LocatedSource = {
    lineOf: (p) => {
      const offset = sourceOffset(doc, p);
      return offset === undefined ? undefined : lines.linePos(offset).line;
    },
  };
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => ({
      path: '(yaml)',
      line: lines.linePos(e.pos[0]).line,
      message: `invalid YAML: ${e.message}`,
    }));
    return { check: { file, problems }, source };
  }
  const parsed = schemaFor(catalogue).safeParse(doc.toJS());
  if (!parsed.success) {
    return { check: { file, problems: parsed.error.issues.map((i) => issueProblem(source, i)) }, source };
  }
  // The incident carries what each of its actions is, so its history says so and its replay needs no catalogue.
  const playbook: Playbook = { ...parsed.data, actionSpecs: catalogue.specs(actionsNamedBy(parsed.data)) };
  const loaded = { playbook, hash: createHash('sha256').update(text).digest('hex'), file };
  return { check: { file, problems: [], loaded }, source };
}

/** Checks one playbook's text: its YAML and its schema. Never throws for what is in the text. */
export function checkPlaybook(
  text: string,
  file: string,
  catalogue: ActionCatalogue = BUILTIN_CATALOGUE,
): PlaybookFileCheck {
  return checkSource(text, file, catalogue).check;
}

function playbookErrorOf(check: PlaybookSetCheck): PlaybookError {
  const lines = [
    ...check.files.flatMap((f) => f.problems.map((p) => formatPlaybookProblem(f.file, p))),
    ...check.problems.map((p) => formatPlaybookProblem(undefined, p)),
  ];
  const invalid = check.files.filter((f) => f.problems.length > 0).map((f) => f.file);
  const title = invalid.length === 1 ? `Invalid playbook ${invalid[0]}` : 'Invalid playbooks';
  return new PlaybookError(`${title}:\n${lines.map((l) => `  ${l}`).join('\n')}`);
}

/**
 * Parses and validates one playbook.
 * Thrown: {@link PlaybookError} naming the file, the line and the path inside it.
 */
export function parsePlaybook(
  text: string,
  file: string,
  catalogue: ActionCatalogue = BUILTIN_CATALOGUE,
): LoadedPlaybook {
  const check = checkPlaybook(text, file, catalogue);
  if (!check.loaded) throw playbookErrorOf({ files: [check], problems: [] });
  return check.loaded;
}

/** Line of a top-level key of a playbook's source (cross-file problems point at `id:` or `default:`). */
type TopLevelLine = (file: string, key: 'id' | 'default') => number | undefined;

/**
 * The rules a set of playbooks must keep together: unique IDs and, for a complete set (what Quell runs
 * with), exactly one default. Adds each problem to the file it concerns; returns those of the set as a whole.
 */
function checkSetRules(
  files: PlaybookFileCheck[],
  opts: { complete: boolean },
  lineOf: TopLevelLine = () => undefined,
): PlaybookProblem[] {
  const at = (file: string, key: 'id' | 'default') => {
    const line = lineOf(file, key);
    return { path: key, ...(line !== undefined ? { line } : {}) };
  };
  const seen = new Map<string, string>();
  const defaults: PlaybookFileCheck[] = [];
  for (const f of files) {
    if (!f.loaded) continue;
    const { id } = f.loaded.playbook;
    const other = seen.get(id);
    if (other) f.problems.push({ ...at(f.file, 'id'), message: `id "${id}" is already used by ${other}` });
    else seen.set(id, f.file);
    if (f.loaded.playbook.default) defaults.push(f);
  }
  if (defaults.length > 1) {
    for (const d of defaults) {
      const others = defaults.filter((o) => o !== d).map((o) => o.file);
      d.problems.push({
        ...at(d.file, 'default'),
        message: `several default playbooks (also ${others.join(', ')}): exactly one may be default`,
      });
    }
  }
  const allValid = files.every((f) => f.loaded);
  // With an invalid file in the set, its `default: true` may be the one missing.
  if (opts.complete && allValid && defaults.length === 0) {
    return [
      {
        path: 'default',
        message:
          'no default playbook: mark exactly one playbook with `default: true` (it handles alerts no other matches)',
      },
    ];
  }
  return [];
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
    const files = playbooks.map((loaded) => ({ file: loaded.file, problems: [], loaded }));
    const problems = checkSetRules(files, { complete: true });
    const check = { files, problems };
    if (!isPlaybookSetValid(check)) throw playbookErrorOf(check);
    const sorted = [...playbooks].sort(
      (a, b) => b.playbook.priority - a.playbook.priority || a.playbook.id.localeCompare(b.playbook.id),
    );
    return new PlaybookRegistry(
      sorted,
      playbooks.find((p) => p.playbook.default)!,
    );
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
 * The playbook files of a directory: every `*.yaml` / `*.yml`, sorted by name.
 * Thrown: {@link PlaybookPathError} when the directory cannot be read.
 */
export async function listPlaybookFiles(dir: string): Promise<string[]> {
  try {
    const names = (await fs.readdir(dir)).filter((f) => /\.ya?ml$/i.test(f)).sort();
    return names.map((name) => path.join(dir, name));
  } catch (err) {
    throw new PlaybookPathError(`Cannot read the playbooks directory ${dir}: ${(err as Error).message}`);
  }
}

/**
 * Checks playbook files each on its own and as one set: what startup runs (`complete`: the set must have
 * exactly one default) and what `quell playbook validate` reports. Files are named relative to the working
 * directory.
 * Thrown: {@link PlaybookPathError} when a file cannot be read.
 */
export async function checkPlaybookFiles(
  files: readonly string[],
  opts: { complete: boolean; catalogue?: ActionCatalogue },
): Promise<PlaybookSetCheck> {
  const checks: PlaybookFileCheck[] = [];
  const sources = new Map<string, LocatedSource>();
  for (const file of files) {
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      throw new PlaybookPathError(`Cannot read the playbook ${file}: ${(err as Error).message}`);
    }
    const { check, source } = checkSource(
      text,
      path.relative(process.cwd(), file) || file,
      opts.catalogue ?? BUILTIN_CATALOGUE,
    );
    sources.set(check.file, source);
    checks.push(check);
  }
  const lineOf: TopLevelLine = (file, key) => sources.get(file)?.lineOf([key]);
  return { files: checks, problems: checkSetRules(checks, opts, lineOf) };
}

/**
 * Loads every `*.yaml` / `*.yml` under the directory (the preparation phase).
 * Thrown: {@link PlaybookError} listing every problem of every file and of the set (the same check
 * `quell playbook validate` prints); {@link PlaybookPathError} when the directory or a file cannot be read.
 */
export async function loadPlaybooks(
  dir: string,
  catalogue: ActionCatalogue = BUILTIN_CATALOGUE,
): Promise<PlaybookRegistry> {
  const files = await listPlaybookFiles(dir);
  if (files.length === 0) throw new PlaybookError(`No playbooks (*.yaml) in ${dir}.`);
  const check = await checkPlaybookFiles(files, { complete: true, catalogue });
  if (!isPlaybookSetValid(check)) throw playbookErrorOf(check);
  return PlaybookRegistry.from(check.files.map((f) => f.loaded!));
}
