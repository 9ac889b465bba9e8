/**
 * Temporal Server on PostgreSQL, as platform engineers run it (what docker-compose.yml runs in containers):
 * the schema applied with the server's own SQL tool and schema files, the config written from the module's
 * sample `development-postgres12.yaml` (ports, database address, Quell's dynamic config), the server started
 * under the guardian, then the namespace and Quell's search attributes created through the operator API.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import Long from 'long';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import YAML from 'yaml';
import { UserFixableError } from '../errors';
import { QUELL_SEARCH_ATTRIBUTES } from '../domain/search-attributes';
import { projectRoot } from '../config';
import { freePort } from './dev-server';
import { spawnGuarded, type GuardedProcess } from './guarded-process';
import type { ProgressReporter } from './go-build';
import type { TemporalServerBinaries } from './server-binary';

const execFileAsync = promisify(execFile);

/** Thrown when the schema cannot be applied or the server does not come up; carries the log's last lines. */
export class TemporalServerStartError extends UserFixableError {
  override readonly name = 'TemporalServerStartError';
}

/** Where Temporal's two databases live. */
export interface PostgresTarget {
  host: string;
  port: number;
  user: string;
  password?: string;
  /** Default `temporal` and `temporal_visibility` (as in docker-compose.yml). */
  databases?: { main: string; visibility: string };
}

/** The dynamic config docker-compose.yml mounts: the PostgreSQL-backed server in tests runs the same file. */
export const SQL_DYNAMIC_CONFIG = path.join(
  projectRoot(),
  'deploy',
  'temporal',
  'dynamicconfig',
  'development-sql.yaml',
);

/**
 * Parses `postgres://user[:password]@host[:port]` (QUELL_TEMPORAL_POSTGRES_URL). A path names no database:
 * Temporal uses two, `temporal` and `temporal_visibility`. Thrown: UserFixableError naming what is wrong.
 */
export function parsePostgresUrl(url: string): PostgresTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UserFixableError(
      `QUELL_TEMPORAL_POSTGRES_URL is not a URL (expected postgres://user:password@host:5432).`,
    );
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new UserFixableError(
      `QUELL_TEMPORAL_POSTGRES_URL must start with postgres://, not ${u.protocol}//.`,
    );
  }
  if (!u.hostname || !u.username) {
    throw new UserFixableError(
      'QUELL_TEMPORAL_POSTGRES_URL needs a user and a host: postgres://user:password@host:5432.',
    );
  }
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : 5432,
    user: decodeURIComponent(u.username),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
  };
}

function databasesOf(pg: PostgresTarget) {
  return pg.databases ?? { main: 'temporal', visibility: 'temporal_visibility' };
}

/**
 * Creates both databases if missing and brings their schemas to this server release (idempotent: an existing
 * database is kept and only missing versions are applied), as docker-compose's temporal-schema-setup does.
 */
export async function applyTemporalSchema(
  binaries: TemporalServerBinaries,
  pg: PostgresTarget,
  report: ProgressReporter,
): Promise<void> {
  const dbs = databasesOf(pg);
  const base = ['--plugin', 'postgres12', '--ep', pg.host, '-p', String(pg.port), '-u', pg.user];
  const env = { ...process.env, ...(pg.password ? { SQL_PASSWORD: pg.password } : {}) };
  const run = async (db: string, args: string[]) => {
    try {
      await execFileAsync(binaries.sqlTool, [...base, '--db', db, ...args], { env, timeout: 120_000 });
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string; message: string };
      throw Object.assign(new Error(`${(e.stderr ?? '') + (e.stdout ?? '')}`.trim() || e.message), {
        cause: err,
      });
    }
  };
  for (const [db, dir] of [
    [dbs.main, 'temporal'],
    [dbs.visibility, 'visibility'],
  ] as const) {
    try {
      // Succeeds on an existing database too (the tool ignores PostgreSQL's duplicate-database error).
      await run(db, ['create-database']);
    } catch (err) {
      if (!/already exists/i.test((err as Error).message)) {
        throw new TemporalServerStartError(
          `Cannot create database ${db} on ${pg.host}:${pg.port}: ${(err as Error).message}`,
        );
      }
    }
    try {
      await run(db, ['setup-schema', '-v', '0.0']);
      await run(db, ['update-schema', '-d', path.join(binaries.postgresSchemaDir, dir, 'versioned')]);
    } catch (err) {
      throw new TemporalServerStartError(
        `Cannot apply the Temporal schema to ${db}: ${(err as Error).message}`,
      );
    }
  }
  report(
    `Temporal schema is up to date (server ${binaries.version}) in ${dbs.main} and ${dbs.visibility} ` +
      '(created if missing).',
  );
}

/** The ports one server process listens on (all services in one process, as the compose service runs). */
export interface ServerPorts {
  frontend: number;
  frontendHttp: number;
  history: number;
  matching: number;
  worker: number;
  /** Membership (ringpop) ports: PostgreSQL stores them as smallint, so they must stay below 32768. */
  membership: { frontend: number; history: number; matching: number; worker: number };
  metrics: number;
}

async function portFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/** A free port in [low, high), chosen at random so parallel runs rarely collide. */
async function freePortBelow(low: number, high: number, taken: Set<number>): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (!taken.has(port) && (await portFree(port))) {
      taken.add(port);
      return port;
    }
  }
  throw new TemporalServerStartError(`no free port between ${low} and ${high}`);
}

export async function pickServerPorts(frontend = 0): Promise<ServerPorts> {
  const taken = new Set<number>();
  const any = async () => {
    for (;;) {
      const p = await freePort();
      if (!taken.has(p)) {
        taken.add(p);
        return p;
      }
    }
  };
  return {
    frontend: frontend || (await any()),
    frontendHttp: await any(),
    history: await any(),
    matching: await any(),
    worker: await any(),
    membership: {
      frontend: await freePortBelow(20_000, 32_000, taken),
      history: await freePortBelow(20_000, 32_000, taken),
      matching: await freePortBelow(20_000, 32_000, taken),
      worker: await freePortBelow(20_000, 32_000, taken),
    },
    metrics: await any(),
  };
}

/** `host:port`, with an IPv6 address in brackets. */
function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** True for 0.0.0.0 and ::, where a server listens on every interface but nobody can dial. */
export function listensEverywhere(ip: string): boolean {
  return ip === '0.0.0.0' || /^[0:]+$/.test(ip);
}

/** The address local clients dial for a server bound to `ip` (loopback when it binds to every interface). */
function dialable(ip: string): string {
  return listensEverywhere(ip) ? '127.0.0.1' : ip;
}

type Yaml = Record<string, unknown>;
const obj = (v: unknown): Yaml => (v !== null && typeof v === 'object' ? (v as Yaml) : {});

/** The module's sample config, pointed at this database, these ports and Quell's dynamic config. */
export function serverConfigFromSample(
  sample: string,
  pg: PostgresTarget,
  ports: ServerPorts,
  opts: { dynamicConfigFile: string; logLevel: string; ip?: string },
): string {
  const doc = obj(YAML.parse(sample));
  const ip = opts.ip ?? '127.0.0.1';
  const dbs = databasesOf(pg);
  const persistence = obj(doc.persistence);
  const stores = obj(persistence.datastores);
  for (const [name, store] of Object.entries(stores)) {
    const sql = obj(obj(store).sql);
    sql.connectAddr = hostPort(pg.host, pg.port);
    sql.user = pg.user;
    sql.password = pg.password ?? '';
    sql.databaseName = name === persistence.visibilityStore ? dbs.visibility : dbs.main;
  }
  const global = obj(doc.global);
  // Bound to every interface, the roles (all in this one process) still need an address to dial each other.
  obj(global.membership).broadcastAddress = dialable(ip);
  // The sample's pprof port is fixed (7936): two servers on one machine would clash; nobody needs it here.
  delete global.pprof;
  obj(obj(global.metrics).prometheus).listenAddress = hostPort(ip, ports.metrics);
  const services = obj(doc.services);
  const rpc = (service: string) => obj(obj(services[service]).rpc);
  for (const service of ['frontend', 'history', 'matching', 'worker'] as const) {
    const r = rpc(service);
    r.grpcPort = ports[service];
    r.membershipPort = ports.membership[service];
    delete r.bindOnLocalHost;
    r.bindOnIP = ip;
  }
  rpc('frontend').httpPort = ports.frontendHttp;
  const cluster = obj(obj(obj(doc.clusterMetadata).clusterInformation).active);
  cluster.rpcAddress = hostPort(dialable(ip), ports.frontend);
  doc.log = { stdout: true, level: opts.logLevel, format: 'json' };
  doc.dynamicConfigClient = { filepath: opts.dynamicConfigFile, pollInterval: '10s' };
  return YAML.stringify(doc);
}

export interface RunningTemporalServer {
  address: string;
  ports: ServerPorts;
  logFile: string;
  /** Prometheus metrics. */
  metricsUrl: string;
  /** Stops the server (SIGTERM, then SIGKILL after 15 s). Safe to call twice. */
  stop(): Promise<void>;
  /** Starts it again with the same config and ports (after `stop`). */
  start(): Promise<void>;
  /** Resolves when the current server process exits, whether `stop` ended it or it died on its own. */
  exited(): Promise<void>;
}

async function waitUntilServing(address: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the server exited early (${child.exitCode ?? child.signalCode})`);
    }
    let connection: Connection | undefined;
    try {
      connection = await Connection.connect({ address, connectTimeout: 2_000 });
      await connection.workflowService.describeNamespace({ namespace: 'temporal-system' });
      return;
    } catch (err) {
      lastError = err;
    } finally {
      await connection?.close().catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`the server did not answer on ${address} within ${timeoutMs} ms (${String(lastError)})`);
}

/**
 * Writes the config into `dir/config/development.yaml` and starts the server under the guardian; resolves once
 * the frontend answers. Thrown: {@link TemporalServerStartError} with the log's last lines.
 */
export async function startTemporalServer(opts: {
  binaries: TemporalServerBinaries;
  postgres: PostgresTarget;
  dir: string;
  ports?: ServerPorts;
  /** The interface every role binds to (default 127.0.0.1; 0.0.0.0 for all). */
  ip?: string;
  logLevel?: string;
  ownerPid?: number;
  report: ProgressReporter;
  startTimeoutMs?: number;
}): Promise<RunningTemporalServer> {
  const ports = opts.ports ?? (await pickServerPorts());
  const ip = opts.ip ?? '127.0.0.1';
  // Otherwise the readiness check below could be answered by whatever already listens there.
  if (!(await portFree(ports.frontend, ip))) {
    throw new TemporalServerStartError(
      `Cannot listen on ${hostPort(ip, ports.frontend)}: the port is in use (or ${ip} is not an address of this ` +
        'host). If a Temporal server already runs there, point Quell at it with TEMPORAL_ADDRESS; otherwise ' +
        'set QUELL_TEMPORAL_PORT to a free port.',
    );
  }
  const configDir = path.join(opts.dir, 'config');
  await fs.mkdir(path.join(configDir, 'dynamicconfig'), { recursive: true });
  const dynamicConfigFile = path.join(configDir, 'dynamicconfig', 'development-sql.yaml');
  await fs.copyFile(SQL_DYNAMIC_CONFIG, dynamicConfigFile);
  const config = serverConfigFromSample(
    await fs.readFile(opts.binaries.sampleConfig, 'utf8'),
    opts.postgres,
    ports,
    {
      dynamicConfigFile,
      logLevel: opts.logLevel ?? 'warn',
      ip,
    },
  );
  // The config holds the database password.
  const configFile = path.join(configDir, 'development.yaml');
  await fs.writeFile(configFile, config, { mode: 0o600 });
  await fs.chmod(configFile, 0o600);
  const logFile = path.join(opts.dir, 'temporal-server.log');
  const address = hostPort(dialable(ip), ports.frontend);
  let running: GuardedProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const start = async () => {
    const c = spawnGuarded({
      binary: opts.binaries.server,
      args: ['--root', opts.dir, '--config', 'config', '--env', 'development', '--allow-no-auth', 'start'],
      logFile,
      ownerPid: opts.ownerPid,
      cwd: opts.dir,
    });
    running = c;
    exited = c.exited;
    opts.report(
      `Starting Temporal Server ${opts.binaries.version} on ${address} (PostgreSQL ${opts.postgres.host}:${opts.postgres.port}; log ${logFile})...`,
    );
    try {
      await waitUntilServing(address, c.child, opts.startTimeoutMs ?? 90_000);
    } catch (err) {
      await stop();
      const tail = (await fs.readFile(logFile, 'utf8').catch(() => ''))
        .trim()
        .split('\n')
        .slice(-20)
        .join('\n');
      throw new TemporalServerStartError(
        `Temporal Server did not start: ${(err as Error).message}\nLast lines of ${logFile}:\n${tail}`,
      );
    }
  };
  const stop = async () => {
    const c = running;
    running = undefined;
    await c?.stop(15_000);
  };
  await start();
  return {
    address,
    ports,
    logFile,
    metricsUrl: `http://${hostPort(dialable(ip), ports.metrics)}/metrics`,
    stop,
    start,
    exited: () => exited,
  };
}

const SA_TYPES: Record<string, temporal.api.enums.v1.IndexedValueType> = {
  KEYWORD: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  KEYWORD_LIST: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
  TEXT: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  INT: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT,
  DOUBLE: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  BOOL: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  DATETIME: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
};

/**
 * Creates the namespace (if missing) and Quell's search attributes (those missing; one of another type is an
 * error, as Quell's queries would break), as docker-compose's temporal-namespace-setup does. Waits until the
 * namespace answers and the attributes are listed.
 */
export async function ensureQuellNamespace(opts: {
  address: string;
  namespace: string;
  retentionDays?: number;
  report: ProgressReporter;
  timeoutMs?: number;
}): Promise<void> {
  const connection = await Connection.connect({ address: opts.address });
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  const retry = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        if (Date.now() > deadline) {
          throw new TemporalServerStartError(`${what} did not succeed: ${(err as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };
  try {
    const ws = connection.workflowService;
    const exists = await ws.describeNamespace({ namespace: opts.namespace }).then(
      () => true,
      () => false,
    );
    if (!exists) {
      await ws
        .registerNamespace({
          namespace: opts.namespace,
          workflowExecutionRetentionPeriod: { seconds: Long.fromNumber((opts.retentionDays ?? 30) * 86_400) },
        })
        .catch((err: unknown) => {
          if (!/already exists/i.test((err as Error).message)) throw err;
        });
      opts.report(`Created namespace ${opts.namespace}.`);
    }
    // A new namespace takes a moment to reach every service's cache.
    await retry(`describing namespace ${opts.namespace}`, () =>
      ws.describeNamespace({ namespace: opts.namespace }),
    );
    const listed = await retry('listing search attributes', () =>
      connection.operatorService.listSearchAttributes({ namespace: opts.namespace }),
    );
    const existing = new Map<string, temporal.api.enums.v1.IndexedValueType>(
      Object.entries(listed.customAttributes ?? {}),
    );
    const missing: Record<string, temporal.api.enums.v1.IndexedValueType> = {};
    for (const key of QUELL_SEARCH_ATTRIBUTES) {
      const want = SA_TYPES[key.type]!;
      const have = existing.get(key.name);
      if (have === undefined) missing[key.name] = want;
      else if (have !== want) {
        throw new TemporalServerStartError(
          `Search attribute ${key.name} exists in namespace ${opts.namespace} with another type; Quell needs ${key.type}.`,
        );
      }
    }
    if (Object.keys(missing).length > 0) {
      await retry('adding search attributes', () =>
        connection.operatorService.addSearchAttributes({
          namespace: opts.namespace,
          searchAttributes: missing,
        }),
      );
      opts.report(`Registered search attributes ${Object.keys(missing).join(', ')}.`);
    }
  } finally {
    await connection.close();
  }
}
