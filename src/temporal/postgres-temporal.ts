/**
 * Temporal Server on PostgreSQL in one call: the schema brought up to date, the server started, the namespace
 * and Quell's search attributes in place. `quell temporal serve` runs it on the user's PostgreSQL; the
 * production test profile and `npm run bench -- --temporal postgres` on a throwaway one.
 */
import path from 'node:path';
import type { ProgressReporter } from './go-build';
import { startThrowawayPostgres, type RunningPostgres } from './postgres';
import {
  applyTemporalSchema,
  ensureQuellNamespace,
  startTemporalServer,
  type PostgresTarget,
  type RunningTemporalServer,
  type ServerPorts,
} from './postgres-server';
import { locateTemporalServer, type TemporalServerBinaries } from './server-binary';

/** Schema, server, namespace. Thrown: TemporalServerStartError (the server is stopped again on a failure). */
export async function runTemporalOnPostgres(opts: {
  binaries: TemporalServerBinaries;
  postgres: PostgresTarget;
  /** Server config and log. */
  dir: string;
  namespace: string;
  retentionDays?: number;
  ip?: string;
  ports?: ServerPorts;
  logLevel?: string;
  report: ProgressReporter;
}): Promise<RunningTemporalServer> {
  await applyTemporalSchema(opts.binaries, opts.postgres, opts.report);
  const server = await startTemporalServer({
    binaries: opts.binaries,
    postgres: opts.postgres,
    dir: opts.dir,
    ...(opts.ip ? { ip: opts.ip } : {}),
    ...(opts.ports ? { ports: opts.ports } : {}),
    ...(opts.logLevel ? { logLevel: opts.logLevel } : {}),
    report: opts.report,
  });
  try {
    await ensureQuellNamespace({
      address: server.address,
      namespace: opts.namespace,
      ...(opts.retentionDays ? { retentionDays: opts.retentionDays } : {}),
      report: opts.report,
    });
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}

export interface ThrowawayTemporal {
  binaries: TemporalServerBinaries;
  pg: RunningPostgres;
  server: RunningTemporalServer;
  /** Stops the server, then PostgreSQL. */
  stop(): Promise<void>;
}

/**
 * A throwaway PostgreSQL under `dir/postgres` and Temporal Server on it under `dir/temporal` (tests,
 * benchmarks). `serverDir`: where the server build lives (see `serverCacheDir`); built there if missing.
 */
export async function startThrowawayTemporal(opts: {
  serverDir: string;
  dir: string;
  namespace: string;
  report: ProgressReporter;
}): Promise<ThrowawayTemporal> {
  const binaries = await locateTemporalServer({ dir: opts.serverDir, report: opts.report });
  const pg = await startThrowawayPostgres({ dir: path.join(opts.dir, 'postgres'), report: opts.report });
  try {
    const server = await runTemporalOnPostgres({
      binaries,
      postgres: pg,
      dir: path.join(opts.dir, 'temporal'),
      namespace: opts.namespace,
      report: opts.report,
    });
    return {
      binaries,
      pg,
      server,
      stop: async () => {
        await server.stop();
        await pg.stop();
      },
    };
  } catch (err) {
    await pg.stop();
    throw err;
  }
}
