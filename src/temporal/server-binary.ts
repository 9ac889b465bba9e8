/**
 * The Temporal server for production-shaped installs without Docker: `go.temporal.io/server/cmd/server` and its
 * SQL schema tool, built from the Go module proxy into the project cache with the schema files and the sample
 * PostgreSQL config copied beside them (so the cache is all a later run needs, even after `go clean -modcache`).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserFixableError } from '../errors';
import {
  goEnv,
  GoBuildError,
  goInstall,
  isExecutable,
  withBuildLock,
  type ProgressReporter,
} from './go-build';

/**
 * The one Temporal Server release Quell runs: the dev server the CLI bundles (CLI v1.5.1), the PostgreSQL-backed
 * server built here, and the images in docker-compose.yml (a test holds the three together).
 */
export const TEMPORAL_SERVER_VERSION = '1.29.1';
export const TEMPORAL_SERVER_MODULE = 'go.temporal.io/server';

/** Thrown when the server or its schema tool cannot be found or built. */
export class TemporalServerUnavailableError extends UserFixableError {
  override readonly name = 'TemporalServerUnavailableError';
}

export interface TemporalServerBinaries {
  /** `temporal-server`. */
  server: string;
  /** `temporal-sql-tool` (create-database, setup-schema, update-schema). */
  sqlTool: string;
  /** `schema/postgresql/v12`, with `temporal/versioned` and `visibility/versioned`. */
  postgresSchemaDir: string;
  /** The module's `config/development-postgres12.yaml`. */
  sampleConfig: string;
  version: string;
  source: 'cache' | 'go-build';
}

/** Where the server build lives, beside the CLI's cache (`.cache/temporal-server/v1.29.1`). */
export function serverCacheDir(cliCacheDir: string): string {
  return path.join(path.dirname(cliCacheDir), 'temporal-server', `v${TEMPORAL_SERVER_VERSION}`);
}

function layout(dir: string): Omit<TemporalServerBinaries, 'source' | 'version'> {
  return {
    server: path.join(dir, 'temporal-server'),
    sqlTool: path.join(dir, 'temporal-sql-tool'),
    postgresSchemaDir: path.join(dir, 'schema', 'postgresql', 'v12'),
    sampleConfig: path.join(dir, 'config', 'development-postgres12.yaml'),
  };
}

async function complete(dir: string): Promise<boolean> {
  const l = layout(dir);
  return (
    (await isExecutable(l.server)) &&
    (await isExecutable(l.sqlTool)) &&
    (await fs.stat(path.join(l.postgresSchemaDir, 'temporal', 'versioned')).then(
      () => true,
      () => false,
    )) &&
    (await fs.stat(l.sampleConfig).then(
      () => true,
      () => false,
    ))
  );
}

/**
 * The server, schema tool and schema files from `dir`, building them with Go when missing (minutes the first
 * time; progress is reported). Thrown: {@link TemporalServerUnavailableError} when Go is missing or a build fails.
 */
export async function locateTemporalServer(opts: {
  dir: string;
  report: ProgressReporter;
}): Promise<TemporalServerBinaries> {
  const { dir, report } = opts;
  const base = { ...layout(dir), version: TEMPORAL_SERVER_VERSION };
  if (await complete(dir)) return { ...base, source: 'cache' };
  await fs.mkdir(dir, { recursive: true });
  return withBuildLock(dir, 'the Temporal server', report, async () => {
    if (await complete(dir)) return { ...base, source: 'cache' as const };
    const binDir = path.join(dir, '.bin');
    report(
      `Building Temporal Server ${TEMPORAL_SERVER_VERSION} and its SQL schema tool with Go into ${dir} ` +
        '(once; 3-6 minutes on 2 cores when the Go module cache is cold)...',
    );
    try {
      await goInstall({
        pkg: `${TEMPORAL_SERVER_MODULE}/cmd/server`,
        version: `v${TEMPORAL_SERVER_VERSION}`,
        binDir,
        what: 'the Temporal server',
        report,
      });
      await goInstall({
        pkg: `${TEMPORAL_SERVER_MODULE}/cmd/tools/sql`,
        version: `v${TEMPORAL_SERVER_VERSION}`,
        binDir,
        what: 'the Temporal SQL schema tool',
        report,
      });
      const moduleDir = path.join(
        await goEnv('GOMODCACHE'),
        `${TEMPORAL_SERVER_MODULE}@v${TEMPORAL_SERVER_VERSION}`,
      );
      await fs.cp(path.join(moduleDir, 'schema', 'postgresql', 'v12'), base.postgresSchemaDir, {
        recursive: true,
      });
      await fs.mkdir(path.dirname(base.sampleConfig), { recursive: true });
      await fs.copyFile(path.join(moduleDir, 'config', 'development-postgres12.yaml'), base.sampleConfig);
      // The module cache is read-only; the copies need not be.
      await chmodTree(path.join(dir, 'schema'));
      await fs.chmod(base.sampleConfig, 0o644);
      await fs.rename(path.join(binDir, 'server'), base.server);
      await fs.rename(path.join(binDir, 'sql'), base.sqlTool);
      await fs.rm(binDir, { recursive: true, force: true });
    } catch (err) {
      if (err instanceof GoBuildError) {
        throw new TemporalServerUnavailableError(
          `${err.message}\nInstall Go >= 1.25 (Quell builds the server itself), or run Temporal yourself and set ` +
            'TEMPORAL_ADDRESS.',
        );
      }
      throw err;
    }
    return { ...base, source: 'go-build' as const };
  });
}

async function chmodTree(dir: string): Promise<void> {
  await fs.chmod(dir, 0o755);
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) await chmodTree(p);
    else await fs.chmod(p, 0o644);
  }
}
