import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { waitFor } from './processes';

const root = path.resolve(__dirname, '..', '..');

export interface WorkerProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/**
 * Runs `quell worker` as its own process (so a test can SIGKILL it) against the run's dev server, with the
 * lab estate at `labUrl`, and waits until it polls the task queue.
 */
export async function spawnWorker(opts: {
  address: string;
  namespace: string;
  taskQueue: string;
  labUrl: string;
  dataDir: string;
  client?: Client;
  env?: Record<string, string>;
}): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [path.join(root, 'bin', 'quell.js'), 'worker'], {
    cwd: root,
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: opts.address,
      TEMPORAL_NAMESPACE: opts.namespace,
      QUELL_TASK_QUEUE: opts.taskQueue,
      QUELL_LAB_URL: opts.labUrl,
      QUELL_DATA_DIR: opts.dataDir,
      QUELL_LOG_LEVEL: 'warn',
      QUELL_SHUTDOWN_GRACE_MS: '1000',
      QUELL_WORKFLOW_BUNDLE: process.env.QUELL_TEST_WORKFLOW_BUNDLE ?? '',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await waitFor(
    async () => output.includes('Quell is running') || child.exitCode !== null,
    60_000,
    'quell worker',
  );
  if (child.exitCode !== null) throw new Error(`quell worker exited early:\n${output}`);
  return { child, output: () => output, exited };
}

/** Stops a worker process with SIGKILL: no drain, no goodbye, exactly like a crashed host. */
export async function killWorker(w: WorkerProcess): Promise<void> {
  if (w.child.exitCode === null) w.child.kill('SIGKILL');
  await w.exited;
}
