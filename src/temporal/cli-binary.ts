import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { UserFixableError } from '../errors';
import {
  findOnPath,
  goInstall,
  GoBuildError,
  isExecutable,
  withBuildLock,
  type ProgressReporter,
} from './go-build';

export type { ProgressReporter } from './go-build';

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

/**
 * Builds the Temporal CLI from the Go module proxy into `cacheDir` with `go install` (pure Go, no cgo).
 * Prints progress while it runs, since the first build takes minutes.
 * Thrown: {@link TemporalCliUnavailableError} when Go is missing or the build fails.
 */
export async function buildTemporalCliWithGo(cacheDir: string, report: ProgressReporter): Promise<string> {
  await fs.mkdir(cacheDir, { recursive: true });
  return withBuildLock(cacheDir, 'the Temporal CLI', report, async () => {
    const target = path.join(cacheDir, 'temporal');
    if (await isExecutable(target)) return target; // built by the process we waited for
    report(
      `Building the Temporal CLI ${TEMPORAL_CLI_VERSION} with Go into ${cacheDir} ` +
        '(once; the first build takes 3-6 minutes on 2 cores, later builds reuse the Go cache)...',
    );
    try {
      await goInstall({
        pkg: TEMPORAL_CLI_MODULE,
        version: TEMPORAL_CLI_VERSION,
        binDir: cacheDir,
        what: 'the Temporal CLI',
        report,
      });
    } catch (err) {
      if (err instanceof GoBuildError) throw new TemporalCliUnavailableError(err.message);
      throw err;
    }
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
