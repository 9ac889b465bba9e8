import { promises as fs } from 'node:fs';

export default async function globalTeardown(): Promise<void> {
  const runDir = (globalThis as Record<string, unknown>).__QUELL_TEST_RUN_DIR__ as string | undefined;
  if (runDir && !process.env.QUELL_TEST_KEEP_RUN_DIR) await fs.rm(runDir, { recursive: true, force: true });
}
