import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { provisionTemporal } from '../../src/temporal/provision';
import { bundleWorkflows } from '../../src/worker';
import { TEST_ENV } from './env';

/**
 * Starts one real Temporal dev server for the whole jest run (random free port, in-memory database) and
 * bundles the workflow code once. The teardown stops the server; its guardian stops it too if jest dies.
 */
export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const runDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-test-'));
  // Tests never use a cluster from the developer's shell: always the embedded server.
  const { TEMPORAL_ADDRESS: _ignored, ...env } = process.env;
  const config = loadConfig({ ...env, QUELL_DATA_DIR: runDir });
  const report = (m: string) => process.stdout.write(`[test setup] ${m}\n`);
  const temporal = await provisionTemporal(config, {
    report,
    embeddedOverrides: {
      port: 0,
      headless: true,
      dbFile: null,
      logFile: path.join(runDir, 'temporal-server.log'),
      extraArgs: ['--sqlite-pragma', 'synchronous=OFF'],
    },
  });
  const bundle = await bundleWorkflows();
  const bundlePath = path.join(runDir, 'workflow-bundle.js');
  await fs.writeFile(bundlePath, bundle.code);
  process.env[TEST_ENV.address] = temporal.address;
  process.env[TEST_ENV.namespace] = temporal.namespace;
  process.env[TEST_ENV.bundle] = bundlePath;
  if (temporal.cli) process.env[TEST_ENV.cliPath] = temporal.cli.path;
  (globalThis as Record<string, unknown>).__QUELL_TEMPORAL__ = temporal;
  (globalThis as Record<string, unknown>).__QUELL_TEST_RUN_DIR__ = runDir;
  report(`Temporal dev server ready on ${temporal.address} in ${Date.now() - started} ms`);
}
