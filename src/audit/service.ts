/**
 * Audit operations over a Temporal client: an incident's history, timeline, report and audit bundle. Used by
 * the CLI (`quell history|replay|audit`) and by the API (`createAuditService` implements the API's
 * `AuditOperations`: GET /api/v1/incidents/{id}/timeline, /history, /report, /bundle, /evidence).
 */
import type { Client } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import type { EvidenceRecord } from '../connectors/types';
import { incidentStateQuery } from '../contracts';
import type { IncidentState } from '../domain/incident';
import {
  IncidentNotFoundError,
  IncidentRefusedError,
  IncidentStateUnavailableError,
  TemporalUnavailableError,
} from '../incidents/errors';
import { isTemporalUnavailable } from '../temporal/errors';
import {
  assembleBundle,
  bundleFileName,
  type AuditBundle,
  type AuditSigner,
  type EvidenceManifestItem,
  type WorkflowCodeParts,
} from './bundle';
import {
  AmbiguousIncidentIdError,
  decryptExport,
  exportIncidentHistory,
  type IncidentHistoryExport,
} from './history';
import { buildReport, renderReportMarkdown, type IncidentReport } from './report';
import { buildTimeline, stateFromHistory, type TimelineEntry } from './timeline';

export interface AuditServiceOptions {
  /** Decrypts encrypted payloads (e.g. `codecFromEnv()`); without it encrypted incidents fail, naming the key. */
  codec?: PayloadCodec;
  /** Signs audit bundles (e.g. `signerFromEnv()`). */
  signer?: AuditSigner;
  /** Full chain of custody for the evidence manifest; without it custody comes from the incident state. */
  evidenceStore?: { list(incidentId: string): Promise<EvidenceRecord[]> };
  /** How long to wait for the workflow query (open incidents' live state) before falling back to history. */
  queryTimeoutMs?: number;
  now?: () => Date;
  /**
   * The workflow code the bundle names for `quell audit verify --replay` (e.g. from `installedWorkflowCode` in
   * installed-code.ts, memoized: bundling takes seconds). Without it the manifest names no code.
   */
  workflowCode?: () => Promise<WorkflowCodeParts>;
}

/** Per-call choice of the incident's run chain when its ID is ambiguous (see AmbiguousIncidentIdError). */
export interface IncidentSelector {
  firstRunId?: string;
}

/** Everything the audit views are built from. */
export interface IncidentAudit {
  /** As Temporal stores it (encrypted payloads stay encrypted). */
  stored: IncidentHistoryExport;
  /** Payloads decrypted (the same object as `stored` when nothing is encrypted). */
  readable: IncidentHistoryExport;
  /**
   * The incident's state: from the history (closed incidents, or what the last run started with), or from the
   * workflow query while it is open. Undefined only for an open first run whose workflow does not answer.
   */
  state?: IncidentState;
  stateSource: 'history' | 'query';
  timeline: TimelineEntry[];
}

export interface TimelineDocument {
  incidentId: string;
  workflowId: string;
  generatedAt: string;
  runs: { runId: string; status: string; events: number }[];
  entries: TimelineEntry[];
}

function mapError(err: unknown): unknown {
  if (err instanceof IncidentNotFoundError) return err;
  // The API answers 409 with the candidates in the message.
  if (err instanceof AmbiguousIncidentIdError)
    return new IncidentRefusedError('AmbiguousIncidentId', err.message, 409);
  if (isTemporalUnavailable(err))
    return new TemporalUnavailableError(`Temporal is unreachable: ${(err as Error).message}`);
  return err;
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), ms);
      }),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/**
 * Fetches and decrypts an incident's history, reads its state (from the history when it is closed; from the
 * workflow query, when a worker answers, while it is open) and derives its timeline.
 * Thrown: IncidentNotFoundError, TemporalUnavailableError, MissingEncryptionKeyError.
 */
export async function loadIncidentAudit(
  client: Client,
  incidentId: string,
  opts: AuditServiceOptions & IncidentSelector = {},
): Promise<IncidentAudit> {
  let stored: IncidentHistoryExport;
  try {
    stored = await exportIncidentHistory(client, incidentId, {
      ...(opts.now ? { now: opts.now } : {}),
      ...(opts.firstRunId ? { firstRunId: opts.firstRunId } : {}),
    });
  } catch (err) {
    throw mapError(err);
  }
  const readable = stored.encryption.encrypted ? await decryptExport(stored, opts.codec) : stored;
  const timeline = buildTimeline(readable);
  const lastRun = readable.runs[readable.runs.length - 1];
  const recorded = stateFromHistory(readable);
  let state = recorded?.state;
  let stateSource: 'history' | 'query' = 'history';
  if (lastRun && lastRun.status === 'RUNNING') {
    // An open incident: its current state is internal to the run; ask the workflow (a worker must answer).
    const live = await withTimeout(
      client.workflow
        .getHandle(readable.workflowId, lastRun.runId)
        .query(incidentStateQuery)
        .catch(() => undefined),
      opts.queryTimeoutMs ?? 5_000,
    );
    if (live) {
      state = live;
      stateSource = 'query';
    }
  }
  return { stored, readable, ...(state ? { state } : {}), stateSource, timeline };
}

export function timelineDocument(audit: IncidentAudit, now: Date = new Date()): TimelineDocument {
  return {
    incidentId: audit.stored.incidentId,
    workflowId: audit.stored.workflowId,
    generatedAt: now.toISOString(),
    runs: audit.stored.runs.map((r) => ({
      runId: r.runId,
      status: r.status,
      events: r.history.events.length,
    })),
    entries: audit.timeline,
  };
}

/** The incident's state. Thrown: {@link IncidentStateUnavailableError}. */
export function requireState(audit: IncidentAudit): IncidentState {
  if (!audit.state) throw new IncidentStateUnavailableError(audit.stored.incidentId);
  return audit.state;
}

export function reportOf(audit: IncidentAudit, now?: () => Date): IncidentReport {
  return buildReport(requireState(audit), audit.timeline, {
    exported: audit.readable,
    stateSource: audit.stateSource,
    ...(now ? { now } : {}),
  });
}

/** The evidence manifest: each item's hash, size and custody, with the history events that collected it. */
export async function evidenceManifest(
  audit: IncidentAudit,
  store?: AuditServiceOptions['evidenceStore'],
): Promise<EvidenceManifestItem[]> {
  const state = requireState(audit);
  const records = store ? await store.list(state.incidentId).catch(() => [] as EvidenceRecord[]) : [];
  return state.evidence.map((e) => {
    const record = records.find((r) => r.evidenceId === e.evidenceId);
    const collected = audit.timeline.find(
      (t) =>
        t.kind === 'evidence_collected' &&
        (t.details.evidence as { evidenceId?: string } | undefined)?.evidenceId === e.evidenceId,
    );
    return {
      evidenceId: e.evidenceId,
      name: e.name,
      subject: e.subject,
      sha256: e.sha256,
      sizeBytes: e.sizeBytes,
      location: e.location,
      source: e.source,
      timeZone: e.timeZone,
      collectedBy: e.collectedBy,
      collectedAt: e.collectedAt,
      ...(e.window ? { window: e.window } : {}),
      custody: record?.custody ?? [{ at: e.collectedAt, actor: e.collectedBy, action: 'collected' }],
      custodySource: record ? 'evidence-store' : 'incident-state',
      refs: collected?.refs ?? [],
    };
  });
}

/** Builds an incident's audit bundle (signed when `opts.signer` is set). */
export async function buildAuditBundle(
  client: Client,
  incidentId: string,
  opts: AuditServiceOptions & IncidentSelector = {},
): Promise<{ bundle: AuditBundle; audit: IncidentAudit; report: IncidentReport; markdown: string }> {
  const audit = await loadIncidentAudit(client, incidentId, opts);
  const report = reportOf(audit, opts.now);
  const markdown = renderReportMarkdown(report);
  const bundle = assembleBundle(
    {
      exported: audit.stored,
      state: requireState(audit),
      stateSource: audit.stateSource,
      timeline: audit.timeline,
      report,
      reportMarkdown: markdown,
      evidence: await evidenceManifest(audit, opts.evidenceStore),
      createdAt: (opts.now?.() ?? new Date()).toISOString(),
      ...(opts.workflowCode ? { workflowCode: await opts.workflowCode() } : {}),
    },
    opts.signer,
  );
  return { bundle, audit, report, markdown };
}

/** What the API's audit routes call (the shape of `AuditOperations` in src/api/route-spec.ts). */
export interface AuditService {
  timeline(incidentId: string): Promise<TimelineDocument>;
  /** Every run's history; payloads decrypted when the service has the key, else as stored. */
  history(incidentId: string): Promise<IncidentHistoryExport>;
  report(incidentId: string, format: 'json' | 'markdown'): Promise<IncidentReport | string>;
  /** The audit bundle, as `quell audit export` builds and names it: signed when the service has a signer. */
  bundle(incidentId: string): Promise<{ fileName: string; bundle: AuditBundle }>;
  /** The evidence manifest (custody from the evidence store when the service has one). */
  evidence(incidentId: string): Promise<{ incidentId: string; items: EvidenceManifestItem[] }>;
}

/**
 * The API's audit dependency. Errors: IncidentNotFoundError (404), TemporalUnavailableError (503),
 * MissingEncryptionKeyError when the incident's payloads are encrypted with a key the service lacks.
 */
export function createAuditService(client: Client, options: AuditServiceOptions = {}): AuditService {
  const now = () => options.now?.() ?? new Date();
  return {
    async timeline(incidentId) {
      return timelineDocument(await loadIncidentAudit(client, incidentId, options), now());
    },
    async history(incidentId) {
      let stored: IncidentHistoryExport;
      try {
        stored = await exportIncidentHistory(client, incidentId, { now });
      } catch (err) {
        throw mapError(err);
      }
      return stored.encryption.encrypted && options.codec ? decryptExport(stored, options.codec) : stored;
    },
    async report(incidentId, format) {
      const report = reportOf(await loadIncidentAudit(client, incidentId, options), now);
      return format === 'markdown' ? renderReportMarkdown(report) : report;
    },
    async bundle(incidentId) {
      const { bundle } = await buildAuditBundle(client, incidentId, { ...options, now });
      return { fileName: bundleFileName(bundle.incidentId), bundle };
    },
    async evidence(incidentId) {
      const audit = await loadIncidentAudit(client, incidentId, options);
      return {
        incidentId: audit.stored.incidentId,
        items: await evidenceManifest(audit, options.evidenceStore),
      };
    },
  };
}
