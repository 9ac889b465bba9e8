/**
 * What `quell playbook simulate` runs on: alert files (any format intake accepts, detected per file) and
 * recorded incidents read from their histories (files, or one incident's runs fetched from Temporal).
 */
import { promises as fs } from 'node:fs';
import type { Client } from '@temporalio/client';
import { incidentStateQuery, type IngestAlertRequest, type IncidentWorkflowInput } from '../contracts';
import type { IncidentState } from '../domain/incident';
import { eventAttributes, type HistoryJson } from '../audit/history-json';
import { runStatusOf } from '../audit/history';
import { decryptHistoryJson, firstPayloadValue } from '../audit/payloads';
import type { PayloadCodec } from '@temporalio/common';
import { historiesFromFiles, historiesOfIncident, listHistoryFiles } from '../audit/replay/sources';
import { recordedState } from '../audit/timeline/snapshots';
import { UserFixableError } from '../errors';
import { detectAlertFormat, normalizeAlertBody } from '../ingest';
import type { RecordedAction, RecordedIncident, SimulatedAlertInput } from './simulate';

/** Thrown when an input cannot be read or is not what it should be (a usage problem: exit code 2). */
export class SimulationInputError extends UserFixableError {}

/**
 * Normalizes every alert of the files (directories: each `.json` in them, recursively, sorted), in order.
 * `receivedAt` stands in for the receipt time intake would stamp.
 * Thrown: {@link SimulationInputError} for a file that is not JSON or not an alert in a known format.
 */
export async function readAlertFiles(
  paths: string[],
  receivedAt: string,
): Promise<(SimulatedAlertInput & { label: string })[]> {
  const files = await listFiles(paths);
  const alerts: (SimulatedAlertInput & { label: string })[] = [];
  for (const file of files) {
    let body: unknown;
    try {
      body = JSON.parse(await fs.readFile(file, 'utf8'));
    } catch (err) {
      throw new SimulationInputError(`${file}: not a readable JSON file (${(err as Error).message})`);
    }
    const format = detectAlertFormat(body);
    if (!format) throw new SimulationInputError(`${file}: not an alert in any format intake accepts`);
    const outcome = normalizeAlertBody(body, format, receivedAt);
    if (!outcome.ok) {
      const issue = outcome.error.issues[0];
      throw new SimulationInputError(
        `${file}: not a valid ${format} alert (${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'})`,
      );
    }
    outcome.alerts.forEach((alert, i) =>
      alerts.push({ alert, label: outcome.alerts.length > 1 ? `${file} #${i + 1}` : file }),
    );
  }
  return alerts;
}

async function listFiles(paths: string[]): Promise<string[]> {
  try {
    return await listHistoryFiles(paths);
  } catch (err) {
    throw new SimulationInputError(
      `Cannot read ${(err as NodeJS.ErrnoException).path ?? paths.join(', ')}: ${(err as Error).message}`,
    );
  }
}

/**
 * A recorded incident from its runs' histories, first run first: the playbook its input recorded, the alerts
 * its `ingestAlert` updates delivered, and its actions (with who decided them) from its last recorded state.
 * Thrown: MissingEncryptionKeyError (src/audit/payloads.ts) for payloads still encrypted.
 */
export function recordedIncidentOf(
  label: string,
  runs: HistoryJson[],
  incidentId?: string,
  /** The incident's state now, for a run still open (its history records no state of its own yet). */
  current?: IncidentState,
): RecordedIncident {
  let input: IncidentWorkflowInput | undefined;
  let state: IncidentState | undefined;
  const alerts: SimulatedAlertInput[] = [];
  for (const history of runs) {
    for (const e of history.events) {
      const a = eventAttributes<Record<string, unknown>>(e);
      if (e.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED') {
        input ??= firstPayloadValue<IncidentWorkflowInput>(a.input);
      } else if (e.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED') {
        const req = a.acceptedRequest as { input?: { name?: string; args?: unknown } } | undefined;
        if (req?.input?.name !== 'ingestAlert') continue;
        const body = firstPayloadValue<IngestAlertRequest>(req.input.args);
        if (body?.alert) alerts.push({ alert: body.alert, raisedBy: body.raisedBy });
      }
      state = recordedState(e) ?? state;
    }
  }
  state = current ?? state;
  if (!input?.playbook)
    throw new SimulationInputError(`${label}: no incident workflow input (not an incident history?)`);
  const actions: RecordedAction[] = (state?.actions ?? [])
    .filter((a) => a.purpose !== 'recovery')
    .map((a) => {
      const approval = state?.approvals.find((p) => p.actionIds.includes(a.actionId));
      const decidedBy = approval
        ? [
            ...approval.decisions.map((d) => `${d.decider}: ${d.decision}`),
            ...(approval.expiryOutcome ? [`approval expired: ${approval.expiryOutcome}`] : []),
            ...(approval.state === 'cancelled' ? ['approval cancelled'] : []),
          ]
        : [];
      return {
        actionId: a.actionId,
        purpose: a.purpose as RecordedAction['purpose'],
        kind: a.kind,
        target: a.target,
        policy: a.policy,
        state: a.state,
        decidedBy,
      };
    });
  const id = incidentId ?? state?.incidentId;
  return {
    label,
    ...(id ? { incidentId: id } : {}),
    playbook: { id: input.playbook.id, version: input.playbook.version, hash: input.playbookHash },
    ...(state ? { severity: state.severity } : {}),
    ...(state?.enrichment ? { enrichment: state.enrichment } : {}),
    alerts,
    actions,
  };
}

/**
 * Recorded incidents from history files: the runs of one incident (continue-as-new) together, in file order.
 * `onFile` is told of each file read (progress); `codec` decrypts encrypted payloads.
 * Thrown: MissingEncryptionKeyError without the key; {@link SimulationInputError} for a path or file that cannot be read as histories.
 */
export async function readRecordedIncidents(
  paths: string[],
  opts: { codec?: PayloadCodec; onFile?: (file: string, index: number, total: number) => void } = {},
): Promise<RecordedIncident[]> {
  const files = await listFiles(paths);
  if (files.length === 0) throw new SimulationInputError(`No history files (*.json) in ${paths.join(', ')}`);
  const groups = new Map<string, { label: string; incidentId?: string; runs: HistoryJson[] }>();
  try {
    let i = 0;
    for await (const item of historiesFromFiles(files)) {
      opts.onFile?.(item.label, i++, files.length);
      const history = await decryptHistoryJson(item.history, opts.codec, item.label);
      const key = item.incidentId ?? item.label;
      const group = groups.get(key);
      if (group) {
        group.runs.push(history);
        group.label += `, ${item.label}`;
      } else
        groups.set(key, {
          label: item.label,
          ...(item.incidentId ? { incidentId: item.incidentId } : {}),
          runs: [history],
        });
    }
  } catch (err) {
    if (err instanceof UserFixableError) throw err;
    throw new SimulationInputError((err as Error).message);
  }
  return [...groups.values()].map((g) => recordedIncidentOf(g.label, g.runs, g.incidentId));
}

/**
 * One incident's recording, every run fetched from Temporal (as `quell audit timeline` reads it); for an open
 * incident, its actions as its state query answers now (none when no worker answers).
 * Thrown: IncidentNotFoundError, AmbiguousIncidentIdError (src/audit/history.ts), MissingEncryptionKeyError.
 */
export async function fetchRecordedIncident(
  client: Client,
  incidentId: string,
  codec?: PayloadCodec,
): Promise<RecordedIncident> {
  const runs: HistoryJson[] = [];
  let workflowId: string | undefined;
  for await (const item of historiesOfIncident(client, incidentId)) {
    workflowId = item.workflowId;
    runs.push(await decryptHistoryJson(item.history, codec, item.label));
  }
  const last = runs[runs.length - 1];
  let current: IncidentState | undefined;
  // An open incident's history has no state yet: what happened so far is its query's answer.
  if (workflowId && last && runStatusOf(last) === 'RUNNING') {
    current = await client.workflow
      .getHandle(workflowId)
      .query(incidentStateQuery)
      .catch(() => undefined);
  }
  return recordedIncidentOf(incidentId, runs, incidentId, current);
}
