/**
 * The workflow code this installation runs, as `quell audit export` records it and `quell audit verify --replay`
 * compares it: the bundle QUELL_WORKFLOW_BUNDLE names (what `quell worker` loads then), else `workflows/`
 * bundled now the way the worker bundles it.
 */
import { readFileSync, promises as fs } from 'node:fs';
import path from 'node:path';
import type { WorkflowBundleOption } from '@temporalio/worker';
import { projectRoot } from '../config';
import { codecFromEnv, FAILURE_CONVERTER_PATH } from '../temporal/codec';
import { bundleWorkflows } from '../worker';

export interface InstalledWorkflowCode {
  code: string;
  quellVersion: string;
  sdkVersion: string;
  /** Where the code came from, for messages. */
  origin: string;
}

/** Quell's package version (package.json at the project root). */
export function quellVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(projectRoot(), 'package.json'), 'utf8')) as {
    version?: string;
  };
  return pkg.version ?? 'unknown';
}

/** The Temporal TypeScript SDK's version: `@temporalio/worker`'s, which the default build ID names. */
export function sdkVersion(): string {
  const file = require.resolve('@temporalio/worker/package.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

/**
 * `workflowBundle` when given (tests, prebuilt bundles), else QUELL_WORKFLOW_BUNDLE's file, else `workflows/`
 * bundled now (seconds), with the encryption failure converter when QUELL_ENCRYPTION_KEY is set, as the worker
 * bundles it. Thrown: a bundle file that cannot be read, a bundling error.
 */
export async function installedWorkflowCode(
  opts: { workflowBundle?: WorkflowBundleOption; env?: NodeJS.ProcessEnv } = {},
): Promise<InstalledWorkflowCode> {
  const env = opts.env ?? process.env;
  const versions = { quellVersion: quellVersion(), sdkVersion: sdkVersion() };
  const given = opts.workflowBundle;
  if (given && 'code' in given) return { code: given.code, ...versions, origin: 'the given workflow bundle' };
  // The same variable src/config reads for the worker (workflowBundlePath).
  const file = given && 'codePath' in given ? given.codePath : env.QUELL_WORKFLOW_BUNDLE;
  if (file) {
    const resolved = path.resolve(file);
    return { code: await fs.readFile(resolved, 'utf8'), ...versions, origin: resolved };
  }
  const encrypting = codecFromEnv(env) !== undefined;
  const { code } = await bundleWorkflows(encrypting ? { failureConverterPath: FAILURE_CONVERTER_PATH } : {});
  return { code, ...versions, origin: 'workflows/, bundled now' };
}
