import { existsSync } from 'node:fs';
import path from 'node:path';
import type { DataConverter } from '@temporalio/common';
import {
  bundleWorkflowCode,
  type BundleOptions,
  Worker,
  type NativeConnection,
  type WorkflowBundleOption,
} from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../../activities';
import { projectRoot, type WorkerTuning } from '../config';
import type { Logger } from '../logging';
import type { Tracing } from '../telemetry/tracing';

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
 * The workflow interceptors module (workflows/trace-context.ts, or its build), beside the entry file. It is in every
 * bundle, tracing on or off: it changes no command, so one bundle serves both and switching tracing is safe for
 * running incidents.
 */
export function workflowInterceptorsEntry(): string {
  const entry = workflowsEntry();
  return path.join(path.dirname(entry), `trace-context${path.extname(entry)}`);
}

/**
 * Bundles the workflow code once, e.g. so a test run or several workers reuse one bundle. Workers with an
 * encryption data converter should pass its `failureConverterPath`, so failures raised inside workflow code
 * are encoded too (payload codecs run outside the sandbox and need nothing in the bundle).
 */
export async function bundleWorkflows(
  opts: { failureConverterPath?: string } = {},
): Promise<{ code: string }> {
  return bundleWorkflowCode({
    workflowsPath: workflowsEntry(),
    workflowInterceptorModules: [workflowInterceptorsEntry()],
    logger: quietBundlerLogger,
    webpackConfigHook: leanWorkflowBundle,
    ...(opts.failureConverterPath ? { failureConverterPath: opts.failureConverterPath } : {}),
  });
}

type WebpackConfiguration = Parameters<NonNullable<BundleOptions['webpackConfigHook']>>[0];

/**
 * Shapes the workflow bundle for memory: with the SDK's reusable V8 context every workflow evaluates each
 * bundled module again, so per-module overhead is paid per cached workflow. Scope hoisting puts Quell's ES
 * modules in one scope (no exports object, getters and module record per module), and an ES2022 target keeps
 * object spread and class fields native (no helper functions copied into each module). Neither changes what
 * the workflow does; only how its code is laid out.
 */
export function leanWorkflowBundle(config: WebpackConfiguration): WebpackConfiguration {
  for (const rule of config.module?.rules ?? []) {
    const use = (rule as { use?: { loader?: string; options?: { jsc?: { target?: string } } } } | undefined)
      ?.use;
    if (use?.loader?.includes('swc-loader') && use.options?.jsc) use.options.jsc.target = 'es2022';
  }
  return { ...config, optimization: { ...config.optimization, concatenateModules: true } };
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
  /** Slots, pollers and cache (QUELL_WORKER_*); what is unset keeps the SDK's default. */
  tuning?: WorkerTuning;
  /**
   * E.g. the encryption converter (`dataConverterFromEnv()` in src/temporal/codec.ts); clients must use the same.
   * Without a prebuilt `workflowBundle`, its `failureConverterPath` is bundled into the workflow code too; with
   * one, build the bundle with `bundleWorkflows({ failureConverterPath })`.
   */
  dataConverter?: DataConverter;
  /** OpenTelemetry (src/telemetry/tracing.ts): a RunActivity span per activity, in the incident's trace. */
  tracing?: Tracing;
}

/** Creates (but does not run) the worker that executes incident workflows and their activities. */
export async function createIncidentWorker(opts: IncidentWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    activities: createActivities(opts.activityDeps),
    ...(opts.workflowBundle
      ? { workflowBundle: opts.workflowBundle }
      : { workflowsPath: workflowsEntry(), bundlerOptions: { webpackConfigHook: leanWorkflowBundle } }),
    shutdownGraceTime: opts.shutdownGraceTimeMs ?? 10_000,
    ...workerOptionsOf(opts.tuning ?? {}),
    ...(opts.dataConverter ? { dataConverter: opts.dataConverter } : {}),
    interceptors: {
      // A prebuilt bundle has them already (bundleWorkflows); the SDK ignores them beside one, with a warning.
      ...(opts.workflowBundle ? {} : { workflowModules: [workflowInterceptorsEntry()] }),
      ...(opts.tracing ? { activity: opts.tracing.activityInterceptors() } : {}),
    },
  });
}

/** The SDK's names for Quell's tuning variables. */
export function workerOptionsOf(t: WorkerTuning) {
  return {
    ...(t.workflowTaskSlots !== undefined
      ? { maxConcurrentWorkflowTaskExecutions: t.workflowTaskSlots }
      : {}),
    ...(t.activitySlots !== undefined ? { maxConcurrentActivityTaskExecutions: t.activitySlots } : {}),
    // The SDK reads poll counts from the poller behaviours (its maxConcurrent*TaskPolls are not used).
    ...(t.workflowPollers !== undefined
      ? { workflowTaskPollerBehavior: { type: 'simple-maximum' as const, maximum: t.workflowPollers } }
      : {}),
    ...(t.activityPollers !== undefined
      ? { activityTaskPollerBehavior: { type: 'simple-maximum' as const, maximum: t.activityPollers } }
      : {}),
    ...(t.cachedIncidents !== undefined ? { maxCachedWorkflows: t.cachedIncidents } : {}),
  };
}

/** What a worker runs with, for the start-up banner and log: one line, the SDK's defaults resolved. */
export function describeWorkerTuning(worker: Worker): string {
  const o = worker.options;
  const polls = (b: { type: string; maximum?: number }) =>
    b.type === 'simple-maximum' ? String(b.maximum) : `autoscaling up to ${b.maximum}`;
  const slots = (s: { type: string; numSlots?: number }) =>
    s.type === 'fixed-size' ? String(s.numSlots) : s.type;
  return [
    `${slots(o.tuner.workflowTaskSlotSupplier)} workflow-task slots`,
    `${slots(o.tuner.activityTaskSlotSupplier)} activity slots`,
    `${polls(o.workflowTaskPollerBehavior)} workflow / ${polls(o.activityTaskPollerBehavior)} activity pollers`,
    `${o.maxCachedWorkflows} incidents cached`,
  ].join(', ');
}
