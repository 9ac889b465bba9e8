/**
 * Quell as deployed on a production-shaped Temporal: a throwaway PostgreSQL, Temporal Server on it (the same
 * release and dynamic config docker-compose.yml runs), the lab estate, one `quell api` process and N `quell worker`
 * processes, each its own OS process so a test can SIGKILL or restart any of them.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { startLabServer, type RunningLab } from '../../src/connectors/lab';
import { freePort } from '../../src/temporal/dev-server';
import type { RunningPostgres } from '../../src/temporal/postgres';
import type { RunningTemporalServer } from '../../src/temporal/postgres-server';
import { startThrowawayTemporal } from '../../src/temporal/postgres-temporal';
import { requireEnv } from '../support/env';
import { spawnApi, type ApiProcess } from '../support/quell-process';
import { testClient } from '../support/temporal';
import { killWorker, spawnWorker, type WorkerProcess } from '../support/worker-process';
import { PG_TEST_ENV } from './env';

export const NAMESPACE = 'default';
const token = (who: string) => `pg-${who}-${randomBytes(16).toString('hex')}`;

export const TOKENS = {
  ingest: token('ingest'),
  responder: token('responder'),
  alice: token('alice'),
  bob: token('bob'),
};

const IDENTITIES = {
  [TOKENS.ingest]: { subject: 'siem-prod', roles: ['ingest'] },
  [TOKENS.responder]: { subject: 'rita', roles: ['responder'] },
  [TOKENS.alice]: { subject: 'alice', roles: ['approver'] },
  [TOKENS.bob]: { subject: 'bob', roles: ['approver'] },
};

export interface ProductionStack {
  pg: RunningPostgres;
  temporal: RunningTemporalServer;
  address: string;
  lab: RunningLab;
  api: ApiProcess;
  apiUrl: string;
  workers: WorkerProcess[];
  taskQueue: string;
  dataDir: string;
  /** A client on the stack's Temporal, for what tests check beside the API. */
  client: Client;
  /** Starts one more `quell worker` (added to `workers`); `env` e.g. QUELL_WORKFLOW_BUNDLE for another build. */
  addWorker(env?: Record<string, string>): Promise<WorkerProcess>;
  /** SIGKILL: no drain, as a crashed host. */
  killWorker(w: WorkerProcess): Promise<void>;
  /** SIGTERM and wait for the drained exit. */
  stopWorker(w: WorkerProcess): Promise<number | null>;
  /** GET an API path as `tok`, answering the parsed JSON (throws on a non-2xx). */
  get<T>(apiPath: string, tok?: string): Promise<T>;
  stop(): Promise<void>;
}

const report = (m: string) => {
  if (process.env.QUELL_TEST_VERBOSE) process.stdout.write(`[stack] ${m}\n`);
};

export async function startProductionStack(opts: {
  workers: number;
  /** Default: the repository's playbooks. */
  playbooksDir?: string;
  apiEnv?: Record<string, string>;
}): Promise<ProductionStack> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-pg-'));
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await fs.rm(dataDir, { recursive: true, force: true });
  };
  try {
    const throwaway = await startThrowawayTemporal({
      serverDir: requireEnv(PG_TEST_ENV.serverDir),
      dir: dataDir,
      namespace: NAMESPACE,
      report,
    });
    cleanups.push(() => throwaway.stop());
    const { pg, server: temporal } = throwaway;
    const lab = await startLabServer({ port: 0 });
    cleanups.push(() => lab.stop());
    const client = await testClient({ address: temporal.address, namespace: NAMESPACE });
    cleanups.push(() => client.connection.close());
    const taskQueue = 'quell-incidents';
    const workers: WorkerProcess[] = [];
    cleanups.push(async () => {
      await Promise.all(workers.map((w) => killWorker(w)));
    });
    const addWorker = async (env?: Record<string, string>) => {
      const w = await spawnWorker({
        address: temporal.address,
        namespace: NAMESPACE,
        taskQueue,
        labUrl: lab.url,
        dataDir,
        client,
        ...(env ? { env } : {}),
      });
      workers.push(w);
      return w;
    };
    // One after another: three workers bundling at once would only fight over two cores.
    for (let i = 0; i < opts.workers; i++) await addWorker();
    const port = await freePort();
    const api = await spawnApi({
      address: temporal.address,
      namespace: NAMESPACE,
      port,
      taskQueue,
      playbooksDir: opts.playbooksDir ?? path.resolve(__dirname, '../../playbooks'),
      dataDir,
      tokens: IDENTITIES,
      env: { QUELL_INGEST_RATE_PER_SEC: '2000', QUELL_INGEST_RATE_BURST: '4000', ...opts.apiEnv },
    });
    cleanups.push(async () => {
      if (api.child.exitCode === null && api.child.signalCode === null) api.child.kill('SIGKILL');
      await api.exited;
    });
    const apiUrl = `http://127.0.0.1:${port}`;
    return {
      pg,
      temporal,
      address: temporal.address,
      lab,
      api,
      apiUrl,
      workers,
      taskQueue,
      dataDir,
      client,
      addWorker,
      killWorker: async (w) => {
        await killWorker(w);
        workers.splice(workers.indexOf(w), 1);
      },
      stopWorker: async (w) => {
        w.child.kill('SIGTERM');
        const code = await w.exited;
        workers.splice(workers.indexOf(w), 1);
        return code;
      },
      get: async <T>(apiPath: string, tok = TOKENS.responder): Promise<T> => {
        const res = await fetch(`${apiUrl}${apiPath}`, { headers: { Authorization: `Bearer ${tok}` } });
        if (!res.ok) throw new Error(`GET ${apiPath}: ${res.status} ${await res.text()}`);
        return (await res.json()) as T;
      },
      stop: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
