/**
 * `quell playbook validate`, `quell playbook schema` and `quell playbook simulate` (./playbook-simulate.ts):
 * tooling for the people who write playbooks.
 *
 * Wiring (src/cli/main.ts): `registerPlaybookCommands(program)` (defaults read the environment) or
 * `registerPlaybookCommands(program, deps)` to inject the environment and streams (tests).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import { loadConfig } from '../config';
import { UserFixableError } from '../errors';
import { playbookJsonSchemaText, PLAYBOOK_JSON_SCHEMA_FILE } from '../playbooks/json-schema';
import { BUILTIN_CATALOGUE, type ActionCatalogue } from '../actions/catalogue';
import { loadCatalogue } from '../actions/modules';
import {
  checkPlaybookFiles,
  formatPlaybookProblem,
  listPlaybookFiles,
  PlaybookPathError,
  type PlaybookFileCheck,
  type PlaybookProblem,
} from '../playbooks/loader';
import { connectFromEnvironment } from './audit-commands';
import { registerPlaybookSimulate } from './playbook-simulate';

export interface PlaybookCommandDeps {
  /** Environment for the default directory, QUELL_PLAYBOOKS_DIR (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  stdout?: { write(s: string): boolean };
  stderr?: { write(s: string): boolean };
  /** Receives the exit code: 1 when a playbook is invalid, 2 for a usage error (default: `process.exitCode`). */
  setExitCode?: (code: number) => void;
  /** How `simulate --incident` reaches Temporal (default: the environment's server, as the audit commands). */
  connect?: () => Promise<Client>;
}

/** What `validate --json` prints. */
export interface PlaybookValidation {
  ok: boolean;
  files: { file: string; ok: boolean; problems: PlaybookProblem[] }[];
  /** Problems of a directory's set as a whole (no default playbook), with the directory. */
  problems: (PlaybookProblem & { dir: string })[];
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * Validates playbook directories and files as startup would load them. Each directory is one complete set
 * (unique ids, exactly one default); the files named on their own form one more set, checked for unique ids
 * and at most one default (it need not include the default).
 * Thrown: {@link PlaybookPathError} for a path that cannot be read or a directory without playbooks.
 */
export async function validatePlaybooks(
  paths: readonly string[],
  catalogue: ActionCatalogue = BUILTIN_CATALOGUE,
): Promise<PlaybookValidation> {
  const dirs: string[] = [];
  const files: string[] = [];
  for (const p of paths) {
    const stat = await fs.stat(p).catch((err: NodeJS.ErrnoException) => {
      throw new PlaybookPathError(
        `Cannot read ${p}: ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`,
      );
    });
    (stat.isDirectory() ? dirs : files).push(p);
  }
  const checked: PlaybookFileCheck[] = [];
  const setProblems: PlaybookValidation['problems'] = [];
  for (const dir of dirs) {
    const list = await listPlaybookFiles(dir);
    if (list.length === 0) throw new PlaybookPathError(`No playbooks (*.yaml, *.yml) in ${dir}.`);
    const check = await checkPlaybookFiles(list, { complete: true, catalogue });
    checked.push(...check.files);
    const name = path.relative(process.cwd(), dir) || '.';
    setProblems.push(...check.problems.map((p) => ({ ...p, dir: name })));
  }
  // Files named on their own need no default: no problem belongs to them as a set.
  if (files.length > 0)
    checked.push(...(await checkPlaybookFiles(files, { complete: false, catalogue })).files);
  const results = checked.map((f) => ({ file: f.file, ok: f.problems.length === 0, problems: f.problems }));
  return {
    ok: setProblems.length === 0 && results.every((f) => f.ok),
    files: results,
    problems: setProblems,
  };
}

/** The human-readable report: OK or each problem as `file:line: field.path: message`, then the summary. */
export function formatPlaybookValidation(v: PlaybookValidation): string {
  const lines: string[] = [];
  for (const f of v.files) {
    if (f.ok) lines.push(`${f.file}: OK`);
    else lines.push(...f.problems.map((p) => formatPlaybookProblem(f.file, p)));
  }
  lines.push(...v.problems.map((p) => formatPlaybookProblem(p.dir, p)));
  const invalid = v.files.filter((f) => !f.ok).length;
  let summary = `${plural(v.files.length - invalid, 'playbook')} valid, ${invalid} invalid`;
  if (v.problems.length > 0) summary += `; ${plural(v.problems.length, 'problem')} with a set of playbooks`;
  lines.push(summary);
  return lines.join('\n') + '\n';
}

/** Registers `quell playbook validate|simulate|schema`. See {@link PlaybookCommandDeps}. */
export function registerPlaybookCommands(program: Command, deps: PlaybookCommandDeps = {}): void {
  const env = deps.env ?? process.env;
  const out = deps.stdout ?? process.stdout;
  const err = deps.stderr ?? process.stderr;
  const setExitCode = deps.setExitCode ?? ((code: number) => (process.exitCode = code));
  const playbook = program.command('playbook').description('Tooling for writing playbooks.');

  playbook
    .command('validate')
    .description(
      'Check playbooks as `quell start` loads them: each file against the schema, and each directory as a set ' +
        '(unique ids, exactly one default). Prints OK or each problem as file:line: field.path: message. ' +
        'Exit code 0 when all are valid, 1 when any is not, 2 when a path cannot be read or holds no playbooks.',
    )
    .argument(
      '[paths...]',
      'playbook directories (each *.yaml / *.yml in it) or files; default: QUELL_PLAYBOOKS_DIR (./playbooks)',
    )
    .option(
      '--json',
      'print { ok, files: [{ file, ok, problems: [{ path, line?, message }] }], problems } on stdout',
    )
    .addHelpText(
      'after',
      '\nFiles named on their own are checked together for unique ids and at most one default; they need\n' +
        'not include the default playbook.\nEditors can check playbooks while they are written: see `quell playbook schema`.',
    )
    .action(async (paths: string[], opts: { json?: boolean }) => {
      try {
        const config = loadConfig(env);
        const targets = paths.length > 0 ? paths : [config.playbooksDir];
        // The deployment's own actions (QUELL_ACTIONS) are names a playbook may use too.
        const result = await validatePlaybooks(targets, loadCatalogue(config.actionFiles));
        out.write(opts.json ? JSON.stringify(result, null, 2) + '\n' : formatPlaybookValidation(result));
        if (!result.ok) setExitCode(1);
      } catch (e) {
        if (!(e instanceof UserFixableError)) throw e;
        err.write(`quell: ${e.message}\n`);
        setExitCode(2);
      }
    });

  registerPlaybookSimulate(playbook, {
    env,
    stdout: out,
    stderr: err,
    setExitCode,
    connect: deps.connect ?? (() => connectFromEnvironment(env)),
  });

  playbook
    .command('schema')
    .description(
      "Print the playbook JSON Schema (draft-07) for editors, e.g. VS Code's YAML extension " +
        '(yaml-language-server). The shipped playbooks name it in their first line.',
    )
    .option('-o, --output <file>', 'write it to this file instead of stdout')
    .addHelpText(
      'after',
      `\nThe schema is committed as ${PLAYBOOK_JSON_SCHEMA_FILE}. Point a playbook at it with a first line of\n` +
        '  # yaml-language-server: $schema=<path to playbook.schema.json, relative to the playbook>\n' +
        'It checks each field as you type; the rules across fields and files are `quell playbook validate`.',
    )
    .action(async (opts: { output?: string }) => {
      const text = playbookJsonSchemaText();
      if (!opts.output) {
        out.write(text);
        return;
      }
      try {
        await fs.writeFile(opts.output, text);
      } catch (e) {
        err.write(`quell: cannot write ${opts.output}: ${(e as Error).message}\n`);
        setExitCode(2);
        return;
      }
      err.write(`wrote ${opts.output}\n`);
    });
}
