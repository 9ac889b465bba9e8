import { spawn, execFile } from 'node:child_process';
import { promises as fs, constants as fsConstants } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { UserFixableError } from '../errors';

const execFileAsync = promisify(execFile);

/**
 * The Temporal CLI release Quell builds. v1.5.1 is the newest tag `go install pkg@version` accepts (later tags
 * carry a `replace` directive); it bundles Temporal Server 1.29.1 and needs Go >= 1.25.
 */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';
export const TEMPORAL_CLI_VERSION = 'v1.5.1';

/** Thrown when no usable Temporal CLI could be found or built; the message says what the user can do. */
export class TemporalCliUnavailableError extends UserFixableError {
  override readonly name = 'TemporalCliUnavailableError';
}

export interface TemporalCliInfo {
  path: string;
  /** Where it came from: the TEMPORAL_CLI_PATH variable, PATH, the project cache, or a fresh Go build. */
  source: 'TEMPORAL_CLI_PATH' | 'PATH' | 'cache' | 'go-build';
  /** The first line of `temporal --version`. */
  version: string;
  serverVersion?: string;
}

export type ProgressReporter = (message: string) => void;

async function isExecutable(file: string): Promise<boolean> {
  try {
    const stat = await fs.stat(file);
    if (!stat.isFile()) return false;
    await fs.access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function findOnPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Runs `temporal --version` and checks the answer looks like the Temporal CLI.
 * Thrown: {@link TemporalCliUnavailableError} when the binary does not run or is not the Temporal CLI.
 */
export async function verifyTemporalCli(
  binary: string,
): Promise<{ version: string; serverVersion?: string }> {
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(binary, ['--version'], { timeout: 30_000 }));
  } catch (err) {
    throw new TemporalCliUnavailableError(
      `The Temporal CLI at ${binary} did not run (\`temporal --version\` failed: ${(err as Error).message}).`,
    );
  }
  const version = stdout.trim().split('\n')[0] ?? '';
  if (!/^temporal version /.test(version)) {
    throw new TemporalCliUnavailableError(
      `${binary} does not look like the Temporal CLI: \`--version\` printed "${version}".`,
    );
  }
  const server = /Server ([0-9][^,)\s]*)/.exec(version)?.[1];
  return server ? { version, serverVersion: server } : { version };
}

function formatElapsed(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** Holds a directory lock so two Quell processes never build into the same cache at once. */
async function withBuildLock<T>(
  cacheDir: string,
  report: ProgressReporter,
  fn: () => Promise<T>,
): Promise<T> {
  const lockDir = path.join(cacheDir, '.build.lock');
  const started = Date.now();
  for (;;) {
    try {
      await fs.mkdir(lockDir);
      await fs.writeFile(path.join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(await fs.readFile(path.join(lockDir, 'pid'), 'utf8').catch(() => '0'));
      let alive = false;
      try {
        if (holder > 0) {
          process.kill(holder, 0);
          alive = true;
        }
      } catch {
        alive = false;
      }
      if (!alive && Date.now() - started > 2_000) {
        await fs.rm(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() - started > 30 * 60_000) {
        throw new TemporalCliUnavailableError(
          `Timed out waiting for the build lock ${lockDir}; remove it if stale.`,
        );
      }
      report(`Another process (pid ${holder}) is building the Temporal CLI; waiting for it...`);
      await new Promise((r) => setTimeout(r, 5_000));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lockDir, { recursive: true, force: true });
  }
}

/**
 * Builds the Temporal CLI from the Go module proxy into `cacheDir` with `go install` (pure Go, no cgo).
 * Prints progress while it runs, since the first build takes minutes.
 * Thrown: {@link TemporalCliUnavailableError} when Go is missing or the build fails.
 */
export async function buildTemporalCliWithGo(cacheDir: string, report: ProgressReporter): Promise<string> {
  const go = await findOnPath('go');
  if (!go) throw new TemporalCliUnavailableError('Go is not installed, so the Temporal CLI cannot be built.');
  await fs.mkdir(cacheDir, { recursive: true });
  return withBuildLock(cacheDir, report, async () => {
    const target = path.join(cacheDir, 'temporal');
    if (await isExecutable(target)) return target; // built by the process we waited for
    report(
      `Building the Temporal CLI ${TEMPORAL_CLI_VERSION} with Go into ${cacheDir} ` +
        '(once; the first build takes 3-6 minutes on 2 cores, later builds reuse the Go cache)...',
    );
    const started = Date.now();
    const child = spawn(go, ['install', `${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`], {
      env: { ...process.env, CGO_ENABLED: '0', GOBIN: cacheDir, GOFLAGS: process.env.GOFLAGS ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tail: string[] = [];
    let downloads = 0;
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (!line.trim()) continue;
        tail.push(line);
        if (tail.length > 30) tail.shift();
        if (line.startsWith('go: downloading')) downloads += 1;
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const ticker = setInterval(() => {
      report(
        `  still building the Temporal CLI: ${formatElapsed(Date.now() - started)} elapsed, ` +
          `${downloads} modules downloaded so far`,
      );
    }, 15_000);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (c) => resolve(c));
    }).finally(() => clearInterval(ticker));
    if (code !== 0) {
      throw new TemporalCliUnavailableError(
        `\`go install ${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}\` failed (exit ${code}). Last output:\n` +
          tail.join('\n'),
      );
    }
    report(`Built the Temporal CLI in ${formatElapsed(Date.now() - started)}: ${target}`);
    return target;
  });
}

const REMEDY =
  'To fix this, do one of:\n' +
  '  - install Go >= 1.25 (Quell then builds the CLI itself), or\n' +
  '  - install the Temporal CLI (https://docs.temporal.io/cli) and put `temporal` on PATH, or\n' +
  '  - set TEMPORAL_CLI_PATH to a Temporal CLI binary, or\n' +
  '  - set TEMPORAL_ADDRESS to use a Temporal server you already run.';

/**
 * Finds a Temporal CLI binary: TEMPORAL_CLI_PATH, then `temporal` on PATH, then the project-local cache,
 * else builds it with Go into the cache. Returns undefined when none is available and Go is missing, so the
 * caller may fall back to the SDK's download.
 * Thrown: {@link TemporalCliUnavailableError} when a configured binary is broken or the Go build fails.
 */
export async function locateTemporalCli(opts: {
  cliPath?: string;
  cacheDir: string;
  report: ProgressReporter;
}): Promise<TemporalCliInfo | undefined> {
  const { report } = opts;
  if (opts.cliPath) {
    if (!(await isExecutable(opts.cliPath))) {
      throw new TemporalCliUnavailableError(
        `TEMPORAL_CLI_PATH is set to ${opts.cliPath}, which is not an executable file.\n${REMEDY}`,
      );
    }
    return { path: opts.cliPath, source: 'TEMPORAL_CLI_PATH', ...(await verifyTemporalCli(opts.cliPath)) };
  }
  const onPath = await findOnPath('temporal');
  if (onPath) {
    try {
      return { path: onPath, source: 'PATH', ...(await verifyTemporalCli(onPath)) };
    } catch (err) {
      report(`Ignoring \`temporal\` on PATH (${onPath}): ${(err as Error).message}`);
    }
  }
  const cached = path.join(opts.cacheDir, 'temporal');
  if (await isExecutable(cached)) {
    try {
      return { path: cached, source: 'cache', ...(await verifyTemporalCli(cached)) };
    } catch (err) {
      report(`The cached Temporal CLI is unusable (${(err as Error).message}); rebuilding it.`);
      await fs.rm(cached, { force: true });
    }
  }
  if (!(await findOnPath('go'))) return undefined;
  try {
    const built = await buildTemporalCliWithGo(opts.cacheDir, report);
    return { path: built, source: 'go-build', ...(await verifyTemporalCli(built)) };
  } catch (err) {
    if (err instanceof TemporalCliUnavailableError) {
      throw new TemporalCliUnavailableError(`${err.message}\n${REMEDY}`);
    }
    throw err;
  }
}

export { REMEDY as TEMPORAL_CLI_REMEDY };
