import { existsSync } from 'node:fs';
import path from 'node:path';
import type { DataConverter } from '@temporalio/common';
import {
  bundleWorkflowCode,
  Worker,
  type NativeConnection,
  type WorkflowBundleOption,
} from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../../activities';
import { projectRoot } from '../config';
import type { Logger } from '../logging';
import { WORKFLOW_TRACING_MODULE, type Tracing } from '../telemetry/tracing';

/** The workflow bundle's entry file, from source (`workflows/index.ts`) or from a build (`dist/workflows`). */
export function workflowsEntry(): string {
  const root = projectRoot();
  for (const candidate of [
    path.join(root, 'workflows', 'index.ts'),
    path.join(root, 'dist', 'workflows', 'index.js'),
  ]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(
    `Cannot find the workflow code (looked for workflows/index.ts and dist/workflows/index.js in ${root}).`,
  );
}

/**
 * Bundles the workflow code once, e.g. so a test run or several workers reuse one bundle. Workers with an
 * encryption data converter should pass its `failureConverterPath`, so failures raised inside workflow code
 * are encoded too (payload codecs run outside the sandbox and need nothing in the bundle). `tracing` adds the
 * OpenTelemetry workflow interceptors, for a prebuilt bundle run by workers with tracing on.
 */
export async function bundleWorkflows(
  opts: { failureConverterPath?: string; tracing?: boolean } = {},
): Promise<{ code: string }> {
  return bundleWorkflowCode({
    workflowsPath: workflowsEntry(),
    logger: quietBundlerLogger,
    ...(opts.failureConverterPath ? { failureConverterPath: opts.failureConverterPath } : {}),
    ...(opts.tracing ? { workflowInterceptorModules: [WORKFLOW_TRACING_MODULE] } : {}),
  });
}

const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => process.stderr.write(`[workflow bundler] ${message}\n`),
  error: (message: string) => process.stderr.write(`[workflow bundler] ${message}\n`),
};

export interface IncidentWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  activityDeps: ActivityDeps;
  /** A prebuilt bundle; without one the worker bundles `workflows/` itself. */
  workflowBundle?: WorkflowBundleOption;
  logger?: Logger;
  /** How long in-flight activities may run after shutdown is requested before they are cancelled. */
  shutdownGraceTimeMs?: number;
  maxCachedWorkflows?: number;
  /**
   * E.g. the encryption converter (`dataConverterFromEnv()` in src/temporal/codec.ts); clients must use the same.
   * Without a prebuilt `workflowBundle`, its `failureConverterPath` is bundled into the workflow code too; with
   * one, build the bundle with `bundleWorkflows({ failureConverterPath })`.
   */
  dataConverter?: DataConverter;
  /**
   * OpenTelemetry (src/telemetry/tracing.ts): activity spans, and workflow spans exported through a sink. The
   * workflow interceptors join the bundle the worker builds; a prebuilt `workflowBundle` must have been built
   * with `bundleWorkflows({ tracing: true })` for workflow spans (otherwise each activity starts its own trace).
   */
  tracing?: Tracing;
}

/** Creates (but does not run) the worker that executes incident workflows and their activities. */
export async function createIncidentWorker(opts: IncidentWorkerOptions): Promise<Worker> {
  const tracingInterceptors = opts.tracing?.workerInterceptors();
  // The SDK ignores workflow modules beside a prebuilt bundle (with a warning): that bundle says what it holds.
  if (tracingInterceptors && opts.workflowBundle) delete tracingInterceptors.workflowModules;
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    activities: createActivities(opts.activityDeps),
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: workflowsEntry() }),
    shutdownGraceTime: opts.shutdownGraceTimeMs ?? 10_000,
    ...(opts.maxCachedWorkflows !== undefined ? { maxCachedWorkflows: opts.maxCachedWorkflows } : {}),
    ...(opts.dataConverter ? { dataConverter: opts.dataConverter } : {}),
    ...(opts.tracing ? { interceptors: tracingInterceptors, sinks: opts.tracing.workerSinks() } : {}),
  });
}
