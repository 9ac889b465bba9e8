import { promises as fs } from 'node:fs';
import type { ProvisionedTemporal } from '../../src/temporal/provision';

export default async function globalTeardown(): Promise<void> {
  const g = globalThis as Record<string, unknown>;
  const temporal = g.__QUELL_TEMPORAL__ as ProvisionedTemporal | undefined;
  await temporal?.stop();
  const runDir = g.__QUELL_TEST_RUN_DIR__ as string | undefined;
  if (runDir && !process.env.QUELL_TEST_KEEP_RUN_DIR) await fs.rm(runDir, { recursive: true, force: true });
}
