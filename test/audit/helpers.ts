import { promises as fs, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { Command } from 'commander';
import {
  HISTORY_EXPORT_FORMAT,
  identifyHistory,
  startedInfo,
  type IncidentHistoryExport,
} from '../../src/audit/history';
import type { HistoryJson } from '../../src/audit/history-json';
import { registerAuditCommands, type AuditCommandDeps } from '../../src/cli/audit-commands';
import type { IncidentState } from '../../src/domain/incident';
import { TemporalUnavailableError } from '../../src/incidents/errors';
import { workflowsEntry } from '../../src/worker';
import { actionOf, actors, approvalFor, type Harness } from '../support/incident-harness';
import type { MemoryEstate } from '../support/memory-estate';

export { pool } from '../support/pool';

/**
 * Ingests like an alert sender does: a 503 (TemporalUnavailableError, e.g. an update aborted while the
 * incident continues as new under load) is retried with backoff.
 */
export async function ingestWithRetry(
  h: Harness,
  alert: Parameters<Harness['ingest']>[0],
  attempts = 6,
): ReturnType<Harness['ingest']> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await h.ingest(alert);
    } catch (err) {
      if (!(err instanceof TemporalUnavailableError) || attempt >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 250 * attempt));
    }
  }
}

export const HISTORIES_DIR = path.resolve(__dirname, '..', 'histories');

/** The committed history files (test/histories/*.json), sorted. */
export function committedHistoryFiles(): string[] {
  return readdirSync(HISTORIES_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => path.join(HISTORIES_DIR, f));
}

/**
 * Histories recorded with earlier workflow code (test/histories/legacy): they must keep replaying, which is
 * what each `patched()` in the workflow is for.
 */
export function legacyHistoryFiles(): string[] {
  const dir = path.join(HISTORIES_DIR, 'legacy');
  // One folder per generation (legacy/<date>/), each recorded before a change now behind patched().
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => path.join(dir, f));
}

/** A committed scenario as an export: `<name>.json`, or `<name>-run1.json`, `<name>-run2.json`... */
export function committedExport(name: string): IncidentHistoryExport {
  const files = committedHistoryFiles().filter((f) => scenarioOf(f) === name);
  if (!files.length) throw new Error(`no committed history ${name}`);
  return exportOfRunFiles(files, name);
}

/**
 * Every committed history, today's and legacy/, as one export per incident, named `<scenario>` or
 * `legacy/<generation>/<scenario>` (the runs of a continue-as-new chain in one export), sorted by name.
 */
export function allCommittedExports(): { name: string; exported: IncidentHistoryExport }[] {
  const groups = new Map<string, string[]>();
  for (const f of [...committedHistoryFiles(), ...legacyHistoryFiles()]) {
    const dir = path.relative(HISTORIES_DIR, path.dirname(f)).split(path.sep).join('/');
    const name = dir ? `${dir}/${scenarioOf(f)}` : scenarioOf(f);
    groups.set(name, [...(groups.get(name) ?? []), f]);
  }
  return [...groups.keys()]
    .sort()
    .map((name) => ({ name, exported: exportOfRunFiles(groups.get(name)!, name) }));
}

/** `<scenario>.json` or `<scenario>-run<N>.json` -> `<scenario>`. */
function scenarioOf(file: string): string {
  return path.basename(file, '.json').replace(/-run\d+$/, '');
}

function exportOfRunFiles(runFiles: string[], name: string): IncidentHistoryExport {
  const files = [...runFiles].sort((a, b) => runNo(a) - runNo(b));
  const runs = files.map((f) => {
    const history = JSON.parse(readFileSync(f, 'utf8')) as HistoryJson;
    return { runId: startedInfo(history).runId!, status: 'COMPLETED' as const, history };
  });
  const who = identifyHistory(runs[0]!.history);
  return {
    format: HISTORY_EXPORT_FORMAT,
    incidentId: who.incidentId ?? name,
    workflowId: who.workflowId ?? name,
    exportedAt: new Date(0).toISOString(),
    encryption: { encrypted: false },
    runs: runs.map((r, i) => ({
      ...r,
      status: i < runs.length - 1 ? ('CONTINUED_AS_NEW' as const) : ('COMPLETED' as const),
    })),
  };
}

function runNo(file: string): number {
  return Number(/-run(\d+)\.json$/.exec(file)?.[1] ?? 0);
}

/**
 * The current workflow code with one textual change applied before compilation (a webpack pre-loader on
 * workflows/incident/workflow.ts), so tests can prove the replay check catches a nondeterministic change.
 */
export async function bundleWithPatch(find: string, replace: string): Promise<{ code: string }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-patch-'));
  const loader = path.join(dir, 'patch-loader.cjs');
  await fs.writeFile(
    loader,
    `module.exports = function (source) {
  const { find, replace } = this.getOptions();
  if (!source.includes(find)) throw new Error('patch target not found in ' + this.resourcePath + ': ' + find);
  return source.split(find).join(replace);
};\n`,
  );
  const silent = () => undefined;
  try {
    return await bundleWorkflowCode({
      workflowsPath: workflowsEntry(),
      logger: { log: silent, trace: silent, debug: silent, info: silent, warn: silent, error: silent },
      webpackConfigHook: (config) => {
        (config.module!.rules as unknown[]).push({
          test: /workflows[\\/]incident[\\/]workflow\.ts$/,
          enforce: 'pre',
          use: [{ loader, options: { find, replace } }],
        });
        return config;
      },
    });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

export interface CliRun {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Runs `quell <args>` (the audit commands only) in-process. */
export async function runCli(
  args: string[],
  deps: Omit<AuditCommandDeps, 'stdout' | 'stderr' | 'setExitCode'> = {},
): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  let exitCode = 0;
  const program = new Command().name('quell').exitOverride();
  program.configureOutput({ writeOut: (s) => (stdout += s), writeErr: (s) => (stderr += s) });
  registerAuditCommands(program, {
    installRuntime: false,
    ...deps,
    stdout: { write: (s: string) => ((stdout += s), true) },
    stderr: { write: (s: string) => ((stderr += s), true), isTTY: false },
    setExitCode: (c) => (exitCode = c),
  });
  for (const cmd of program.commands) {
    cmd.exitOverride();
    for (const sub of cmd.commands) sub.exitOverride();
  }
  try {
    await program.parseAsync(['node', 'quell', ...args]);
  } catch (err) {
    const code = (err as { exitCode?: number; code?: string }).exitCode;
    if (code === undefined) throw err;
    exitCode = code;
  }
  return { stdout, stderr, exitCode };
}

/**
 * A closed incident with most kinds of timeline entries: approvals (update and signal), a permanent failure
 * retried by a responder, evidence, a note, and closure as a false positive (compensation).
 */
export async function runRichIncident(
  h: Harness,
  estate: MemoryEstate,
  tag: string,
  opts: { signal?: (workflowId: string, approvalId: string) => Promise<void> } = {},
): Promise<{
  incidentId: string;
  workflowId: string;
  state: IncidentState;
  hosts: string[];
  accounts: string[];
}> {
  const host = `ws-${tag}`;
  const account = `user.${tag}`;
  estate.fail('isolateHost', host, 'permanent', 1);
  const receipt = await h.ingest({
    id: `rich-${tag}`,
    rule: `rich.${tag}`,
    severity: 'high',
    hosts: [host],
    accounts: [account],
    ips: ['203.0.113.99'],
  });
  const id = receipt.incidentId;
  let s = await h.until(
    id,
    (x) => x.approvals.filter((a) => a.state === 'pending').length === 2,
    'approvals',
  );
  await h.service.decideApproval(
    id,
    approvalFor(s, actionOf(s, 'isolate_host', host).actionId).approvalId,
    'approve',
    `isolate ${host} now`,
    actors.alice,
  );
  const disableApproval = approvalFor(s, actionOf(s, 'disable_account', account).actionId).approvalId;
  if (opts.signal) await opts.signal(receipt.workflowId, disableApproval);
  else await h.service.decideApproval(id, disableApproval, 'approve', undefined, actors.bob);
  s = await h.until(id, (x) => actionOf(x, 'isolate_host', host).state === 'failed', 'isolation failed');
  await h.service.resolveFailedAction(
    id,
    actionOf(s, 'isolate_host', host).actionId,
    'retry',
    'vendor fixed',
    actors.rita,
  );
  await h.until(id, (x) => x.phase === 'eradication', 'eradication');
  await h.service.addNote(
    id,
    `Reimage ${host} and rotate ${account} credentials.`,
    'lessons_learned',
    actors.rita,
  );
  await h.service.close(id, 'false_positive', `benign: ${account} ran an admin script`, actors.carol);
  const state = await h.until(id, (x) => x.status === 'closed', 'closed');
  return { incidentId: id, workflowId: receipt.workflowId, state, hosts: [host], accounts: [account] };
}
