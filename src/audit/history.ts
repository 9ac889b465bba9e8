/**
 * History export: every run of an incident (the continue-as-new chain), each in the JSON shape
 * `temporal workflow show --output json` writes.
 *
 * Export file (`quell history export`), format `quell.history-export/v1`:
 *
 *   {
 *     "format": "quell.history-export/v1",
 *     "incidentId": "INC-<digest>-<run tag>",
 *     "workflowId": "quell-incident-<digest>",
 *     "namespace": "default",
 *     "firstRunId": "<run ID of the first run>",
 *     "exportedAt": "<ISO time>",
 *     "encryption": { "encrypted": false } | { "encrypted": true, "keyIds": [...], "decrypted": <bool> },
 *     "runs": [ { "runId": "...", "status": "COMPLETED" | "CONTINUED_AS_NEW" | "RUNNING" | ...,
 *                 "history": { "events": [ ... ] } } ]        // first run first
 *   }
 *
 * Each `runs[i].history` is byte-for-byte what `temporal workflow show --workflow-id <workflowId> --run-id
 * <runId> --output json` prints (as parsed JSON); {@link writeRunFiles} writes them as standalone files.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { isGrpcServiceError, type Client } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import { incidentRunTag, parseIncidentId, SA_INCIDENT_ID } from '../contracts';
import { IncidentNotFoundError } from '../incidents/errors';
import { describeRun, listRuns } from '../temporal/visibility';
import { eventAttributes, formatHistoryJson, historyToJson, type HistoryJson } from './history-json';
import { decryptHistoryJson, encryptionKeyIdsIn, firstPayloadValue } from './payloads';

export const HISTORY_EXPORT_FORMAT = 'quell.history-export/v1';

export type RunStatus =
  'RUNNING' | 'COMPLETED' | 'CONTINUED_AS_NEW' | 'FAILED' | 'TERMINATED' | 'CANCELED' | 'TIMED_OUT';

export interface ExportedRun {
  runId: string;
  status: RunStatus;
  history: HistoryJson;
}

export interface IncidentHistoryExport {
  format: typeof HISTORY_EXPORT_FORMAT;
  incidentId: string;
  workflowId: string;
  namespace?: string;
  /** The first run of the chain (what tells incidents of one workflow ID apart). */
  firstRunId?: string;
  exportedAt: string;
  encryption: { encrypted: boolean; keyIds?: string[]; decrypted?: boolean };
  runs: ExportedRun[];
}

/** Hard stop for a broken chain (a run pointing back at an earlier one). */
const MAX_RUNS = 100_000;

const quote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
/** Incidents opened before the `incident-id-run-tail` patch took the head of the run ID. */
const legacyRunTagOf = (runId: string) => runId.replace(/-/g, '').slice(0, 6);

/** The status a run's last event implies. */
export function runStatusOf(history: HistoryJson): RunStatus {
  const last = history.events[history.events.length - 1];
  switch (last?.eventType) {
    case 'EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED':
      return 'COMPLETED';
    case 'EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW':
      return 'CONTINUED_AS_NEW';
    case 'EVENT_TYPE_WORKFLOW_EXECUTION_FAILED':
      return 'FAILED';
    case 'EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED':
      return 'TERMINATED';
    case 'EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED':
      return 'CANCELED';
    case 'EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT':
      return 'TIMED_OUT';
    default:
      return 'RUNNING';
  }
}

/** The run that follows this one (continue-as-new, or a workflow retry), if any. */
export function nextRunIdOf(history: HistoryJson): string | undefined {
  const last = history.events[history.events.length - 1];
  if (!last) return undefined;
  const attrs = eventAttributes<{ newExecutionRunId?: string }>(last);
  return attrs.newExecutionRunId || undefined;
}

/** What a history's first event says about its run. */
export function startedInfo(history: HistoryJson): {
  runId?: string;
  firstExecutionRunId?: string;
  continuedExecutionRunId?: string;
  workflowType?: string;
  taskQueue?: string;
} {
  const first = history.events[0];
  if (first?.eventType !== 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED') return {};
  const a = eventAttributes<{
    originalExecutionRunId?: string;
    firstExecutionRunId?: string;
    continuedExecutionRunId?: string;
    workflowType?: { name?: string };
    taskQueue?: { name?: string };
  }>(first);
  return {
    ...(a.originalExecutionRunId ? { runId: a.originalExecutionRunId } : {}),
    ...(a.firstExecutionRunId ? { firstExecutionRunId: a.firstExecutionRunId } : {}),
    ...(a.continuedExecutionRunId ? { continuedExecutionRunId: a.continuedExecutionRunId } : {}),
    ...(a.workflowType?.name ? { workflowType: a.workflowType.name } : {}),
    ...(a.taskQueue?.name ? { taskQueue: a.taskQueue.name } : {}),
  };
}

/** Fetches one run's complete history (all pages) as Temporal JSON. */
export async function fetchRunHistory(
  client: Client,
  workflowId: string,
  runId: string,
): Promise<HistoryJson> {
  return historyToJson(await client.workflow.getHandle(workflowId, runId).fetchHistory());
}

/**
 * Thrown when two incidents on one workflow ID share an incident ID (its last part is six hex digits of the
 * first run ID, so two run chains of one correlation key can collide: rarely with the random tail of UUIDv7
 * run IDs, often with IDs made before 7fd362b, which took the timestamp head). The message lists the
 * candidates; pass one as `firstRunId` (CLI: `--first-run`).
 */
export class AmbiguousIncidentIdError extends Error {
  override readonly name = 'AmbiguousIncidentIdError';
  constructor(
    readonly incidentId: string,
    readonly firstRunIds: string[],
  ) {
    super(
      `incident ID ${incidentId} names ${firstRunIds.length} incidents (run chains starting ${firstRunIds.join(', ')}): ` +
        'choose one by its first run ID (--first-run <runId>)',
    );
  }
}

/**
 * The first run of an incident's chain: every run of the workflow ID (the latest from describe, which has no
 * visibility lag, and the others from visibility) whose first run ID matches the incident ID's run tag.
 * Thrown: {@link IncidentNotFoundError}; {@link AmbiguousIncidentIdError} when several chains match and
 * `firstRunId` does not choose one.
 */
export async function findFirstRunId(
  client: Client,
  incidentId: string,
  opts: { firstRunId?: string } = {},
): Promise<{ workflowId: string; firstRunId: string }> {
  const parsed = parseIncidentId(incidentId);
  if (!parsed) throw new IncidentNotFoundError(incidentId);
  const { workflowId, runTag } = parsed;
  const matches = (firstRunId: string | null | undefined): firstRunId is string =>
    !!firstRunId && (incidentRunTag(firstRunId) === runTag || legacyRunTagOf(firstRunId) === runTag);
  if (opts.firstRunId) {
    if (!matches(opts.firstRunId)) throw new IncidentNotFoundError(incidentId);
    return { workflowId, firstRunId: opts.firstRunId };
  }
  const candidates = new Set<string>();
  // Raw calls: they do not decode memos, which need the payload key an export may lack.
  try {
    const latest = await describeRun(client, workflowId);
    if (matches(latest.firstRunId)) candidates.add(latest.firstRunId);
  } catch (err) {
    if (!(isGrpcServiceError(err) && err.code === GrpcStatus.NOT_FOUND)) throw err;
    throw new IncidentNotFoundError(incidentId);
  }
  for await (const wf of listRuns(
    client,
    `WorkflowId = ${quote(workflowId)} AND ${SA_INCIDENT_ID.name} = ${quote(incidentId)}`,
  )) {
    if (matches(wf.firstRunId)) candidates.add(wf.firstRunId);
  }
  if (candidates.size > 1) throw new AmbiguousIncidentIdError(incidentId, [...candidates].sort());
  const [only] = candidates;
  if (!only) throw new IncidentNotFoundError(incidentId);
  return { workflowId, firstRunId: only };
}

/** Fetches every run from `firstRunId` on, following `newExecutionRunId` from each run's last event. */
export async function fetchRunChain(
  client: Client,
  workflowId: string,
  firstRunId: string,
  onRun?: (run: ExportedRun, index: number) => void,
): Promise<ExportedRun[]> {
  const runs: ExportedRun[] = [];
  const seen = new Set<string>();
  for (let runId: string | undefined = firstRunId; runId;) {
    if (seen.has(runId) || runs.length >= MAX_RUNS) {
      throw new Error(`run chain of ${workflowId} loops or is too long at run ${runId}`);
    }
    seen.add(runId);
    const history = await fetchRunHistory(client, workflowId, runId);
    const info = startedInfo(history);
    if (info.firstExecutionRunId && info.firstExecutionRunId !== firstRunId) {
      throw new Error(
        `run ${runId} of ${workflowId} belongs to the chain of ${info.firstExecutionRunId}, not ${firstRunId}`,
      );
    }
    const run: ExportedRun = { runId, status: runStatusOf(history), history };
    runs.push(run);
    onRun?.(run, runs.length - 1);
    runId = nextRunIdOf(history);
  }
  return runs;
}

export interface ExportOptions {
  /** Choose the chain when the incident ID is ambiguous (see {@link AmbiguousIncidentIdError}). */
  firstRunId?: string;
  /** Decrypt encrypted payloads with this codec (e.g. `codecFromEnv()`); otherwise they stay as stored. */
  decryptWith?: PayloadCodec;
  /** Require decryption: fail (naming the key ID) when payloads are encrypted and `decryptWith` cannot. */
  requireDecrypted?: boolean;
  onRun?: (run: ExportedRun, index: number) => void;
  now?: () => Date;
}

/**
 * Exports an incident's complete history: every run of its continue-as-new chain, first run first.
 * Thrown: {@link IncidentNotFoundError}; `MissingEncryptionKeyError` when `requireDecrypted` is set and a key
 * is missing.
 */
export async function exportIncidentHistory(
  client: Client,
  incidentId: string,
  opts: ExportOptions = {},
): Promise<IncidentHistoryExport> {
  const { workflowId, firstRunId } = await findFirstRunId(
    client,
    incidentId,
    opts.firstRunId ? { firstRunId: opts.firstRunId } : {},
  );
  const runs = await fetchRunChain(client, workflowId, firstRunId, opts.onRun);
  const exported: IncidentHistoryExport = {
    format: HISTORY_EXPORT_FORMAT,
    incidentId,
    workflowId,
    namespace: client.options.namespace,
    firstRunId,
    exportedAt: (opts.now?.() ?? new Date()).toISOString(),
    encryption: { encrypted: false },
    runs,
  };
  const keyIds = encryptionKeyIdsIn(runs.map((r) => r.history));
  if (!keyIds.length) return exported;
  exported.encryption = { encrypted: true, keyIds, decrypted: false };
  if (opts.decryptWith || opts.requireDecrypted) return decryptExport(exported, opts.decryptWith);
  return exported;
}

/**
 * The export with every payload decrypted (and encoded failure messages restored).
 * Thrown: `MissingEncryptionKeyError` naming the key IDs the codec lacks (or that there is no key at all).
 */
export async function decryptExport(
  exported: IncidentHistoryExport,
  codec: PayloadCodec | undefined,
): Promise<IncidentHistoryExport> {
  const runs: ExportedRun[] = [];
  for (const [i, run] of exported.runs.entries()) {
    runs.push({
      ...run,
      history: await decryptHistoryJson(
        run.history,
        codec,
        `incident ${exported.incidentId} run ${i + 1} (${run.runId})`,
      ),
    });
  }
  const keyIds = exported.encryption?.keyIds ?? encryptionKeyIdsIn(exported.runs.map((r) => r.history));
  return {
    ...exported,
    encryption: keyIds.length ? { encrypted: true, keyIds, decrypted: true } : { encrypted: false },
    runs,
  };
}

export function isHistoryExport(doc: unknown): doc is IncidentHistoryExport {
  return (
    typeof doc === 'object' &&
    doc !== null &&
    Array.isArray((doc as { runs?: unknown }).runs) &&
    typeof (doc as { incidentId?: unknown }).incidentId === 'string'
  );
}

export function isHistoryJson(doc: unknown): doc is HistoryJson {
  return typeof doc === 'object' && doc !== null && Array.isArray((doc as { events?: unknown }).events);
}

/** Writes the export as one JSON file. */
export async function writeHistoryExport(exported: IncidentHistoryExport, file: string): Promise<void> {
  await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await fs.writeFile(file, JSON.stringify(exported, null, 2) + '\n');
}

/** File name of one run written standalone: `<incidentId>-run<N>.json` (N from 1, first run first). */
export function runFileName(incidentId: string, index: number): string {
  return `${incidentId}-run${index + 1}.json`;
}

/**
 * Writes each run as a standalone `temporal workflow show --output json` file into `dir`; returns the paths.
 */
export async function writeRunFiles(exported: IncidentHistoryExport, dir: string): Promise<string[]> {
  await fs.mkdir(dir, { recursive: true });
  const files: string[] = [];
  for (const [i, run] of exported.runs.entries()) {
    const file = path.join(dir, runFileName(exported.incidentId, i));
    await fs.writeFile(file, formatHistoryJson(run.history));
    files.push(file);
  }
  return files;
}

/**
 * Best effort: the incident and workflow a lone history belongs to, from its payloads (the incident ID is in
 * the first update's result, in activity inputs, and in the carried state of later runs). Encrypted payloads
 * are skipped.
 */
export function identifyHistory(history: HistoryJson): { incidentId?: string; workflowId?: string } {
  const tryValue = (field: unknown): unknown => {
    try {
      return firstPayloadValue(field);
    } catch {
      return undefined;
    }
  };
  const fromIncidentId = (incidentId: unknown) => {
    if (typeof incidentId !== 'string') return undefined;
    const parsed = parseIncidentId(incidentId);
    return parsed ? { incidentId, workflowId: parsed.workflowId } : undefined;
  };
  for (const e of history.events.slice(0, 200)) {
    const a = eventAttributes<Record<string, unknown>>(e);
    let found: { incidentId: string; workflowId: string } | undefined;
    if (e.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED') {
      const input = tryValue(a.input) as { carried?: { state?: { incidentId?: string } } } | undefined;
      found = fromIncidentId(input?.carried?.state?.incidentId);
    } else if (e.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED') {
      const outcome = a.outcome as { success?: unknown } | undefined;
      found = fromIncidentId((tryValue(outcome?.success) as { incidentId?: string } | undefined)?.incidentId);
    } else if (e.eventType === 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED') {
      found = fromIncidentId((tryValue(a.input) as { incidentId?: string } | undefined)?.incidentId);
    }
    if (found) return found;
  }
  return {};
}
