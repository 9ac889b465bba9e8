import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { locateTemporalServer, serverCacheDir } from '../../src/temporal/server-binary';
import { bundleWorkflows } from '../../src/worker';
import { TEST_ENV } from '../support/env';
import { PG_TEST_ENV } from './env';

/**
 * The production profile's setup: the Temporal server and its schema tool (built with Go into the project cache
 * on the first run) and the workflow bundle every worker process loads. Each test file starts its own
 * PostgreSQL and server (see stack.ts), so restarts in one file never reach another.
 */
export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const runDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-test-pg-'));
  const report = (m: string) => process.stdout.write(`[postgres setup] ${m}\n`);
  // The project cache the embedded server's config names (the server is built beside the CLI).
  const { TEMPORAL_ADDRESS: _ignored, ...env } = process.env;
  const target = loadConfig({ ...env, QUELL_DATA_DIR: runDir }).temporal;
  if (target.kind !== 'embedded')
    throw new Error('unreachable: no TEMPORAL_ADDRESS, so the target is embedded');
  const binaries = await locateTemporalServer({ dir: serverCacheDir(target.cacheDir), report });
  report(`Temporal Server ${binaries.version} (${binaries.source}): ${binaries.server}`);
  const bundle = await bundleWorkflows();
  const bundlePath = path.join(runDir, 'workflow-bundle.js');
  await fs.writeFile(bundlePath, bundle.code);
  process.env[TEST_ENV.bundle] = bundlePath;
  process.env[PG_TEST_ENV.serverDir] = path.dirname(binaries.server);
  (globalThis as Record<string, unknown>).__QUELL_TEST_RUN_DIR__ = runDir;
  report(`ready in ${Date.now() - started} ms`);
}
