import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';

/**
 * Runs as visibility lists them, read without decoding memos: memos go through the payload codec, and the
 * audit tools must list (and export) incidents whose payloads they cannot or need not decrypt.
 */
export interface ListedRun {
  workflowId: string;
  runId: string;
  /** The first run of the chain this run belongs to (its own ID for a first run). */
  firstRunId: string;
  /** Search attribute values (never encrypted: Temporal indexes them in plain text). */
  searchAttribute(name: string): unknown;
  raw: temporal.api.workflow.v1.IWorkflowExecutionInfo;
}

/** Decodes one search attribute of a raw execution (JSON payloads). */
export function rawSearchAttribute(
  info: temporal.api.workflow.v1.IWorkflowExecutionInfo | null | undefined,
  name: string,
): unknown {
  const payload = info?.searchAttributes?.indexedFields?.[name];
  if (!payload?.data) return undefined;
  try {
    return JSON.parse(Buffer.from(payload.data).toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function listed(info: temporal.api.workflow.v1.IWorkflowExecutionInfo): ListedRun {
  const workflowId = info.execution?.workflowId ?? '';
  const runId = info.execution?.runId ?? '';
  return {
    workflowId,
    runId,
    firstRunId: info.firstRunId || runId,
    searchAttribute: (name) => rawSearchAttribute(info, name),
    raw: info,
  };
}

/** Every run a visibility query matches, page by page. */
export async function* listRuns(client: Client, query: string, pageSize = 100): AsyncGenerator<ListedRun> {
  let nextPageToken: Uint8Array | undefined;
  do {
    const response = await client.workflowService.listWorkflowExecutions({
      namespace: client.options.namespace,
      query,
      pageSize,
      ...(nextPageToken ? { nextPageToken } : {}),
    });
    for (const info of response.executions ?? []) yield listed(info);
    nextPageToken = response.nextPageToken?.length ? response.nextPageToken : undefined;
  } while (nextPageToken);
}

/**
 * The latest run of a workflow (or the given run), without decoding its memo.
 * Thrown: the gRPC NOT_FOUND error when there is no such workflow (see `isNotFound`).
 */
export async function describeRun(client: Client, workflowId: string, runId?: string): Promise<ListedRun> {
  const response = await client.workflowService.describeWorkflowExecution({
    namespace: client.options.namespace,
    execution: { workflowId, ...(runId ? { runId } : {}) },
  });
  return listed(response.workflowExecutionInfo ?? {});
}
