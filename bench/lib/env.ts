/**
 * One benchmark environment: ONE Temporal server (the embedded dev server, or with `--temporal postgres` Temporal
 * Server on a throwaway PostgreSQL), the lab estate, Quell (worker and HTTP API,
 * started by `startQuell` as `quell start` does) and the floor (a bare worker and a bare client on their own
 * task queue; the connector floors on another, on a second worker configured the same way), all on loopback,
 * all against the same server. Probes record, on this process's monotonic clock, when the lab applies a
 * containment, when an isolate activity (Quell's or a connector floor's) reaches its connector, and when the
 * bare floor's no-op activities run.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { bundleWorkflowCode, Worker, type NativeConnection } from '@temporalio/worker';
import pino from 'pino';
import { loadConfig } from '../../src/config';
import { createConnectors } from '../../src/connectors/config';
import type { Connectors } from '../../src/connectors/types';
import { REDACTED_PATHS, type Logger } from '../../src/logging';
import { loadPlaybooks, type PlaybookRegistry } from '../../src/playbooks/loader';
import { startQuell, type RunningQuell } from '../../src/runtime';
import { connectClient, connectWorker } from '../../src/temporal/connection';
import { bundleWorkflows, workerOptionsOf } from '../../src/worker';
import { createFloorConnectorActivities } from '../floor/connector-activities';
import type { FloorActivities } from '../floor/contract';
import { findPostgres } from '../../src/temporal/postgres';
import { startThrowawayTemporal, type ThrowawayTemporal } from '../../src/temporal/postgres-temporal';
import { serverCacheDir } from '../../src/temporal/server-binary';
import { findPostgresTemporalPids, findTemporalServerPid, threadNames } from './cpu';
import { startLabProcess, type LabProcess } from './lab-process';
import { Marks, observe } from './marks';
import { say } from './progress';

export const BENCH_DIR = path.resolve(__dirname, '..');
export const ROOT = path.resolve(BENCH_DIR, '..');
export const PLAYBOOKS_DIR = path.join(BENCH_DIR, 'playbooks');

export type DbMode = 'file' | 'memory';
/** `dev`: the embedded dev server (SQLite); `postgres`: Temporal Server on a throwaway PostgreSQL. */
export type TemporalMode = 'dev' | 'postgres';

export interface Probes {
  /** Lab: a host's containment took effect (the lab store changed its state). */
  contained: Marks;
  /** Quell or a connector floor: the isolate activity called the EDR connector for a host. */
  isolateCalled: Marks;
  /**
   * Quell or the investigation floor: evidence stored for a host (the last activity before an incident parks
   * in eradication).
   */
  evidenceStored: Marks;
  /** A connector floor: its identification notice was delivered, by incident (workflow) ID. */
  floorNoticeSent: Marks;
  /** Floor: its no-op isolate activity ran for a host. */
  floorIsolate: Marks;
  /** Floor: its no-op notify activity ran for a host. */
  floorNotify: Marks;
  /** Lab: notices received per route (webhook name). */
  messages: Map<string, number>;
}

export interface BenchEnv {
  runDir: string;
  db: DbMode;
  /** Random per run: every host, alert and workflow ID of the run carries it. */
  tag: string;
  /** The lab estate's process (its CPU is the lab's, not Quell's). */
  lab: LabProcess;
  quell: RunningQuell;
  apiUrl: string;
  ingestToken: string;
  quellTaskQueue: string;
  playbooks: PlaybookRegistry;
  /** The prebuilt Quell workflow bundle (the worker, replay and the memory worker all use it). */
  quellBundle: { code: string; path: string };
  /** A client of its own: the floor's, and for bench bookkeeping (counts, the memory incidents). */
  client: Client;
  floorTaskQueue: string;
  /** The connector floors' task queue (`floorIncidentWithConnectors`, `floorIncidentWithInvestigation`). */
  floorConnectorsTaskQueue: string;
  /**
   * Stops the connector floors' worker (idempotent): once throughput is done, so its shutdown (evicting every
   * parked workflow from its cache) is neither in the teardown nor beside a later benchmark.
   */
  stopFloorConnectors(): Promise<void>;
  /** The prebuilt floor workflow bundle (the floor worker here and the memory benchmark's bare worker). */
  floorBundle: { code: string; path: string };
  probes: Probes;
  temporalVersion: string;
  temporal: TemporalMode;
  /** The dev server's process (dev mode), for the banner. */
  temporalServerPid?: number;
  /** The processes whose CPU counts as Temporal's (the server; with PostgreSQL also the database's). */
  serverPids(): Promise<number[]>;
  /** The SDK's workflow threads in this process (Quell's worker and the floors'), for CPU accounting. */
  workflowThreadIds: ReadonlySet<string>;
  stop(): Promise<void>;
}

export async function startBenchEnv(opts: { db: DbMode; temporal: TemporalMode }): Promise<BenchEnv> {
  const runDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-bench-'));
  const tag = randomBytes(3).toString('hex');
  const cleanups: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const fn of cleanups.splice(0).reverse()) {
      await fn().catch((err: unknown) => say(`cleanup: ${String(err)}`));
    }
  };
  cleanups.push(() => fs.rm(runDir, { recursive: true, force: true }));
  try {
    const probes: Probes = {
      contained: new Marks(),
      isolateCalled: new Marks(),
      evidenceStored: new Marks(),
      floorNoticeSent: new Marks(),
      floorIsolate: new Marks(),
      floorNotify: new Marks(),
      messages: new Map(),
    };

    say('Bundling the Quell workflow code and the floor workflow...');
    const quellCode = (await bundleWorkflows()).code;
    const quellBundlePath = path.join(runDir, 'quell-workflow-bundle.js');
    await fs.writeFile(quellBundlePath, quellCode);
    const floorCode = (
      await bundleWorkflowCode({
        workflowsPath: path.join(BENCH_DIR, 'floor', 'workflows.ts'),
        logger: { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: noop },
      })
    ).code;
    const floorBundlePath = path.join(runDir, 'floor-workflow-bundle.js');
    await fs.writeFile(floorBundlePath, floorCode);

    // The lab in memory (no state file) in a process of its own, so its request handling is not counted in
    // Quell's CPU; it reports each containment's moment rather than leaving it to the ledger's milliseconds.
    const lab = await startLabProcess({
      contained: (host, at) => probes.contained.mark(host, at),
      message: (channel) => probes.messages.set(channel, (probes.messages.get(channel) ?? 0) + 1),
    });
    cleanups.push(() => lab.stop());

    const logFile = path.join(runDir, 'quell.log');
    // Quell logs at its production default level (info: an access line per request, phase changes), to a
    // file, so logging costs what it costs in production without flooding the terminal.
    const logger: Logger = pino(
      {
        name: 'quell',
        level: 'info',
        redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
        timestamp: pino.stdTimeFunctions.isoTime,
      },
      pino.destination({ dest: logFile, sync: false }),
    );
    // Built twice, once for Quell and once for the connector floors, so each has its own HTTP agents, OAuth
    // token and per-host locks, as two deployments would.
    const benchConnectors = () =>
      probeConnectors(
        createConnectors(
          { QUELL_HTTP_TIMEOUT_MS: '30000' },
          { dataDir: runDir, labUrl: lab.url, logger: logger.child({ component: 'connectors' }) },
        ),
        probes,
      );
    const connectors = benchConnectors();

    const ingestToken = `bench-ingest-${randomBytes(16).toString('hex')}`;
    // The API's bearer tokens come from the environment, as in production. The ingest rate limit is raised
    // far above what the bench sends (it is still evaluated on every request): the default 50/s per caller
    // would measure the limiter, not Quell.
    process.env.QUELL_API_TOKENS = JSON.stringify({
      [ingestToken]: { subject: 'bench-siem', roles: ['ingest'] },
    });
    process.env.QUELL_INGEST_RATE_PER_SEC = '1000000';
    process.env.QUELL_INGEST_RATE_BURST = '1000000';
    const quellTaskQueue = `bench-quell-${tag}`;
    const { TEMPORAL_ADDRESS: _ignored, ...env } = process.env;
    const postgres = opts.temporal === 'postgres' ? await startPostgresTemporal(env, runDir) : undefined;
    if (postgres) cleanups.push(() => postgres.stop());
    const config = loadConfig({
      ...(postgres ? { TEMPORAL_ADDRESS: postgres.server.address, TEMPORAL_NAMESPACE: 'default' } : {}),
      ...env,
      NODE_ENV: 'development',
      QUELL_DATA_DIR: runDir,
      QUELL_API_HOST: '127.0.0.1',
      QUELL_API_PORT: '0',
      QUELL_TASK_QUEUE: quellTaskQueue,
      QUELL_PLAYBOOKS_DIR: PLAYBOOKS_DIR,
      QUELL_WORKFLOW_BUNDLE: quellBundlePath,
      QUELL_SHUTDOWN_GRACE_MS: '2000',
    });
    say(
      postgres
        ? `Starting the Quell worker and API against Temporal Server ${postgres.binaries.version} on PostgreSQL...`
        : `Starting Temporal (embedded dev server, ${opts.db === 'file' ? 'SQLite file' : 'in-memory SQLite'}, ` +
            'synchronous=OFF), the Quell worker and API...',
    );
    const threadsBefore = await threadNames();
    const quell = await startQuell({
      config,
      logger,
      report: (m) => say(`  ${m}`),
      components: { worker: true, api: true },
      connectors,
      provision: {
        embeddedOverrides: {
          port: 0,
          headless: true,
          dbFile: opts.db === 'file' ? path.join(runDir, 'temporal.sqlite') : null,
          logFile: path.join(runDir, 'temporal-server.log'),
          extraArgs: ['--sqlite-pragma', 'synchronous=OFF'],
        },
      },
    });
    cleanups.push(() => quell.stop());
    const playbooks = await loadPlaybooks(PLAYBOOKS_DIR);

    const client = await connectClient(quell.temporal);
    cleanups.push(() => client.connection.close());
    const floorTaskQueue = `bench-floor-${tag}`;
    const floorConnection: NativeConnection = await connectWorker(quell.temporal);
    cleanups.push(() => floorConnection.close());
    const floorActivities: FloorActivities = {
      notify: async (host) => probes.floorNotify.mark(host),
      isolate: async (host) => probes.floorIsolate.mark(host),
    };
    // The same worker settings as Quell's (QUELL_WORKER_* from the bench's environment, else the SDK's
    // defaults): only the code differs.
    const floorWorker = await Worker.create({
      connection: floorConnection,
      namespace: quell.temporal.namespace,
      taskQueue: floorTaskQueue,
      workflowBundle: { code: floorCode },
      activities: floorActivities,
      shutdownGraceTime: 2_000,
      ...workerOptionsOf(config.workerTuning),
    });
    const floorRunning = floorWorker.run();
    cleanups.push(async () => {
      if (floorWorker.getState() === 'RUNNING') floorWorker.shutdown();
      await floorRunning.catch(() => undefined);
    });
    const floorConnectorsTaskQueue = `bench-floorwork-${tag}`;
    const floorConnectorsConnection: NativeConnection = await connectWorker(quell.temporal);
    cleanups.push(() => floorConnectorsConnection.close());
    // The bare floor's worker options exactly; only the activities differ.
    const floorConnectorsWorker = await Worker.create({
      connection: floorConnectorsConnection,
      namespace: quell.temporal.namespace,
      taskQueue: floorConnectorsTaskQueue,
      workflowBundle: { code: floorCode },
      activities: createFloorConnectorActivities({
        connectors: benchConnectors(),
        noticeSent: (incidentId) => probes.floorNoticeSent.mark(incidentId),
      }),
      shutdownGraceTime: 2_000,
      ...workerOptionsOf(config.workerTuning),
    });
    const floorConnectorsRunning = floorConnectorsWorker.run();
    const stopFloorConnectors = async () => {
      if (floorConnectorsWorker.getState() === 'RUNNING') floorConnectorsWorker.shutdown();
      await floorConnectorsRunning.catch(() => undefined);
    };
    cleanups.push(stopFloorConnectors);

    const workflowThreadIds = new Set(
      [...(await threadNames())]
        .filter(([tid, name]) => name === 'node' && !threadsBefore.has(tid))
        .map(([tid]) => tid),
    );
    const temporalServerPid = postgres
      ? undefined
      : await findTemporalServerPid(quell.temporal.address.split(':').pop() ?? '');
    const serverPids = async () =>
      postgres
        ? findPostgresTemporalPids(path.join(runDir, 'temporal-pg', 'temporal'), postgres.pg.dataDir)
        : temporalServerPid
          ? [temporalServerPid]
          : [];
    return {
      runDir,
      db: opts.db,
      tag,
      lab,
      quell,
      apiUrl: quell.apiUrl!,
      ingestToken,
      quellTaskQueue,
      playbooks,
      quellBundle: { code: quellCode, path: quellBundlePath },
      client,
      floorTaskQueue,
      floorConnectorsTaskQueue,
      stopFloorConnectors,
      floorBundle: { code: floorCode, path: floorBundlePath },
      probes,
      temporalVersion: postgres
        ? `Temporal Server ${postgres.binaries.version} on ${await postgresVersion()}`
        : (quell.temporal.cli?.version ?? quell.temporal.kind),
      temporal: opts.temporal,
      ...(temporalServerPid ? { temporalServerPid } : {}),
      serverPids,
      workflowThreadIds,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function noop(): void {}

/** Temporal Server on a throwaway PostgreSQL in the run directory (the server built into the project cache). */
async function startPostgresTemporal(env: NodeJS.ProcessEnv, runDir: string): Promise<ThrowawayTemporal> {
  const target = loadConfig({ ...env, QUELL_DATA_DIR: runDir }).temporal;
  if (target.kind !== 'embedded') throw new Error('unreachable: TEMPORAL_ADDRESS is not passed on');
  say('Starting a throwaway PostgreSQL and Temporal Server on it (built with Go on the first run)...');
  return startThrowawayTemporal({
    serverDir: serverCacheDir(target.cacheDir),
    dir: path.join(runDir, 'temporal-pg'),
    namespace: 'default',
    report: (m) => say(`  ${m}`),
  });
}

async function postgresVersion(): Promise<string> {
  return (
    (await findPostgres().catch(() => undefined))?.version.replace(
      /^postgres \(PostgreSQL\) /,
      'PostgreSQL ',
    ) ?? 'PostgreSQL'
  );
}

/** Quell's connectors, unchanged, with the isolate call and the evidence write marked. */
function probeConnectors(c: Connectors, probes: Probes): Connectors {
  return {
    ...c,
    edr: observe(c.edr, 'isolateHost', { before: (host) => probes.isolateCalled.mark(host) }),
    evidence: observe(c.evidence, 'put', { after: (req) => probes.evidenceStored.mark(req.subject) }),
  };
}
