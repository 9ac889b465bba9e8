/**
 * A throwaway PostgreSQL for the PostgreSQL-backed Temporal server in tests and benchmarks: `initdb` into a
 * temporary directory, `postgres` on a free loopback port with trust authentication, run under the same
 * guardian as the dev server (it stops when its owner dies). PostgreSQL refuses to run as root, so as root it
 * runs as the `postgres` user (what Debian's package creates) through `setpriv`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { UserFixableError } from '../errors';
import { findOnPath, isExecutable, type ProgressReporter } from './go-build';
import { freePort } from './dev-server';
import { spawnGuarded, type GuardedProcess } from './guarded-process';

/** Thrown when PostgreSQL is not installed or does not start; the message says what to do. */
export class PostgresUnavailableError extends UserFixableError {
  override readonly name = 'PostgresUnavailableError';
}

export interface PostgresBinaries {
  initdb: string;
  postgres: string;
  version: string;
}

/** `initdb` and `postgres`: on PATH, else the newest Debian `/usr/lib/postgresql/<major>/bin`. */
export async function findPostgres(): Promise<PostgresBinaries> {
  const dirs: string[] = [];
  const onPath = await findOnPath('initdb');
  if (onPath) dirs.push(path.dirname(await fs.realpath(onPath)));
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const majors = (await fs.readdir(debian))
      .filter((d) => /^\d+$/.test(d))
      .sort((a, b) => Number(b) - Number(a));
    dirs.push(...majors.map((m) => path.join(debian, m, 'bin')));
  }
  for (const dir of dirs) {
    const initdb = path.join(dir, 'initdb');
    const postgres = path.join(dir, 'postgres');
    if ((await isExecutable(initdb)) && (await isExecutable(postgres))) {
      const version = await output(postgres, ['--version']).catch(() => 'postgres (unknown version)');
      return { initdb, postgres, version: version.trim() };
    }
  }
  throw new PostgresUnavailableError(
    'PostgreSQL is not installed (no initdb on PATH or in /usr/lib/postgresql/*/bin): install it, e.g. ' +
      '`apt-get install postgresql`, or give Quell a PostgreSQL with QUELL_TEMPORAL_POSTGRES_URL.',
  );
}

function output(binary: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.stderr.on('data', (d: Buffer) => (text += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(text) : reject(new Error(`${binary} exited ${code}: ${text}`)),
    );
  });
}

const asRoot = () => process.getuid?.() === 0;

/** As root, the command line that runs `binary` as the postgres user (setpriv execs it: signals reach it). */
function asPostgresUser(binary: string, args: string[]): [string, string[]] {
  if (!asRoot()) return [binary, args];
  return ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', binary, ...args]];
}

/**
 * The postgres user must reach `dir`: temporary directories made by root are 0700, so each ancestor under the
 * temporary directory gets search permission for others (traverse only: no listing, no reading).
 */
async function letPostgresTraverse(dir: string): Promise<void> {
  const tmp = await fs.realpath(os.tmpdir());
  let current = path.dirname(await fs.realpath(dir));
  while (current.startsWith(`${tmp}${path.sep}`)) {
    const { mode } = await fs.stat(current);
    if ((mode & 0o001) === 0) await fs.chmod(current, (mode & 0o7777) | 0o001);
    current = path.dirname(current);
  }
}

export interface RunningPostgres {
  host: string;
  port: number;
  user: string;
  /** `postgres://temporal@127.0.0.1:<port>/` */
  url: string;
  dataDir: string;
  logFile: string;
  /** Stops the server (fast shutdown: open sessions are cut). Safe to call twice. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data directory (after `stop`). */
  start(): Promise<void>;
}

async function waitForPort(
  host: string,
  port: number,
  child: ChildProcess,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error('postgres exited early');
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host, port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`postgres did not listen on ${host}:${port} within ${timeoutMs} ms`);
}

/**
 * Creates a cluster in `dir` (user `temporal`, trust authentication on loopback) and starts it on a free port.
 * Thrown: {@link PostgresUnavailableError} when PostgreSQL is missing or does not start.
 */
export async function startThrowawayPostgres(opts: {
  dir: string;
  user?: string;
  port?: number;
  ownerPid?: number;
  report: ProgressReporter;
}): Promise<RunningPostgres> {
  const bin = await findPostgres();
  const user = opts.user ?? 'temporal';
  const dataDir = path.join(opts.dir, 'data');
  const socketDir = path.join(opts.dir, 'run');
  const logFile = path.join(opts.dir, 'postgres.log');
  await fs.mkdir(opts.dir, { recursive: true });
  await fs.mkdir(socketDir, { recursive: true });
  if (asRoot()) {
    await output('chown', ['-R', 'postgres:postgres', opts.dir]);
    await letPostgresTraverse(opts.dir);
  }
  opts.report(`Creating a throwaway PostgreSQL cluster in ${dataDir} (${bin.version})...`);
  const [initCmd, initArgs] = asPostgresUser(bin.initdb, [
    '-D',
    dataDir,
    '-U',
    user,
    '--auth=trust',
    '--encoding=UTF8',
    '--no-instructions',
  ]);
  try {
    await output(initCmd, initArgs);
  } catch (err) {
    throw new PostgresUnavailableError(`initdb failed: ${(err as Error).message}`);
  }
  const port = opts.port ?? (await freePort());
  const host = '127.0.0.1';
  let running: GuardedProcess | undefined;

  const start = async () => {
    const [cmd, args] = asPostgresUser(bin.postgres, [
      '-D',
      dataDir,
      '-p',
      String(port),
      '-k',
      socketDir,
      '-c',
      `listen_addresses=${host}`,
      // Temporal's services hold pools of connections (maxConns 20 per store per service).
      '-c',
      'max_connections=300',
      // Throwaway data: durability on power loss is not wanted; speed is.
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
    ]);
    // postgres' fast shutdown is SIGINT (SIGTERM waits for every session to end).
    const c = spawnGuarded({ binary: cmd, args, logFile, ownerPid: opts.ownerPid, stopSignal: 'SIGINT' });
    running = c;
    try {
      await waitForPort(host, port, c.child, 30_000);
    } catch (err) {
      const tail = (await fs.readFile(logFile, 'utf8').catch(() => '')).split('\n').slice(-15).join('\n');
      throw new PostgresUnavailableError(`PostgreSQL did not start: ${(err as Error).message}\n${tail}`);
    }
  };
  const stop = async () => {
    const c = running;
    running = undefined;
    await c?.stop(20_000);
  };
  await start();
  opts.report(`PostgreSQL listening on ${host}:${port}`);
  return { host, port, user, url: `postgres://${user}@${host}:${port}/`, dataDir, logFile, stop, start };
}
