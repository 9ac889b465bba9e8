import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { loadConfig } from '../../src/config';
import { QUELL_SEARCH_ATTRIBUTES } from '../../src/domain/search-attributes';
import { freePort } from '../../src/temporal/dev-server';
import { startThrowawayPostgres, type RunningPostgres } from '../../src/temporal/postgres';
import { locateTemporalServer, serverCacheDir } from '../../src/temporal/server-binary';
import { findProcesses } from '../support/processes';
import { spawnServe, type ServedTemporal } from '../support/quell-process';

/**
 * `quell temporal serve` as a platform engineer runs it: a child process against a PostgreSQL of its own (a
 * throwaway cluster here), checked through the Temporal API a worker would use, stopped by a signal.
 */

const root = path.resolve(__dirname, '..', '..');
const IndexedValueType = temporal.api.enums.v1.IndexedValueType;
const EXPECTED_TYPE: Record<string, temporal.api.enums.v1.IndexedValueType> = {
  KEYWORD: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  KEYWORD_LIST: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

let pgDir: string;
let pg: RunningPostgres;
const dataDirs: string[] = [];

beforeAll(async () => {
  // A fresh clone builds the server here (minutes) rather than inside the first serve's banner timeout.
  await locateTemporalServer({
    dir: serverCacheDir(loadConfig({}).temporalServer.cacheDir),
    report: (m) => process.stdout.write(`[temporal-serve] ${m}\n`),
  });
  pgDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-pg-'));
  pg = await startThrowawayPostgres({ dir: pgDir, report: () => undefined });
}, 20 * 60_000);

afterAll(async () => {
  await pg?.stop();
  await fs.rm(pgDir, { recursive: true, force: true });
  for (const dir of dataDirs) await fs.rm(dir, { recursive: true, force: true });
});

async function dataDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-serve-'));
  dataDirs.push(dir);
  return dir;
}

/** Serve processes still running for a data dir (the guardian and the server both carry `--root <dir>`). */
const serverProcesses = (dir: string) => findProcesses('--root', path.join(dir, 'temporal-server'));

async function stop(served: ServedTemporal, signal: NodeJS.Signals) {
  served.child.kill(signal);
  return served.exited;
}

describe('quell temporal serve', () => {
  it('serves the default namespace with Quell search attributes on PostgreSQL, and stops on SIGTERM', async () => {
    const dir = await dataDir();
    const port = await freePort();
    // Trust authentication ignores the password; it is here to show it never reaches the banner.
    const url = `postgres://${pg.user}:s3cret-pw@${pg.host}:${pg.port}`;
    const served = await spawnServe({ postgresUrl: url, dataDir: dir, port });
    let exit: Awaited<ServedTemporal['exited']> | undefined;
    try {
      const banner = served.output();
      expect(served.address).toBe(`127.0.0.1:${port}`);
      expect(banner).toContain('Temporal Server 1.29.1 is running on PostgreSQL.');
      expect(banner).toContain(`PostgreSQL:  ${pg.host}:${pg.port} (user ${pg.user};`);
      expect(banner).toContain(`Server log:  ${path.join(dir, 'temporal-server', 'temporal-server.log')}`);
      expect(banner).toContain(`TEMPORAL_ADDRESS=127.0.0.1:${port} quell worker`);
      expect(banner).toContain(`TEMPORAL_ADDRESS=127.0.0.1:${port} quell api`);
      expect(banner).toContain('Created namespace default.');
      expect(banner).not.toContain('s3cret-pw');
      // The config carries the password: readable by its owner only.
      const config = path.join(dir, 'temporal-server', 'config', 'development.yaml');
      expect((await fs.stat(config)).mode & 0o777).toBe(0o600);

      const connection = await Connection.connect({ address: served.address });
      try {
        const ns = await connection.workflowService.describeNamespace({ namespace: 'default' });
        expect(ns.namespaceInfo?.name).toBe('default');
        expect(String(ns.config?.workflowExecutionRetentionTtl?.seconds)).toBe(String(30 * 86_400));
        const listed = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
        const custom = listed.customAttributes ?? {};
        for (const key of QUELL_SEARCH_ATTRIBUTES) {
          expect([key.name, custom[key.name]]).toEqual([key.name, EXPECTED_TYPE[key.type]]);
        }
      } finally {
        await connection.close();
      }
      expect(await serverProcesses(dir)).not.toEqual([]);
    } finally {
      exit = await stop(served, 'SIGTERM');
    }
    expect(exit).toEqual({ code: 0, signal: null });
    expect(served.output()).toContain('SIGTERM received: stopping Temporal Server...');
    expect(served.output()).toContain('stopped cleanly.');
    expect(await serverProcesses(dir)).toEqual([]);
  });

  it('serves again on the same database: the schema, namespace and attributes are kept', async () => {
    const dir = await dataDir();
    const served = await spawnServe({ postgresUrl: pg.url, dataDir: dir, port: await freePort() });
    try {
      // The first test created everything; this run only checks it.
      expect(served.output()).not.toContain('Created namespace');
      expect(served.output()).not.toContain('Registered search attributes');
      expect(served.output()).toContain('Temporal schema is up to date (server 1.29.1)');
      const connection = await Connection.connect({ address: served.address });
      try {
        const listed = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
        expect(Object.keys(listed.customAttributes ?? {})).toEqual(
          expect.arrayContaining(QUELL_SEARCH_ATTRIBUTES.map((k) => k.name)),
        );
      } finally {
        await connection.close();
      }
    } finally {
      await stop(served, 'SIGINT');
    }
    expect((await served.exited).code).toBe(0);
    expect(await serverProcesses(dir)).toEqual([]);
  });

  it('exits 1 and says so when the server dies on its own', async () => {
    const dir = await dataDir();
    const served = await spawnServe({ postgresUrl: pg.url, dataDir: dir, port: await freePort() });
    // The server itself, not its guardian (whose command line carries the same arguments after `node`).
    const pids = [];
    for (const pid of await serverProcesses(dir)) {
      const argv0 = (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0')[0];
      if (argv0?.endsWith('temporal-server')) pids.push(pid);
    }
    expect(pids).toHaveLength(1);
    process.kill(pids[0]!, 'SIGKILL');
    expect(await served.exited).toEqual({ code: 1, signal: null });
    expect(served.output()).toContain('Temporal Server exited on its own; see ');
    expect(await serverProcesses(dir)).toEqual([]);
  });

  it('refuses a frontend port that is already taken, saying so, and leaves no server behind', async () => {
    const dir = await dataDir();
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const run = await runServe({
        QUELL_TEMPORAL_POSTGRES_URL: pg.url,
        QUELL_DATA_DIR: dir,
        QUELL_TEMPORAL_PORT: String(port),
      });
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`quell: Cannot listen on 127.0.0.1:${port}: the port is in use`);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
    expect(await serverProcesses(dir)).toEqual([]);
  });

  it('without QUELL_TEMPORAL_POSTGRES_URL, exits 2 at once with one line naming it and an example', async () => {
    const started = Date.now();
    const run = await runServe({ QUELL_DATA_DIR: await dataDir() });
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toEqual([
      'quell: quell temporal serve needs QUELL_TEMPORAL_POSTGRES_URL, the PostgreSQL Temporal stores its data ' +
        'in, e.g. QUELL_TEMPORAL_POSTGRES_URL=postgres://temporal:secret@db.internal:5432',
    ]);
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});

/** `quell temporal serve` expected to fail: its exit code and stderr. */
function runServe(extra: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const { TEMPORAL_ADDRESS: _a, QUELL_TEMPORAL_POSTGRES_URL: _b, ...env } = process.env;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(root, 'bin', 'quell.js'), 'temporal', 'serve'], {
      cwd: root,
      env: { ...env, ...extra },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}
