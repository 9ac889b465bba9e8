import type { ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import type { ProgressReporter } from './cli-binary';
import { spawnGuarded } from './guarded-process';
import { UserFixableError } from '../errors';

/** Thrown when the embedded dev server does not start or does not answer in time. */
export class DevServerStartError extends UserFixableError {
  override readonly name = 'DevServerStartError';
}

export interface DevServerOptions {
  binary: string;
  ip: string;
  /** gRPC port; 0 picks a free one. */
  port: number;
  /** UI port; 0 picks a free one. Ignored when headless. */
  uiPort: number;
  headless: boolean;
  namespace: string;
  /** SQLite file; undefined keeps the server in memory (tests). */
  dbFile?: string;
  /** `Name=Type` pairs registered at start. */
  searchAttributes: string[];
  logFile: string;
  logLevel: string;
  /** Process whose death stops the server (default: this process). */
  ownerPid?: number;
  /** Extra flags (dynamic config values, pragmas). */
  extraArgs?: string[];
  startTimeoutMs?: number;
  report: ProgressReporter;
}

export interface RunningDevServer {
  address: string;
  uiUrl?: string;
  pid: number;
  logFile: string;
  /** Stops the server and waits for it to exit. Safe to call twice. */
  stop(): Promise<void>;
}

/** Finds a free TCP port on the given interface. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

async function portInUse(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function readTail(file: string, lines = 25): Promise<string> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-lines).join('\n');
}

/** Waits until the frontend answers a namespace describe, or the child dies, or time runs out. */
async function waitUntilServing(
  address: string,
  namespace: string,
  child: ChildProcess,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new DevServerStartError(
        `the dev server exited early (code ${child.exitCode ?? child.signalCode})`,
      );
    }
    let connection: Connection | undefined;
    try {
      connection = await Connection.connect({ address, connectTimeout: 2_000 });
      await connection.workflowService.describeNamespace({ namespace });
      return;
    } catch (err) {
      lastError = err;
    } finally {
      await connection?.close().catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new DevServerStartError(
    `the dev server did not answer on ${address} within ${timeoutMs} ms (${String(lastError)})`,
  );
}

/**
 * Dynamic config Quell relies on, for the embedded server (the same keys are in docker-compose's
 * deploy/temporal/dynamicconfig/development-sql.yaml).
 */
export const TEMPORAL_DYNAMIC_CONFIG: readonly (readonly [string, string])[] = [
  ['frontend.WorkerHeartbeatsEnabled', 'true'],
  ['frontend.ListWorkersEnabled', 'true'],
];

/**
 * Starts `temporal server start-dev` under a guardian process that stops it when this process exits,
 * crashes, or is killed, and waits until it serves the namespace.
 * Thrown: {@link DevServerStartError} with the server's last log lines when it does not come up.
 */
export async function startDevServer(opts: DevServerOptions): Promise<RunningDevServer> {
  const port = opts.port === 0 ? await freePort(opts.ip) : opts.port;
  if (await portInUse(opts.ip, port)) {
    throw new DevServerStartError(
      `port ${opts.ip}:${port} is already in use. If a Temporal server already runs there, point Quell at it ` +
        `with TEMPORAL_ADDRESS=${opts.ip}:${port}; otherwise set QUELL_TEMPORAL_PORT to a free port.`,
    );
  }
  const uiPort = opts.headless ? undefined : opts.uiPort === 0 ? await freePort(opts.ip) : opts.uiPort;
  const args = [
    'server',
    'start-dev',
    '--ip',
    opts.ip,
    '--port',
    String(port),
    '--namespace',
    opts.namespace,
    '--log-level',
    opts.logLevel,
    '--log-format',
    'json',
    ...(opts.dbFile ? ['--db-filename', opts.dbFile] : []),
    ...(uiPort === undefined ? ['--headless'] : ['--ui-port', String(uiPort)]),
    ...opts.searchAttributes.flatMap((sa) => ['--search-attribute', sa]),
    // Worker heartbeats (and listing them): how the API tells within seconds that no worker is serving.
    ...TEMPORAL_DYNAMIC_CONFIG.flatMap(([key, value]) => ['--dynamic-config-value', `${key}=${value}`]),
    ...(opts.extraArgs ?? []),
  ];
  if (opts.dbFile) await fs.mkdir(path.dirname(opts.dbFile), { recursive: true });
  await fs.mkdir(path.dirname(opts.logFile), { recursive: true });
  const server = spawnGuarded({
    binary: opts.binary,
    args,
    logFile: opts.logFile,
    ...(opts.ownerPid !== undefined ? { ownerPid: opts.ownerPid } : {}),
  });
  const { child, exited } = server;
  const address = `${opts.ip}:${port}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return exited;
    stopped = true;
    await server.stop(15_000);
  };
  opts.report(
    `Starting the Temporal dev server on ${address} (${opts.dbFile ? `database ${opts.dbFile}` : 'in memory'}; ` +
      `log ${opts.logFile})...`,
  );
  try {
    await waitUntilServing(address, opts.namespace, child, opts.startTimeoutMs ?? 60_000);
  } catch (err) {
    await stop();
    const tail = await readTail(opts.logFile);
    throw new DevServerStartError(
      `The Temporal dev server did not start: ${(err as Error).message}.\nLast lines of ${opts.logFile}:\n${tail}`,
    );
  }
  return {
    address,
    ...(uiPort === undefined ? {} : { uiUrl: `http://${opts.ip}:${uiPort}` }),
    pid: child.pid ?? -1,
    logFile: opts.logFile,
    stop,
  };
}
