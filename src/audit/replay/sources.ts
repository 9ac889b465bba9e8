/**
 * Where histories come from: files and directories (Temporal JSON, Quell history exports holding several
 * runs, audit bundles), one incident's complete run chain, or every run a visibility query lists.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { INCIDENT_WORKFLOW_TYPE, SA_INCIDENT_ID } from '../../contracts';
import { listRuns } from '../../temporal/visibility';
import type { HistoryJson } from '../history-json';
import {
  exportIncidentHistory,
  fetchRunHistory,
  identifyHistory,
  isHistoryExport,
  isHistoryJson,
  startedInfo,
} from '../history';
import type { ReplayItem } from './types';

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
