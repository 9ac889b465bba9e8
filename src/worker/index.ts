import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  bundleWorkflowCode,
  Worker,
  type NativeConnection,
  type WorkflowBundleOption,
} from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../../activities';
import { projectRoot } from '../config';
import type { Logger } from '../logging';

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

/** Bundles the workflow code once, e.g. so a test run or several workers reuse one bundle. */
export async function bundleWorkflows(): Promise<{ code: string }> {
  return bundleWorkflowCode({ workflowsPath: workflowsEntry(), logger: quietBundlerLogger });
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
}

/** Creates (but does not run) the worker that executes incident workflows and their activities. */
export async function createIncidentWorker(opts: IncidentWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    activities: createActivities(opts.activityDeps),
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: workflowsEntry() }),
    shutdownGraceTime: opts.shutdownGraceTimeMs ?? 10_000,
    ...(opts.maxCachedWorkflows !== undefined ? { maxCachedWorkflows: opts.maxCachedWorkflows } : {}),
  });
}
