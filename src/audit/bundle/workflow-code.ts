/**
 * Naming the workflow code a bundle's history replays against: its SHA-256, the versions that built it, and the
 * build IDs Temporal recorded for the history's workflow tasks.
 *
 * The TypeScript SDK's default build ID is `@temporalio/worker@<version>+<sha256 of the bundle code>`
 * (`addBuildIdIfMissing` in @temporalio/worker's worker.ts), and every WorkflowTaskCompleted event records the
 * build ID of the worker that completed the task (`workerVersion.buildId`; `binaryChecksum` on older
 * servers). So the history names the code that ran it. The hash matches the bundle file byte for byte when
 * the worker loads it from a file (QUELL_WORKFLOW_BUNDLE); a worker that bundles at start-up hashes the code
 * after the SDK rewrites its source map's file name (an absolute path), so its build ID differs even for the
 * same code.
 */
import { createHash } from 'node:crypto';
import { eventAttributes, type HistoryJson } from '../history-json';
import type { WorkflowCodeBody, WorkflowCodeManifest } from './types';

export const WORKFLOW_CODE_ENTRY_ID = 'workflow-code';

/** The workflow code an export records: the code itself and what built it. */
export interface WorkflowCodeParts {
  code: string;
  quellVersion: string;
  sdkVersion: string;
  /** Carry the code in the bundle as a `workflow-code` entry (otherwise only its hash is recorded). */
  embed: boolean;
}

export function codeSha256(code: string): string {
  return createHash('sha256').update(code, 'utf8').digest('hex');
}

/** The build ID the SDK gives a worker that runs `sha256`'s code from a file. */
export function defaultBuildId(sdkVersion: string, sha256: string): string {
  return `@temporalio/worker@${sdkVersion}+${sha256}`;
}

/** The code hash in an SDK default build ID, if it is one. */
export function shaOfBuildId(buildId: string): string | undefined {
  return /^@temporalio\/worker@[^+]+\+([0-9a-f]{64})$/.exec(buildId)?.[1];
}

/** The distinct build IDs the histories' WorkflowTaskCompleted events recorded, first seen first. */
export function recordedBuildIds(histories: HistoryJson[]): string[] {
  const seen = new Set<string>();
  for (const history of histories) {
    for (const event of history.events) {
      if (event.eventType !== 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED') continue;
      const a = eventAttributes<{
        workerVersion?: { buildId?: string };
        binaryChecksum?: string;
        deploymentVersion?: { buildId?: string };
      }>(event);
      const id = a.workerVersion?.buildId || a.deploymentVersion?.buildId || a.binaryChecksum;
      if (id) seen.add(id);
    }
  }
  return [...seen];
}

export function workflowCodeManifest(
  parts: WorkflowCodeParts,
  histories: HistoryJson[],
): WorkflowCodeManifest {
  const sha256 = codeSha256(parts.code);
  return {
    sha256,
    sizeBytes: Buffer.byteLength(parts.code, 'utf8'),
    quellVersion: parts.quellVersion,
    sdkVersion: parts.sdkVersion,
    buildId: defaultBuildId(parts.sdkVersion, sha256),
    recordedBuildIds: recordedBuildIds(histories),
    ...(parts.embed ? { entryId: WORKFLOW_CODE_ENTRY_ID } : {}),
  };
}

export function workflowCodeBody(parts: WorkflowCodeParts): WorkflowCodeBody {
  return { sha256: codeSha256(parts.code), code: parts.code };
}
