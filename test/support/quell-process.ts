import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { waitFor } from './processes';

const root = path.resolve(__dirname, '..', '..');

export interface ApiProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Runs `quell <command>` from the repository and waits for its whole banner (up to "Press Ctrl-C to stop.",
 * so every banner line can be read); throws with the output if it exits first.
 */
async function spawnQuell(
  command: 'api' | 'start' | 'temporal serve',
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<ApiProcess> {
  const child = spawn(process.execPath, [path.join(root, 'bin', 'quell.js'), ...command.split(' ')], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  await waitFor(
    async () => output.includes('Press Ctrl-C to stop.') || child.exitCode !== null,
    timeoutMs,
    `quell ${command}`,
  );
  if (child.exitCode !== null) throw new Error(`quell ${command} exited early:\n${output}`);
  return { child, output: () => output, exited };
}

/**
 * `quell api` as its own process against the Temporal at `address`, waiting for its banner. Without `address`,
 * the environment's TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE are removed too, so `env` alone says where Temporal
 * is (e.g. TEMPORAL_CONFIG_FILE and TEMPORAL_PROFILE).
 */
export async function spawnApi(opts: {
  address?: string;
  namespace?: string;
  /** 0 takes a free port when the API listens; the banner says which. */
  port: number;
  taskQueue: string;
  playbooksDir: string;
  dataDir: string;
  /** QUELL_API_TOKENS: token -> { subject, roles }. */
  tokens: Record<string, { subject: string; roles: string[] }>;
  env?: Record<string, string>;
}): Promise<ApiProcess> {
  const { TEMPORAL_ADDRESS: _address, TEMPORAL_NAMESPACE: _namespace, ...inherited } = process.env;
  return spawnQuell(
    'api',
    {
      ...(opts.address === undefined ? inherited : process.env),
      ...(opts.address !== undefined ? { TEMPORAL_ADDRESS: opts.address } : {}),
      ...(opts.namespace !== undefined ? { TEMPORAL_NAMESPACE: opts.namespace } : {}),
      QUELL_TASK_QUEUE: opts.taskQueue,
      QUELL_API_HOST: '127.0.0.1',
      QUELL_API_PORT: String(opts.port),
      QUELL_API_TOKENS: JSON.stringify(opts.tokens),
      QUELL_PLAYBOOKS_DIR: opts.playbooksDir,
      QUELL_DATA_DIR: opts.dataDir,
      QUELL_LOG_LEVEL: 'warn',
      ...opts.env,
    },
    60_000,
  );
}

export interface StartedQuell extends ApiProcess {
  apiUrl: string;
  temporalPort: number;
  /** The demo token the banner printed for a role. */
  token(role: string): string;
}

/** `quell start` as a user runs it (embedded Temporal of its own under `dataDir`), waiting for its banner. */
export async function spawnStart(opts: {
  dataDir: string;
  cliPath: string;
  /** 0 takes a free port when the API listens; `apiUrl` is read from the banner either way. */
  apiPort: number;
  temporalPort: number;
  env?: Record<string, string>;
}): Promise<StartedQuell> {
  const { TEMPORAL_ADDRESS: _ignored, ...env } = process.env;
  const started = await spawnQuell(
    'start',
    {
      ...env,
      TEMPORAL_CLI_PATH: opts.cliPath,
      QUELL_DATA_DIR: opts.dataDir,
      QUELL_API_PORT: String(opts.apiPort),
      QUELL_TEMPORAL_PORT: String(opts.temporalPort),
      QUELL_TEMPORAL_HEADLESS: '1',
      QUELL_LAB_PORT: '0',
      QUELL_LOG_LEVEL: 'warn',
      ...opts.env,
    },
    90_000,
  );
  const output = started.output;
  const apiUrl = /API: {9}(http:\/\/127\.0\.0\.1:\d+)/.exec(output())?.[1];
  if (!apiUrl) throw new Error(`no API URL in the banner:\n${output()}`);
  return {
    ...started,
    apiUrl,
    temporalPort: opts.temporalPort,
    token: (role) => new RegExp(`^\\s+${role}\\s+(\\S+)$`, 'm').exec(output())?.[1] ?? '',
  };
}

export interface ServedTemporal extends ApiProcess {
  /** The frontend's address, as the banner prints it. */
  address: string;
}

/**
 * `quell temporal serve` as a user runs it, against the PostgreSQL at `postgresUrl`, with its files under
 * `dataDir/temporal-server`, waiting for its banner.
 */
export async function spawnServe(opts: {
  postgresUrl: string;
  dataDir: string;
  port: number;
  env?: Record<string, string>;
}): Promise<ServedTemporal> {
  const { TEMPORAL_ADDRESS: _ignored, ...env } = process.env;
  const served = await spawnQuell(
    'temporal serve',
    {
      ...env,
      QUELL_TEMPORAL_POSTGRES_URL: opts.postgresUrl,
      QUELL_DATA_DIR: opts.dataDir,
      QUELL_TEMPORAL_PORT: String(opts.port),
      ...opts.env,
    },
    120_000,
  );
  const address = /^ {2}Temporal: {4}(\S+)/m.exec(served.output())?.[1];
  if (!address) throw new Error(`no Temporal address in the banner:\n${served.output()}`);
  return { ...served, address };
}
