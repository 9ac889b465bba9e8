import path from 'node:path';
import Long from 'long';
import { Connection } from '@temporalio/client';
import type * as TestingModule from '@temporalio/testing';
import type { QuellConfig, TemporalTarget } from '../config';
import { QUELL_SEARCH_ATTRIBUTES, searchAttributeFlags } from '../domain/search-attributes';
import {
  locateTemporalCli,
  TEMPORAL_CLI_REMEDY,
  TemporalCliUnavailableError,
  type ProgressReporter,
} from './cli-binary';
import type { TemporalEndpoint } from './connection';
import { startDevServer } from './dev-server';

export interface ProvisionedTemporal extends TemporalEndpoint {
  /** 'external' when Quell connected to a server it did not start. */
  kind: 'external' | 'embedded' | 'embedded-sdk-download';
  uiUrl?: string;
  /** For the embedded server: the binary that runs it and its version line. */
  cli?: { path: string; version: string; source: string };
  /** Stops what provisioning started (nothing for an external server). Safe to call twice. */
  stop(): Promise<void>;
}

export interface ProvisionOptions {
  report?: ProgressReporter;
  /** Overrides for tests: random ports, an in-memory database, a throwaway log. */
  embeddedOverrides?: Partial<{
    port: number;
    uiPort: number;
    headless: boolean;
    dbFile: string | null;
    logFile: string;
    extraArgs: string[];
    ownerPid: number;
  }>;
  /** Retention for closed incidents on an embedded server, in days. */
  retentionDays?: number;
  /**
   * The codec server the embedded server's UI calls (`--ui-codec-endpoint`): `<Quell API URL>/api/v1/codec`,
   * when this process serves the API. The browser calls it, so it must be a URL the browser reaches.
   */
  uiCodecEndpoint?: string;
}

async function ensureRetention(endpoint: TemporalEndpoint, days: number): Promise<void> {
  const connection = await Connection.connect({ address: endpoint.address });
  try {
    await connection.workflowService.updateNamespace({
      namespace: endpoint.namespace,
      config: { workflowExecutionRetentionTtl: { seconds: Long.fromNumber(days * 24 * 3600) } },
    });
  } finally {
    await connection.close();
  }
}

/**
 * Provides a Temporal server for Quell, in this order: the configured external server (TEMPORAL_ADDRESS),
 * or an embedded `temporal server start-dev` found or built locally, or, when there is neither a binary
 * nor Go, a server downloaded by the Temporal SDK (needs internet).
 * Thrown: TemporalCliUnavailableError or DevServerStartError, with what the user can do.
 */
export async function provisionTemporal(
  config: Pick<QuellConfig, 'temporal' | 'dataDir'>,
  opts: ProvisionOptions = {},
): Promise<ProvisionedTemporal> {
  const report = opts.report ?? (() => undefined);
  const target: TemporalTarget = config.temporal;
  if (target.kind === 'external') {
    return {
      kind: 'external',
      address: target.address,
      namespace: target.namespace,
      ...(target.apiKey ? { apiKey: target.apiKey } : {}),
      ...(target.tls ? { tls: target.tls } : {}),
      ...(target.grpcMeta ? { grpcMeta: target.grpcMeta } : {}),
      stop: async () => undefined,
    };
  }
  const o = opts.embeddedOverrides ?? {};
  const dbFile = o.dbFile === null ? undefined : (o.dbFile ?? target.dbFile);
  const headless = o.headless ?? target.headless;
  const codecArgs = opts.uiCodecEndpoint && !headless ? ['--ui-codec-endpoint', opts.uiCodecEndpoint] : [];
  const cli = await locateTemporalCli({
    ...(target.cliPath ? { cliPath: target.cliPath } : {}),
    cacheDir: target.cacheDir,
    report,
  });
  if (!cli) {
    return provisionWithSdkDownload(target, {
      ...(dbFile ? { dbFile } : {}),
      ...(o.port !== undefined ? { port: o.port } : {}),
      ...(o.uiPort !== undefined ? { uiPort: o.uiPort } : {}),
      headless,
      report,
      extraArgs: codecArgs,
    });
  }
  report(`Using the Temporal CLI at ${cli.path} (${cli.source}): ${cli.version}`);
  const server = await startDevServer({
    binary: cli.path,
    ip: target.ip,
    port: o.port ?? target.port,
    uiPort: o.uiPort ?? target.uiPort,
    headless,
    namespace: target.namespace,
    ...(dbFile ? { dbFile } : {}),
    searchAttributes: searchAttributeFlags(),
    logFile: o.logFile ?? path.join(config.dataDir, 'temporal-server.log'),
    logLevel: target.logLevel,
    ...(o.ownerPid ? { ownerPid: o.ownerPid } : {}),
    // WAL keeps readers and the single writer from blocking each other on the one SQLite connection.
    extraArgs: ['--sqlite-pragma', 'journal_mode=WAL', ...codecArgs, ...(o.extraArgs ?? [])],
    report,
  });
  const endpoint = { address: server.address, namespace: target.namespace };
  if (dbFile && opts.retentionDays) {
    await ensureRetention(endpoint, opts.retentionDays).catch((err: unknown) =>
      report(`Could not set the namespace retention: ${String(err)}`),
    );
  }
  return {
    kind: 'embedded',
    ...endpoint,
    ...(server.uiUrl ? { uiUrl: server.uiUrl } : {}),
    cli: { path: cli.path, version: cli.version, source: cli.source },
    stop: () => server.stop(),
  };
}

/** Last resort for users with internet and neither a Temporal binary nor Go: the SDK's cached download. */
async function provisionWithSdkDownload(
  target: Extract<TemporalTarget, { kind: 'embedded' }>,
  o: {
    dbFile?: string;
    headless: boolean;
    report: ProgressReporter;
    port?: number;
    uiPort?: number;
    extraArgs: string[];
  },
): Promise<ProvisionedTemporal> {
  o.report(
    'No Temporal CLI found and Go is not installed: downloading the Temporal dev server through the ' +
      `Temporal SDK into ${target.cacheDir} (needs internet)...`,
  );
  // A development dependency: an image (production dependencies only) has no SDK download to fall back on.
  let testing: typeof TestingModule;
  try {
    testing = await import('@temporalio/testing');
  } catch {
    throw new TemporalCliUnavailableError(
      `No Temporal CLI was found, Go is not installed, and this installation has no @temporalio/testing to ` +
        `download a dev server with (production dependencies only).\n${TEMPORAL_CLI_REMEDY}`,
    );
  }
  const { TestWorkflowEnvironment } = testing;
  let env: Awaited<ReturnType<typeof TestWorkflowEnvironment.createLocal>>;
  try {
    env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'cached-download', downloadDir: target.cacheDir },
        ip: target.ip,
        port: o.port ?? target.port,
        namespace: target.namespace,
        ...(o.dbFile ? { dbFilename: o.dbFile } : {}),
        ...(o.headless ? {} : { ui: true, uiPort: o.uiPort ?? target.uiPort }),
        searchAttributes: [...QUELL_SEARCH_ATTRIBUTES],
        ...(o.extraArgs.length ? { extraArgs: o.extraArgs } : {}),
      },
    });
  } catch (err) {
    throw new TemporalCliUnavailableError(
      `The Temporal SDK could not download the dev server: ${(err as Error).message}\n${TEMPORAL_CLI_REMEDY}`,
    );
  }
  let stopped = false;
  return {
    kind: 'embedded-sdk-download',
    address: env.address,
    namespace: target.namespace,
    ...(o.headless ? {} : { uiUrl: `http://${target.ip}:${o.uiPort ?? target.uiPort}` }),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await env.teardown();
    },
  };
}
