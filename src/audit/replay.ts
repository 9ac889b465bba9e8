/**
 * Replays recorded histories against the CURRENT workflow code (`Worker.runReplayHistories`), so a change
 * that would break running incidents (nondeterminism) is caught before it is deployed.
 *
 * Sources: history files and directories (Temporal JSON, or Quell history exports holding several runs), one
 * incident's complete run chain, or every run a visibility query lists. Each failure is explained: which
 * incident, workflow, run and file, which history event (ID and type, from the SDK's nondeterminism message),
 * and the error.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { DataConverter, PayloadCodec } from '@temporalio/common';
import { Runtime, Worker, type WorkflowBundleOption } from '@temporalio/worker';
import { INCIDENT_WORKFLOW_TYPE, SA_INCIDENT_ID } from '../contracts';
import { encryptionCodecOf, MissingEncryptionKeyError } from '../temporal/codec';
import { listRuns } from '../temporal/visibility';
import { bundleWorkflows } from '../worker';
import {
  eventAttributes,
  historyFromJson,
  shortEventType,
  type History,
  type HistoryJson,
} from './history-json';
import {
  exportIncidentHistory,
  fetchRunHistory,
  identifyHistory,
  isHistoryExport,
  isHistoryJson,
  startedInfo,
} from './history';
import { assertDecryptable } from './payloads';
import { ProgressBar, type ProgressOptions } from './progress';

/** One history to replay and where it came from. */
export interface ReplayItem {
  /** How failures name it: a file (and run), or an incident and run. */
  label: string;
  /** The file it was read from, when it came from a file. */
  file?: string;
  workflowId: string;
  runId?: string;
  incidentId?: string;
  history: HistoryJson;
}

export type ReplayFailureKind = 'nondeterminism' | 'replay-error' | 'missing-key' | 'invalid-history';

export interface ReplayFailure {
  label: string;
  file?: string;
  incidentId?: string;
  workflowId: string;
  runId?: string;
  kind: ReplayFailureKind;
  /** The history event the SDK names (nondeterminism errors carry `HistoryEvent(id: N, Type)`). */
  eventId?: number;
  eventType?: string;
  /** The SDK's error, trimmed to its cause. */
  message: string;
  /** The full SDK error message. */
  detail: string;
  /** A multi-line, human-readable account of the failure. */
  explanation: string;
}

export interface ReplaySummary {
  replayed: number;
  passed: number;
  failed: number;
  /** Wall time of the replay itself (bundling excluded). */
  seconds: number;
  historiesPerSecond: number;
  /** History events replayed (a long history costs more than a short one). */
  events: number;
  eventsPerSecond: number;
  bundleSeconds: number;
  failures: ReplayFailure[];
}

export interface ReplayOptions {
  /** The workflow code to replay against; default: the current `workflows/`, bundled now. */
  workflowBundle?: WorkflowBundleOption;
  /** E.g. the encryption data converter; encrypted histories need its codec. */
  dataConverter?: DataConverter;
  /** Progress bar on stderr (default: on, TTY-aware); `false` for none. */
  progress?: Partial<ProgressOptions> | false;
  /** Known number of histories, for the progress bar. */
  total?: number;
  /** Called after each history. */
  onResult?: (item: Omit<ReplayItem, 'history'>, failure: ReplayFailure | undefined) => void;
  replayName?: string;
}

let quietRuntime = false;
/**
 * Installs a Temporal runtime that keeps the SDK quiet (replay failures are reported by this module, so the
 * SDK's own warnings would only garble the progress bar). A no-op when a runtime is already installed.
 */
export function installQuietRuntime(): void {
  if (quietRuntime) return;
  quietRuntime = true;
  const silent = () => undefined;
  try {
    Runtime.install({
      logger: { log: silent, trace: silent, debug: silent, info: silent, warn: silent, error: silent },
      telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } },
    });
  } catch {
    // Already installed in this process: keep it.
  }
}

// ---- Explaining failures ------------------------------------------------------------------------------------

const EVENT_REF = /HistoryEvent\(id:\s*(\d+),\s*([A-Za-z]+)\)/;
const CORE_MESSAGE = /message:\s*"((?:[^"\\]|\\.)*)"/;

/** Picks the event ID and type and the core message out of an SDK replay error message. */
export function parseReplayError(message: string): { eventId?: number; eventType?: string; cause: string } {
  const core = CORE_MESSAGE.exec(message)?.[1]?.replace(/\\"/g, '"');
  const cause = core ?? message.replace(/^Replay failed with a nondeterminism error\.[^:]*:\s*/, '');
  const ref = EVENT_REF.exec(core ?? message);
  if (ref) return { eventId: Number(ref[1]), eventType: ref[2], cause };
  const idOnly = /event(?:\s+id)?[:\s#]+(\d+)/i.exec(core ?? message);
  return idOnly ? { eventId: Number(idOnly[1]), cause } : { cause };
}

/** The ID of the MarkerRecorded event that recorded `patched(change)`, if the history has one. */
function findPatchMarker(history: HistoryJson, change: string): number | undefined {
  for (const event of history.events) {
    if (!String(event.eventType).includes('MARKER_RECORDED')) continue;
    const details = eventAttributes<{ details?: Record<string, { payloads?: { data?: string }[] }> }>(
      event,
    ).details;
    const payloads = Object.values(details ?? {}).flatMap((d) => d.payloads ?? []);
    if (
      payloads.some(
        (p) => p.data && Buffer.from(p.data, 'base64').toString('utf8').includes(JSON.stringify(change)),
      )
    ) {
      return Number(event.eventId);
    }
  }
  return undefined;
}

function describeEvent(history: HistoryJson, eventId: number): string | undefined {
  const event = history.events.find((e) => Number(e.eventId) === eventId);
  if (!event) return undefined;
  const a = eventAttributes<Record<string, unknown>>(event);
  const bits: string[] = [shortEventType(event.eventType)];
  const activity = (a.activityType as { name?: string } | undefined)?.name;
  if (activity) bits.push(`activity ${activity}`);
  const input = (a.acceptedRequest as { input?: { name?: string } } | undefined)?.input?.name;
  if (input) bits.push(`update ${input}`);
  if (typeof a.signalName === 'string') bits.push(`signal ${a.signalName}`);
  if (typeof a.timerId === 'string') bits.push(`timer ${a.timerId}`);
  if (event.eventTime) bits.push(`at ${event.eventTime}`);
  return bits.join(', ');
}

function explain(
  item: Omit<ReplayItem, 'history'>,
  history: HistoryJson | undefined,
  kind: ReplayFailureKind,
  detail: string,
): ReplayFailure {
  const parsed = parseReplayError(detail);
  if (parsed.eventId === undefined && history) {
    // Patch-marker mismatches name the change, not the event: point at the marker that recorded it.
    const change = /patch marker encountered for change (\S+?),/.exec(parsed.cause)?.[1];
    const marker = change ? findPatchMarker(history, change) : undefined;
    if (marker !== undefined) parsed.eventId = marker;
  }
  const eventType =
    parsed.eventType ??
    (parsed.eventId !== undefined && history
      ? history.events.find((e) => Number(e.eventId) === parsed.eventId)?.eventType
      : undefined);
  const lines = [
    `${kind === 'nondeterminism' ? 'NONDETERMINISM' : kind === 'missing-key' ? 'CANNOT DECRYPT' : 'REPLAY FAILED'}: ${item.label}`,
    ...(item.incidentId ? [`  incident: ${item.incidentId}`] : []),
    `  workflow: ${item.workflowId}${item.runId ? `  run: ${item.runId}` : ''}`,
    ...(item.file ? [`  file:     ${item.file}`] : []),
  ];
  if (parsed.eventId !== undefined) {
    const described = history ? describeEvent(history, parsed.eventId) : undefined;
    lines.push(
      `  event:    ${parsed.eventId}${described ? ` (${described})` : eventType ? ` (${shortEventType(eventType)})` : ''}`,
    );
  }
  lines.push(`  error:    ${parsed.cause}`);
  if (kind === 'nondeterminism') {
    lines.push(
      '  meaning:  the current workflow code issues different commands than the code that wrote this history;',
      '            running incidents with this history would fail. Guard the change with patched() / deprecatePatch().',
    );
  }
  return {
    label: item.label,
    ...(item.file ? { file: item.file } : {}),
    ...(item.incidentId ? { incidentId: item.incidentId } : {}),
    workflowId: item.workflowId,
    ...(item.runId ? { runId: item.runId } : {}),
    kind,
    ...(parsed.eventId !== undefined ? { eventId: parsed.eventId } : {}),
    ...(eventType ? { eventType: shortEventType(eventType) } : {}),
    message: parsed.cause,
    detail,
    explanation: lines.join('\n'),
  };
}

// ---- Running ------------------------------------------------------------------------------------------------

const strip = ({ history: _h, ...rest }: ReplayItem): Omit<ReplayItem, 'history'> => rest;

/**
 * Replays every item against the workflow code; never throws for a failing history (see the summary's
 * `failures`), only for a worker that cannot start.
 */
export async function replayHistories(
  items: AsyncIterable<ReplayItem> | Iterable<ReplayItem>,
  opts: ReplayOptions = {},
): Promise<ReplaySummary> {
  const bundleStarted = Date.now();
  const workflowBundle = opts.workflowBundle ?? (await bundleWorkflows());
  const bundleSeconds = (Date.now() - bundleStarted) / 1000;
  const codec: PayloadCodec | undefined = encryptionCodecOf(opts.dataConverter);
  const bar =
    opts.progress === false
      ? undefined
      : new ProgressBar({
          label: 'histories',
          ...(opts.total !== undefined ? { total: opts.total } : {}),
          ...opts.progress,
        });
  const failures: ReplayFailure[] = [];
  let replayed = 0;
  let events = 0;
  const record = (item: Omit<ReplayItem, 'history'>, failure: ReplayFailure | undefined) => {
    replayed++;
    if (failure) {
      failures.push(failure);
      bar?.log(failure.explanation);
    }
    bar?.tick(!!failure);
    opts.onResult?.(item, failure);
  };

  // Items handed to the replay worker, in order: it replays one history at a time and answers in order.
  const inFlight: { item: Omit<ReplayItem, 'history'>; history: HistoryJson }[] = [];
  async function* feed(): AsyncGenerator<{ workflowId: string; history: History }> {
    for await (const item of items) {
      const meta = strip(item);
      try {
        assertDecryptable(item.history, codec, item.label);
      } catch (err) {
        if (!(err instanceof MissingEncryptionKeyError)) throw err;
        record(meta, explain(meta, item.history, 'missing-key', err.message));
        continue;
      }
      let history: History;
      try {
        history = historyFromJson(item.history);
      } catch (err) {
        record(meta, explain(meta, item.history, 'invalid-history', (err as Error).message));
        continue;
      }
      inFlight.push({ item: meta, history: item.history });
      events += item.history.events.length;
      yield { workflowId: item.workflowId, history };
    }
  }

  const started = Date.now();
  const replayOptions = {
    workflowBundle,
    replayName: opts.replayName ?? 'quell-replay',
    ...(opts.dataConverter ? { dataConverter: opts.dataConverter } : {}),
  };
  for await (const result of Worker.runReplayHistories(replayOptions, feed())) {
    const next = inFlight.shift();
    if (!next) continue;
    const item = { ...next.item, runId: next.item.runId ?? result.runId };
    if (!result.error) {
      record(item, undefined);
      continue;
    }
    const kind: ReplayFailureKind =
      result.error.name === 'DeterminismViolationError' ? 'nondeterminism' : 'replay-error';
    record(item, explain(item, next.history, kind, result.error.message));
  }
  bar?.finish();
  const seconds = (Date.now() - started) / 1000;
  return {
    replayed,
    passed: replayed - failures.length,
    failed: failures.length,
    seconds,
    historiesPerSecond: seconds > 0 ? replayed / seconds : replayed,
    events,
    eventsPerSecond: seconds > 0 ? events / seconds : events,
    bundleSeconds,
    failures,
  };
}

/** A one-paragraph summary for terminals and CI logs. */
export function formatReplaySummary(s: ReplaySummary): string {
  const lines = [
    `Replayed ${s.replayed} histor${s.replayed === 1 ? 'y' : 'ies'} against the current workflow code: ` +
      `${s.passed} passed, ${s.failed} failed, ${s.seconds.toFixed(2)} s (${s.historiesPerSecond.toFixed(1)} histories/s, ` +
      `${Math.round(s.eventsPerSecond)} events/s; bundling ${s.bundleSeconds.toFixed(1)} s).`,
  ];
  if (s.failures.length) {
    lines.push('', 'Failures:');
    for (const f of s.failures) lines.push(f.explanation, '');
  }
  return lines.join('\n');
}

// ---- Sources ------------------------------------------------------------------------------------------------

/** Every `.json` file under the given files and directories (directories recursively, sorted). */
export async function listHistoryFiles(paths: string[]): Promise<string[]> {
  const files: string[] = [];
  const visit = async (p: string): Promise<void> => {
    const stat = await fs.stat(p);
    if (stat.isDirectory()) {
      for (const name of (await fs.readdir(p)).sort()) {
        const child = path.join(p, name);
        if ((await fs.stat(child)).isDirectory() || name.endsWith('.json')) await visit(child);
      }
    } else files.push(p);
  };
  for (const p of paths) await visit(p);
  return files;
}

/**
 * Histories from files: Temporal JSON (`{ "events": [...] }`, e.g. `temporal workflow show --output json` or
 * test/histories/*.json), Quell history exports (`runs[]`), or audit bundles (their history entries).
 */
export async function* historiesFromFiles(files: string[]): AsyncGenerator<ReplayItem> {
  for (const file of files) {
    let doc: unknown;
    try {
      doc = JSON.parse(await fs.readFile(file, 'utf8'));
    } catch (err) {
      throw new Error(`${file}: not a readable JSON file (${(err as Error).message})`);
    }
    if (isHistoryJson(doc)) {
      const info = startedInfo(doc);
      const who = identifyHistory(doc);
      yield {
        label: file,
        file,
        workflowId: who.workflowId ?? path.basename(file, '.json'),
        ...(info.runId ? { runId: info.runId } : {}),
        ...(who.incidentId ? { incidentId: who.incidentId } : {}),
        history: doc,
      };
    } else if (isHistoryExport(doc)) {
      for (const [i, run] of doc.runs.entries()) {
        yield {
          label: `${file} run ${i + 1}/${doc.runs.length}`,
          file,
          workflowId: doc.workflowId,
          runId: run.runId,
          incidentId: doc.incidentId,
          history: run.history,
        };
      }
    } else if (isBundleLike(doc)) {
      const runs = doc.entries.filter((e) => e.kind === 'history');
      for (const [i, e] of runs.entries()) {
        const body = e.body as { runId: string; history: HistoryJson };
        yield {
          label: `${file} run ${i + 1}/${runs.length}`,
          file,
          workflowId: doc.workflowId,
          runId: body.runId,
          incidentId: doc.incidentId,
          history: body.history,
        };
      }
    } else {
      throw new Error(`${file} is neither a Temporal history ({"events": [...]}) nor a Quell history export`);
    }
  }
}

function isBundleLike(
  doc: unknown,
): doc is { incidentId: string; workflowId: string; entries: { kind: string; body: unknown }[] } {
  return (
    typeof doc === 'object' &&
    doc !== null &&
    Array.isArray((doc as { entries?: unknown }).entries) &&
    typeof (doc as { workflowId?: unknown }).workflowId === 'string'
  );
}

/** Every run of one incident, fetched from Temporal. */
export async function* historiesOfIncident(
  client: Client,
  incidentId: string,
  opts: { firstRunId?: string } = {},
): AsyncGenerator<ReplayItem> {
  const exported = await exportIncidentHistory(client, incidentId, opts);
  for (const [i, run] of exported.runs.entries()) {
    yield {
      label: `${incidentId} run ${i + 1}/${exported.runs.length}`,
      workflowId: exported.workflowId,
      runId: run.runId,
      incidentId,
      history: run.history,
    };
  }
}

/** The default `--all` query: every incident workflow run. */
export const ALL_INCIDENTS_QUERY = `WorkflowType = '${INCIDENT_WORKFLOW_TYPE}'`;

/**
 * Every run a visibility query lists (each run of a continue-as-new chain is its own execution), fetched a
 * few at a time.
 */
export async function* historiesFromQuery(
  client: Client,
  query: string = ALL_INCIDENTS_QUERY,
  concurrency = 4,
): AsyncGenerator<ReplayItem> {
  const pending: Promise<ReplayItem>[] = [];
  // Raw listing: memos are not decoded (they need the payload key, which replaying does not).
  const iterator = listRuns(client, query)[Symbol.asyncIterator]();
  let exhausted = false;
  const fill = async () => {
    while (!exhausted && pending.length < concurrency) {
      const next = await iterator.next();
      if (next.done) {
        exhausted = true;
        break;
      }
      const wf = next.value;
      const listedId = wf.searchAttribute(SA_INCIDENT_ID.name);
      const incidentId = typeof listedId === 'string' ? listedId : undefined;
      pending.push(
        fetchRunHistory(client, wf.workflowId, wf.runId).then((history) => ({
          label: `${incidentId ?? wf.workflowId} run ${wf.runId}`,
          workflowId: wf.workflowId,
          runId: wf.runId,
          ...(incidentId ? { incidentId } : {}),
          history,
        })),
      );
    }
  };
  await fill();
  while (pending.length) {
    const item = await pending.shift()!;
    await fill();
    yield item;
  }
}
