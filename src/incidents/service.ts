import { createHash } from 'node:crypto';
import {
  WithStartWorkflowOperation,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { UpdateDefinition } from '@temporalio/common';
import type { NormalizedAlert } from '../domain/alert';
import {
  addNoteUpdate,
  closeIncidentUpdate,
  completeChecklistItemUpdate,
  decideApprovalUpdate,
  INCIDENT_WORKFLOW_TYPE,
  incidentStateQuery,
  incidentWorkflowId,
  ingestAlertUpdate,
  isRefusalType,
  parseIncidentId,
  REFUSALS,
  resolveFailedActionUpdate,
  SA_HOSTS,
  SA_INCIDENT_ID,
  SA_PHASE,
  SA_PLAYBOOK,
  SA_SEVERITY,
  SA_STATUS,
  type AlertReceipt,
  type IncidentWorkflowInput,
} from '../contracts';
import type { Actor, IncidentState, Resolution, SlackIdentity } from '../domain/incident';
import type { Logger } from '../logging';
import type { PlaybookRegistry } from '../playbooks/loader';
import { correlationKeyFor } from '../playbooks/policy';
import { decodeMapFromPayloads } from '@temporalio/common/lib/internal-non-workflow';
import { temporal } from '@temporalio/proto';
import {
  isInvalidArgument,
  isNotFound,
  isResourceExhausted,
  isRunAlreadyCompleted,
  isTemporalUnavailable,
  isUpdateAbortedByContinueAsNew,
} from '../temporal/errors';
import { describeRun, listRuns, rawSearchAttribute } from '../temporal/visibility';
import { SharedLivenessProbe, workerLiveness } from '../temporal/worker-liveness';
import { IncidentIdDeriver } from './correlation';
import { UpdateGate } from './update-gate';
import {
  IncidentBusyError,
  IncidentNotFoundError,
  IncidentRefusedError,
  NoWorkerError,
  InvalidCursorError,
  TemporalUnavailableError,
} from './errors';
import type {
  IncidentCountFilter,
  IncidentListFilter,
  IncidentListItem,
  IncidentOperations,
  IngestResult,
} from './types';

export type { IngestResult } from './types';

const { WORKFLOW_EXECUTION_STATUS_COMPLETED: COMPLETED, WORKFLOW_EXECUTION_STATUS_RUNNING: RUNNING } =
  temporal.api.enums.v1.WorkflowExecutionStatus;

function refusalOf(err: unknown): IncidentRefusedError | undefined {
  if (!(err instanceof WorkflowUpdateFailedError)) return undefined;
  const cause = err.cause;
  if (cause instanceof ApplicationFailure && isRefusalType(cause.type)) {
    return new IncidentRefusedError(cause.type, cause.message, REFUSALS[cause.type]);
  }
  return undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * List cursors are Temporal's page token behind a version byte and a checksum over the listing's query and the
 * token. Temporal's answer to a garbage page token differs by visibility store (INVALID_ARGUMENT, or an
 * UNKNOWN error its client retries for seconds), so a cursor Quell did not issue for this query is refused
 * before Temporal sees it. A checksum, not a signature: the token is not secret, only checked for integrity.
 */
const CURSOR_VERSION = 1;
const CURSOR_CHECK_BYTES = 8;
const cursorCheck = (query: string, token: Uint8Array): Buffer =>
  createHash('sha256')
    .update('quell-incident-list\0')
    .update(query)
    .update('\0')
    .update(token)
    .digest()
    .subarray(0, CURSOR_CHECK_BYTES);

function encodeCursor(query: string, token: Uint8Array): string {
  return Buffer.concat([Buffer.of(CURSOR_VERSION), cursorCheck(query, token), token]).toString('base64url');
}

function decodeCursor(query: string, cursor: string): Buffer {
  const raw = Buffer.from(cursor, 'base64url');
  const token = raw.subarray(1 + CURSOR_CHECK_BYTES);
  if (
    raw.toString('base64url') !== cursor ||
    raw[0] !== CURSOR_VERSION ||
    token.length === 0 ||
    !cursorCheck(query, token).equals(raw.subarray(1, 1 + CURSOR_CHECK_BYTES))
  ) {
    throw new InvalidCursorError(
      'not a cursor of this listing: pass nextCursor from the previous page, with the same filters',
    );
  }
  return token;
}
const quote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** The visibility clauses selecting Quell's incidents that match `filter`. */
function incidentQuery(filter: Omit<IncidentListFilter, 'limit' | 'cursor'>): string[] {
  const clauses = [`WorkflowType = ${quote(INCIDENT_WORKFLOW_TYPE)}`, `${SA_INCIDENT_ID.name} IS NOT NULL`];
  if (filter.status) clauses.push(`${SA_STATUS.name} = ${quote(filter.status)}`);
  if (filter.severity) clauses.push(`${SA_SEVERITY.name} = ${quote(filter.severity)}`);
  if (filter.phase) clauses.push(`${SA_PHASE.name} = ${quote(filter.phase)}`);
  if (filter.playbook) clauses.push(`${SA_PLAYBOOK.name} = ${quote(filter.playbook)}`);
  return clauses;
}

export interface IncidentServiceOptions {
  /** With payload encryption on: keep hosts and accounts out of search attributes (see IncidentWorkflowInput). */
  redactSearchAttributes?: boolean;
  /** How workflow IDs and the correlation tag derive from correlation keys (keyed with QUELL_INCIDENT_ID_KEY). */
  ids?: IncidentIdDeriver;
  /**
   * How long intake waits for a worker to take an alert before it asks Temporal whether any worker is live
   * (and then every as long again); with none live it answers 503 instead of waiting. Default 5 s.
   */
  workerWaitMs?: number;
}

/** What the API and the CLI do with incidents, over the Temporal client. */
export class IncidentService implements IncidentOperations {
  private readonly ids: IncidentIdDeriver;
  private readonly workerWaitMs: number;

  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly playbooks: PlaybookRegistry,
    private readonly logger?: Logger,
    private readonly options: IncidentServiceOptions = {},
  ) {
    this.ids = options.ids ?? new IncidentIdDeriver();
    this.workerWaitMs = options.workerWaitMs ?? 5_000;
    this.workers = new SharedLivenessProbe(
      () => workerLiveness(this.client, this.taskQueue),
      this.workerWaitMs / 2,
    );
  }

  /** Incidents an alert was recorded on lately, most recent last: the next alert for one is a plain update. */
  private readonly knownOpen = new RecentSet(10_000);

  /** Every waiting call reads the same recent answer (see SharedLivenessProbe). */
  private readonly workers: SharedLivenessProbe;

  /** Below the server's default of 10 in-flight updates per workflow, leaving room for responders' decisions. */
  private readonly updates = new UpdateGate(8);

  /**
   * Records an alert: joins the open incident for its correlation key or opens one, atomically
   * (update-with-start), so a burst of the same alert never opens two incidents.
   * Thrown: {@link TemporalUnavailableError} when Temporal cannot be reached; {@link NoWorkerError} when no
   * worker serves the incident task queue (the alert may still be recorded once a worker returns: a retry of
   * the same alert is then answered as deduplicated).
   */
  async ingestAlert(alert: NormalizedAlert, raisedBy: string): Promise<IngestResult> {
    const { playbook, hash } = this.playbooks.select(alert);
    const correlationKey = correlationKeyFor(playbook, alert);
    for (const previous of this.ids.previousDigests(correlationKey)) {
      const joined = await this.joinOpenIncident(incidentWorkflowId(previous), alert, raisedBy);
      if (joined) return { ...joined, workflowId: incidentWorkflowId(previous), playbookId: playbook.id };
    }
    const workflowId = incidentWorkflowId(this.ids.digest(correlationKey));
    if (this.knownOpen.has(workflowId)) {
      const joined = await this.recordOnKnownIncident(workflowId, alert, raisedBy);
      if (joined) return { ...joined, workflowId, playbookId: playbook.id };
    }
    const input: IncidentWorkflowInput = {
      correlationKey,
      playbook,
      playbookHash: hash,
      ...(this.options.redactSearchAttributes
        ? { redactSearchAttributes: true, correlationTag: this.ids.correlationTag(correlationKey) }
        : {}),
    };
    const deadline = Date.now() + 60_000;
    for (let attempt = 1; ; attempt++) {
      const startWorkflowOperation = new WithStartWorkflowOperation(INCIDENT_WORKFLOW_TYPE, {
        workflowId,
        taskQueue: this.taskQueue,
        args: [input],
        workflowIdConflictPolicy: 'USE_EXISTING',
        // The list view's title and pending approvals without a query per incident (the memo goes through the
        // payload codec); the workflow keeps `pendingApprovals` current.
        memo: { title: alert.title, pendingApprovals: 0 },
      });
      try {
        const receipt = await this.updates.run(workflowId, () =>
          this.whileWorkersLive(() =>
            this.client.workflow.executeUpdateWithStart(ingestAlertUpdate, {
              args: [{ alert, raisedBy }],
              startWorkflowOperation,
            }),
          ),
        );
        this.knownOpen.add(workflowId);
        return { ...receipt, workflowId, playbookId: playbook.id };
      } catch (err) {
        if (err instanceof NoWorkerError) throw err;
        const abortedByContinueAsNew = isUpdateAbortedByContinueAsNew(err);
        if (isTemporalUnavailable(err) && !abortedByContinueAsNew) {
          throw new TemporalUnavailableError(`Temporal is unreachable: ${(err as Error).message}`);
        }
        // Too many updates in flight on one busy incident, an incident continuing as new, or one closing as this
        // alert arrived: all clear within moments, so wait and try again rather than lose the alert.
        const refusal = refusalOf(err);
        const retryable =
          abortedByContinueAsNew ||
          isResourceExhausted(err) ||
          refusal?.type === 'IncidentClosing' ||
          (err instanceof WorkflowUpdateFailedError && !refusal) ||
          isRunAlreadyCompleted(err);
        if (!retryable || Date.now() > deadline) {
          if (refusal?.type === 'IncidentClosing') {
            // The incident for this key is still undoing containment; the sender retries later (503).
            throw new IncidentBusyError(`incident ${workflowId} is still closing; retry the alert later`, 30);
          }
          if (refusal) throw refusal;
          // Still contended after the deadline (an incident taking thousands of alerts at once): not an error
          // of the alert's, and not recorded; the sender retries it (503 with Retry-After), never a 500.
          if (retryable)
            throw new IncidentBusyError(
              `incident ${workflowId} is too busy to take the alert now; retry it`,
              5,
            );
          throw err;
        }
        this.logger?.debug(
          { workflowId, attempt, err: (err as Error).message },
          'alert ingest contended; retrying',
        );
        await sleep(Math.min(1_000, 20 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random()));
      }
    }
  }

  /**
   * Runs a call that needs a worker to answer (an update), giving up with {@link NoWorkerError} as soon as
   * Temporal says no worker serves the task queue: checked after `workerWaitMs`, then every as long again, so
   * a busy but live worker pool is waited for, and a dead one answers within seconds instead of never.
   */
  private async whileWorkersLive<T>(call: () => Promise<T>): Promise<T> {
    const abort = new AbortController();
    let noWorker = false;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const check = async () => {
      try {
        const liveness = await this.workers.liveness();
        if (liveness.live === 0) {
          noWorker = true;
          abort.abort();
          return;
        }
      } catch {
        // Temporal itself is unreachable: the call in flight fails on its own and says so.
      }
      if (!settled && !abort.signal.aborted) timer = setTimeout(() => void check(), this.workerWaitMs);
    };
    timer = setTimeout(() => void check(), this.workerWaitMs);
    try {
      return await this.client.connection.withAbortSignal(abort.signal, call);
    } catch (err) {
      if (noWorker) {
        throw new NoWorkerError(
          `no worker is serving the incident task queue "${this.taskQueue}"; the alert is not confirmed`,
        );
      }
      throw err;
    } finally {
      // Not abort(): the call is over, and an abort (its DOMException) per alert is measurable under load.
      settled = true;
      clearTimeout(timer);
    }
  }

  /**
   * Records the alert on an incident this service last saw open, with a plain update: Temporal does less for it
   * than for update-with-start, and in an outbreak most alerts join an open incident. Undefined when it is not
   * open any more, or on any other failure: the caller then records it by update-with-start, which handles
   * every case (the incident's workflow deduplicates an alert this attempt may have recorded).
   */
  private async recordOnKnownIncident(
    workflowId: string,
    alert: NormalizedAlert,
    raisedBy: string,
  ): Promise<AlertReceipt | undefined> {
    try {
      const receipt = await this.updates.run(workflowId, () =>
        this.whileWorkersLive(() =>
          this.client.workflow
            .getHandle(workflowId)
            .executeUpdate(ingestAlertUpdate, { args: [{ alert, raisedBy }] }),
        ),
      );
      this.knownOpen.add(workflowId);
      return receipt;
    } catch (err) {
      if (err instanceof NoWorkerError) throw err;
      this.knownOpen.delete(workflowId);
      return undefined;
    }
  }

  /**
   * Records the alert on the incident under a previous derivation of its workflow ID, if that incident is
   * still open; undefined when there is none (or it is closing: the alert then opens a new incident).
   */
  private async joinOpenIncident(
    workflowId: string,
    alert: NormalizedAlert,
    raisedBy: string,
  ): Promise<AlertReceipt | undefined> {
    const handle = this.client.workflow.getHandle(workflowId);
    try {
      const { raw } = await this.describe(workflowId);
      if (raw.status !== RUNNING) return undefined;
      return await this.whileWorkersLive(() =>
        handle.executeUpdate(ingestAlertUpdate, { args: [{ alert, raisedBy }] }),
      );
    } catch (err) {
      if (err instanceof NoWorkerError) throw err;
      if (err instanceof WorkflowNotFoundError) return undefined;
      const refusal = refusalOf(err);
      if (refusal?.type === 'IncidentClosing' || refusal?.type === 'IncidentClosed') return undefined;
      if (isRunAlreadyCompleted(err)) return undefined;
      if (isTemporalUnavailable(err))
        throw new TemporalUnavailableError(`Temporal is unreachable: ${(err as Error).message}`);
      throw err;
    }
  }

  /** A run's status without decoding its memo. Thrown: WorkflowNotFoundError when there is no such run. */
  private async describe(workflowId: string, runId?: string) {
    try {
      return await describeRun(this.client, workflowId, runId);
    } catch (err) {
      if (isNotFound(err)) throw new WorkflowNotFoundError(`no workflow ${workflowId}`, workflowId, runId);
      throw err;
    }
  }

  /** The handle of the run that holds an incident (the latest run of its workflow, or an older one). */
  private async handleFor(incidentId: string): Promise<{ handle: WorkflowHandle; state: IncidentState }> {
    const parsed = parseIncidentId(incidentId);
    if (!parsed) throw new IncidentNotFoundError(incidentId);
    try {
      const latest = this.client.workflow.getHandle(parsed.workflowId);
      const state = await this.readState(latest, parsed.workflowId);
      if (state.incidentId === incidentId) return { handle: latest, state };
      // A later incident reused this correlation key; find the older one's last run through visibility.
      for await (const wf of listRuns(
        this.client,
        `WorkflowId = ${quote(parsed.workflowId)} AND ${SA_INCIDENT_ID.name} = ${quote(incidentId)}`,
        1,
      )) {
        const handle = this.client.workflow.getHandle(wf.workflowId, wf.runId);
        return { handle, state: await this.readState(handle, wf.workflowId, wf.runId) };
      }
      throw new IncidentNotFoundError(incidentId);
    } catch (err) {
      throw this.mapError(err, incidentId);
    }
  }

  /**
   * An open incident's state comes from the workflow query. A closed one's is the workflow's result: reading it
   * is one history event, where a query would make a worker replay the whole run.
   */
  private async readState(
    handle: WorkflowHandle,
    workflowId: string,
    runId?: string,
  ): Promise<IncidentState> {
    const { raw } = await this.describe(workflowId, runId);
    if (raw.status === COMPLETED) return (await handle.result()) as IncidentState;
    return handle.query(incidentStateQuery);
  }

  private mapError(err: unknown, incidentId: string): Error {
    if (err instanceof IncidentNotFoundError || err instanceof IncidentRefusedError) return err;
    if (err instanceof WorkflowNotFoundError) return new IncidentNotFoundError(incidentId);
    const refusal = refusalOf(err);
    if (refusal) return refusal;
    if (isTemporalUnavailable(err))
      return new TemporalUnavailableError(`Temporal is unreachable: ${(err as Error).message}`);
    // An update the workflow failed without a refusal type (it should not happen: every refusal is typed).
    if (err instanceof WorkflowUpdateFailedError) {
      const cause = err.cause as { message?: string } | undefined;
      return new IncidentRefusedError('UpdateRefused', cause?.message ?? err.message, 409);
    }
    return err instanceof Error ? err : new Error(String(err));
  }

  private async update<R, A>(incidentId: string, def: UpdateDefinition<R, [A]>, arg: A): Promise<R> {
    const { handle, state } = await this.handleFor(incidentId);
    if (state.status === 'closed')
      throw new IncidentRefusedError('IncidentClosed', `incident ${incidentId} is closed`, 409);
    try {
      return await this.whileWorkersLive(() => handle.executeUpdate(def, { args: [arg] }));
    } catch (err) {
      if (err instanceof NoWorkerError) throw err;
      throw this.mapError(err, incidentId);
    }
  }

  /**
   * The incident's state, read through the workflow query.
   * Thrown: {@link IncidentNotFoundError}; {@link TemporalUnavailableError}.
   */
  async getState(incidentId: string): Promise<IncidentState> {
    return (await this.handleFor(incidentId)).state;
  }

  /**
   * A page of incidents, newest first.
   * Thrown: {@link InvalidCursorError} when `cursor` is not a `nextCursor` of this listing;
   * {@link TemporalUnavailableError}.
   */
  async list(filter: IncidentListFilter): Promise<{ items: IncidentListItem[]; nextCursor?: string }> {
    // No ORDER BY: SQL visibility (the dev server's SQLite and PostgreSQL alike, server 1.29) refuses it; only
    // Elasticsearch accepts it. Temporal's own order is the same on all of them and is what a responder wants:
    // open incidents first, newest start first, then closed ones, most recently closed first.
    const query = incidentQuery(filter).join(' AND ');
    const pageToken = filter.cursor !== undefined ? decodeCursor(query, filter.cursor) : undefined;
    try {
      const response = await this.client.workflowService.listWorkflowExecutions({
        namespace: this.client.options.namespace,
        query,
        pageSize: filter.limit,
        ...(pageToken ? { nextPageToken: pageToken } : {}),
      });
      const items: IncidentListItem[] = [];
      const seen = new Set<string>();
      for (const exec of response.executions ?? []) {
        const memo = await decodeMapFromPayloads(
          this.client.options.loadedDataConverter,
          exec.memo?.fields ?? undefined,
        ).catch(() => undefined);
        const read = (name: string): unknown => rawSearchAttribute(exec, name);
        const incidentId = read(SA_INCIDENT_ID.name);
        if (typeof incidentId !== 'string' || seen.has(incidentId)) continue;
        seen.add(incidentId); // continue-as-new chains list every run; show each incident once
        const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
        const hosts = read(SA_HOSTS.name);
        const startSeconds = Number(exec.startTime?.seconds ?? 0);
        const closeSeconds = exec.closeTime ? Number(exec.closeTime.seconds ?? 0) : undefined;
        const title = str(memo?.title);
        const pending = memo?.pendingApprovals;
        items.push({
          incidentId,
          workflowId: exec.execution?.workflowId ?? '',
          runId: exec.execution?.runId ?? '',
          ...(title ? { title } : {}),
          ...(str(read(SA_SEVERITY.name)) ? { severity: str(read(SA_SEVERITY.name)) } : {}),
          ...(str(read(SA_PHASE.name)) ? { phase: str(read(SA_PHASE.name)) } : {}),
          ...(str(read(SA_STATUS.name)) ? { status: str(read(SA_STATUS.name)) } : {}),
          ...(str(read(SA_PLAYBOOK.name)) ? { playbook: str(read(SA_PLAYBOOK.name)) } : {}),
          hosts: Array.isArray(hosts) ? hosts.filter((h): h is string => typeof h === 'string') : [],
          startedAt: new Date(startSeconds * 1000).toISOString(),
          ...(closeSeconds ? { closedAt: new Date(closeSeconds * 1000).toISOString() } : {}),
          ...(typeof pending === 'number' && Number.isInteger(pending) && pending >= 0
            ? { pendingApprovals: pending }
            : {}),
        });
      }
      const token = response.nextPageToken;
      return {
        items,
        ...(token && token.length > 0 ? { nextCursor: encodeCursor(query, token) } : {}),
      };
    } catch (err) {
      if (isTemporalUnavailable(err))
        throw new TemporalUnavailableError(`Temporal is unreachable: ${(err as Error).message}`);
      if (pageToken && isInvalidArgument(err)) {
        throw new InvalidCursorError(
          'Temporal refused the page token in this cursor; list again from the start',
        );
      }
      throw err;
    }
  }

  /**
   * Open incidents (in the phase and of the playbook given), counted by Temporal's CountWorkflowExecutions: one
   * call whatever the number, where listing would page through them all.
   * Thrown: {@link TemporalUnavailableError}.
   */
  async countOpen(filter: IncidentCountFilter = {}): Promise<number> {
    // Running runs only: the earlier runs of a continue-as-new chain are closed but keep their `open` status.
    const query = [...incidentQuery({ ...filter, status: 'open' }), `ExecutionStatus = 'Running'`].join(
      ' AND ',
    );
    try {
      return (await this.client.workflow.count(query)).count;
    } catch (err) {
      if (isTemporalUnavailable(err))
        throw new TemporalUnavailableError(`Temporal is unreachable: ${(err as Error).message}`);
      throw err;
    }
  }

  decideApproval(
    incidentId: string,
    approvalId: string,
    decision: 'approve' | 'reject',
    comment: string | undefined,
    actor: Actor,
    from?: { via: 'slack'; slack: SlackIdentity },
  ) {
    return this.update(incidentId, decideApprovalUpdate, {
      approvalId,
      decision,
      ...(comment ? { comment } : {}),
      actor,
      ...(from ? { via: from.via, slack: from.slack } : {}),
    });
  }

  resolveFailedAction(
    incidentId: string,
    actionId: string,
    resolution: 'retry' | 'skip',
    comment: string | undefined,
    actor: Actor,
  ) {
    return this.update(incidentId, resolveFailedActionUpdate, {
      actionId,
      resolution,
      ...(comment ? { comment } : {}),
      actor,
    });
  }

  completeChecklistItem(incidentId: string, itemId: string, note: string | undefined, actor: Actor) {
    return this.update(incidentId, completeChecklistItemUpdate, { itemId, ...(note ? { note } : {}), actor });
  }

  addNote(incidentId: string, text: string, kind: 'note' | 'lessons_learned', actor: Actor) {
    return this.update(incidentId, addNoteUpdate, { text, kind, actor });
  }

  close(incidentId: string, resolution: Resolution, comment: string | undefined, actor: Actor) {
    return this.update(incidentId, closeIncidentUpdate, {
      resolution,
      ...(comment ? { comment } : {}),
      actor,
    });
  }
}

/** A set that forgets its least recently added members beyond `capacity`. */
class RecentSet {
  private readonly members = new Set<string>();
  constructor(private readonly capacity: number) {}
  has(key: string): boolean {
    return this.members.has(key);
  }
  add(key: string): void {
    this.members.delete(key);
    this.members.add(key);
    if (this.members.size > this.capacity) this.members.delete(this.members.values().next().value!);
  }
  delete(key: string): void {
    this.members.delete(key);
  }
}
