import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import type { Client } from '@temporalio/client';
import { Runtime, type NativeConnection, type Worker } from '@temporalio/worker';
import { createApp, settleBackgroundWork } from './api/app';
import { loadAuthConfig, type AuthConfig } from './api/auth';
import { loadApiSettings } from './api/rate-limit';
import { createApiServer } from './api/server';
import { loadSlackInteractionsConfig } from './api/slack-interactions';
import { signerFromEnv } from './audit/bundle';
import { BUILTIN_CATALOGUE } from './actions/catalogue';
import { loadCatalogue } from './actions/modules';
import { installedWorkflowCode } from './audit/installed-code';
import { createAuditService } from './audit/service';
import { buildConsoleAssets, consoleRouter } from './console';
import { codecFromEnv, encryptionDataConverter } from './temporal/codec';
import type { QuellConfig } from './config';
import { buildConnectors, describeConnectors, planConnectors } from './connectors/config';
import { startLabServer } from './connectors/lab';
import type { Connectors } from './connectors/types';
import { incidentIdDeriverFromEnv } from './incidents/correlation';
import { IncidentService } from './incidents/service';
import { loadPlaybooks } from './playbooks/loader';
import type { Logger } from './logging';
import type { ProgressReporter } from './temporal/cli-binary';
import { connectClient, connectWorker } from './temporal/connection';
import { listensEverywhere } from './temporal/postgres-server';
import { tracingFromConfig, type ProcessRole } from './telemetry/tracing';
import { provisionTemporal, type ProvisionedTemporal, type ProvisionOptions } from './temporal/provision';
import { WORKER_HEARTBEAT_INTERVAL_MS } from './temporal/worker-liveness';
import { UserFixableError } from './errors';
import { createIncidentWorker } from './worker';
import { pinoSdkLogger } from './worker/sdk-logger';

export interface RunningQuell {
  temporal: ProvisionedTemporal;
  /** The API's token configuration (with generated demo tokens in development). */
  auth?: AuthConfig;
  /** The built-in lab estate, when this process runs it. */
  labUrl?: string;
  /** One line per connector capability, for the banner (no secrets). */
  connectorSummary: string[];
  client: Client;
  worker?: Worker;
  /** The SDK's Prometheus endpoint (QUELL_SDK_METRICS_ADDRESS), when this process runs a worker and serves it. */
  sdkMetricsUrl?: string;
  apiUrl?: string;
  /** The key ID new payloads are encrypted with (QUELL_ENCRYPTION_KEY), when encryption is on. */
  encryptionKeyId?: string;
  /** How many Slack users may click approvals (the API's Slack interactions are on), for the banner. */
  slackUsers?: number;
  /** Where this process exports its spans and under which service name, when tracing is on. */
  tracing?: { serviceName: string; tracesUrl: string };
  /**
   * Stops everything in order: HTTP intake, then the Temporal client (draining its calls), then the worker
   * (draining), then connections, then Temporal, then tracing (exporting the spans of all of these).
   */
  stop(): Promise<void>;
  /** Resolves when the worker stops on its own (e.g. a fatal error), with that error if any. */
  workerDone: Promise<void>;
}

export interface StartOptions {
  config: QuellConfig;
  logger: Logger;
  report: ProgressReporter;
  components: { worker: boolean; api: boolean };
  provision?: ProvisionOptions;
  connectors?: Connectors;
}

async function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** Thrown when the SDK cannot serve its metrics at QUELL_SDK_METRICS_ADDRESS (e.g. the port is in use). */
export class SdkMetricsUnavailableError extends UserFixableError {
  override readonly name = 'SdkMetricsUnavailableError';
}

/**
 * Starts Temporal (or connects to it), then the worker and the API, as configured.
 * Thrown: {@link SdkMetricsUnavailableError} when the SDK cannot bind QUELL_SDK_METRICS_ADDRESS.
 */
export async function startQuell(opts: StartOptions): Promise<RunningQuell> {
  const { config, logger, report } = opts;
  // Must precede the first native connection: the runtime is process-wide and installed once.
  // No SDK signal handlers (its default): the caller's handler stops things in order (stop()), where the SDK's
  // would begin draining the worker at once, before the API's requests in flight are done.
  const sdkMetrics = opts.components.worker ? config.sdkMetrics : undefined;
  try {
    Runtime.install({
      logger: pinoSdkLogger(logger.child({ component: 'temporal-sdk' })),
      shutdownSignals: [],
      // Worker heartbeats let the API's readiness and intake notice a dead worker within seconds.
      workerHeartbeatInterval: WORKER_HEARTBEAT_INTERVAL_MS,
      // Only a process that runs a worker has SDK metrics (task slots, polls, sticky cache) worth serving.
      ...(sdkMetrics
        ? { telemetryOptions: { metrics: { prometheus: { bindAddress: sdkMetrics.bindAddress } } } }
        : {}),
    });
  } catch (err) {
    // The exporter binds its port inside install: a port in use fails here, before anything has started.
    if (sdkMetrics && err instanceof Error && /prometheus/i.test(err.message)) {
      throw new SdkMetricsUnavailableError(
        `QUELL_SDK_METRICS_ADDRESS=${sdkMetrics.bindAddress}: ${err.message}. Choose a free port, or unset it to serve no SDK metrics.`,
      );
    }
    throw err;
  }
  // Configuration errors stop start-up before anything starts: API auth (production refuses to run without
  // tokens), then preparation (a bad playbook names its file and field).
  const auth = opts.components.api
    ? loadAuthConfig(process.env, { production: config.env === 'production' })
    : undefined;
  // Payload encryption (QUELL_ENCRYPTION_KEY): the same codec on the worker, the API's client and the audit views.
  const codec = codecFromEnv();
  const dataConverter = codec ? encryptionDataConverter(codec) : undefined;
  const signer = opts.components.api ? signerFromEnv() : undefined;
  const apiSettings = opts.components.api ? loadApiSettings(process.env) : undefined;
  const slack = opts.components.api ? loadSlackInteractionsConfig(process.env) : undefined;
  const incidentIds = opts.components.api
    ? incidentIdDeriverFromEnv(process.env, { encryptionEnabled: codec !== undefined })
    : undefined;
  const catalogue = loadCatalogue(config.actionFiles);
  if (config.actionFiles.length)
    report(
      `Loaded catalogue actions from QUELL_ACTIONS: ${catalogue.names().slice(BUILTIN_CATALOGUE.definitions.length).join(', ')}`,
    );
  const playbooks = await loadPlaybooks(config.playbooksDir, catalogue);
  report(
    `Loaded ${playbooks.playbooks.length} playbooks from ${config.playbooksDir}: ${playbooks.playbooks.map((p) => p.playbook.id).join(', ')}`,
  );
  // The embedded UI starts before the API listens, so its codec endpoint is the API's configured address.
  const uiCodecEndpoint = opts.components.api ? codecEndpointForUi(config.api) : undefined;
  if (
    opts.components.api &&
    !uiCodecEndpoint &&
    config.temporal.kind === 'embedded' &&
    !config.temporal.headless
  )
    report('QUELL_API_PORT is 0 (chosen at start): the Temporal UI is started without a codec endpoint.');
  const temporal = await provisionTemporal(config, {
    retentionDays: 30,
    ...(uiCodecEndpoint ? { uiCodecEndpoint } : {}),
    ...opts.provision,
    report,
  });
  // Registered after Temporal is up (nothing to trace before), and shut down last, so the spans of the drained
  // requests and activities are exported.
  const role: ProcessRole = opts.components.api ? (opts.components.worker ? 'all-in-one' : 'api') : 'worker';
  const tracing = tracingFromConfig(config.tracing, role);
  const cleanups: (() => Promise<void>)[] = [
    ...(tracing ? [() => tracing.shutdown()] : []),
    () => temporal.stop(),
  ];
  const runCleanups = async () => {
    for (const fn of cleanups.splice(0).reverse()) {
      await fn().catch((err: unknown) => logger.warn({ err }, 'error during shutdown'));
    }
  };
  try {
    // The API's client: five tries (about 2 s) when Temporal is unavailable, then a 503 the sender retries.
    const client = await connectClient(temporal, {
      maxAttempts: 5,
      closeGraceMs: config.shutdownGraceMs,
      ...(dataConverter ? { dataConverter } : {}),
      ...(tracing ? { interceptors: tracing.clientInterceptors() } : {}),
    });
    cleanups.push(() => client.connection.close());
    let worker: Worker | undefined;
    let nativeConnection: NativeConnection | undefined;
    let workerDone: Promise<void> = new Promise(() => undefined);
    let labUrl: string | undefined;
    let connectorSummary: string[] = [];
    let connectors = opts.connectors;
    if (opts.components.worker && !connectors) {
      ({ connectors, labUrl, summary: connectorSummary } = await prepareConnectors(config, logger, cleanups));
    }
    if (opts.components.worker) {
      nativeConnection = await connectWorker(temporal);
      const nc = nativeConnection;
      cleanups.push(() => nc.close());
      report(
        config.workflowBundlePath
          ? `Starting the worker (workflow bundle ${config.workflowBundlePath})...`
          : 'Bundling the workflow code and starting the worker...',
      );
      worker = await createIncidentWorker({
        connection: nativeConnection,
        namespace: temporal.namespace,
        taskQueue: config.taskQueue,
        activityDeps: { ...(connectors ? { connectors } : {}), catalogue },
        shutdownGraceTimeMs: config.shutdownGraceMs,
        tuning: config.workerTuning,
        ...(config.workflowBundlePath ? { workflowBundle: { codePath: config.workflowBundlePath } } : {}),
        ...(dataConverter ? { dataConverter } : {}),
        ...(tracing ? { tracing } : {}),
      });
      const w = worker;
      workerDone = w.run();
      cleanups.push(async () => {
        if (w.getState() === 'RUNNING') w.shutdown();
        await workerDone.catch(() => undefined);
      });
    }
    let apiUrl: string | undefined;
    const bundleOption = config.workflowBundlePath
      ? { workflowBundle: { codePath: config.workflowBundlePath } }
      : {};
    let workflowCode: ReturnType<typeof installedWorkflowCode> | undefined;
    if (opts.components.api) {
      const incidents = new IncidentService(client, config.taskQueue, playbooks, logger, {
        redactSearchAttributes: codec !== undefined,
        ...(incidentIds ? { ids: incidentIds } : {}),
        workerWaitMs: config.workerWaitMs,
      });
      const app = createApp({
        client,
        incidents,
        taskQueue: config.taskQueue,
        logger,
        auth: auth!,
        ...(tracing ? { tracer: tracing.tracer } : {}),
        audit: createAuditService(client, {
          ...(codec ? { codec } : {}),
          ...(signer ? { signer } : {}),
          ...(connectors ? { evidenceStore: connectors.evidence } : {}),
          // Bundles record the workflow code that replays them; bundling takes seconds, so once, on first export.
          workflowCode: async () => ({
            ...(await (workflowCode ??= installedWorkflowCode(bundleOption))),
            embed: true,
          }),
        }),
        ...apiSettings,
        consoleRouter: consoleRouter(await buildConsoleAssets(), {
          ...(auth?.oidc ? { signIn: auth.oidc.consoleSignIn.bind(auth.oidc) } : {}),
        }),
        // The lab's Slack answers at its own response_url, so when Quell runs the lab it may post there too.
        codecServer: {
          ...(codec ? { codec } : {}),
          namespace: temporal.namespace,
          corsOrigins: codecCorsOrigins(config.api, temporal),
        },
        ...(slack
          ? {
              slack: labUrl
                ? { ...slack, responseUrlAllowList: [...slack.responseUrlAllowList, `${labUrl}/slack/`] }
                : slack,
            }
          : {}),
      });
      let draining = false;
      const server = createApiServer((req, res) => {
        // While draining, each answer closes its keep-alive connection, so shutdown waits only for requests
        // in flight, not for idle clients to hang up.
        if (draining) res.setHeader('Connection', 'close');
        app(req, res);
      }, apiSettings?.http);
      const addr = await listen(server, config.api.host, config.api.port);
      apiUrl = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
      cleanups.push(async () => {
        await new Promise<void>((resolve) => {
          draining = true;
          server.close(() => resolve());
          server.closeIdleConnections();
          // In-flight requests get the grace period, then their sockets are closed.
          setTimeout(() => server.closeAllConnections(), config.shutdownGraceMs).unref();
        });
        // Decisions acknowledged to Slack but not yet made still need the client (bounded by the grace period).
        await Promise.race([
          settleBackgroundWork(app),
          new Promise((r) => setTimeout(r, config.shutdownGraceMs).unref()),
        ]);
        // Before the worker drains, so the calls of requests still running can complete; from here on the
        // client issues and retries nothing (its own cleanup later finds it closed).
        await client.connection.close();
      });
    }
    return {
      temporal,
      ...(auth ? { auth } : {}),
      ...(labUrl ? { labUrl } : {}),
      connectorSummary,
      client,
      ...(worker ? { worker } : {}),
      ...(worker && config.sdkMetrics ? { sdkMetricsUrl: sdkMetricsUrl(config.sdkMetrics) } : {}),
      ...(apiUrl ? { apiUrl } : {}),
      ...(codec ? { encryptionKeyId: codec.activeKeyId } : {}),
      ...(slack ? { slackUsers: slack.users.size } : {}),
      ...(tracing && config.tracing
        ? {
            tracing: {
              serviceName: tracing.serviceName,
              tracesUrl: withoutUserInfo(config.tracing.tracesUrl),
            },
          }
        : {}),
      stop: runCleanups,
      workerDone,
    };
  } catch (err) {
    await runCleanups();
    throw err;
  }
}

/** A URL as the banner may print it: a password in it would end up in every log of the start-up. */
function withoutUserInfo(url: string): string {
  const u = new URL(url);
  u.username = '';
  u.password = '';
  return u.toString();
}

/** Where to scrape the SDK's exporter: this host's name when it listens on every interface (nobody dials 0.0.0.0). */
function sdkMetricsUrl({ host, port }: { host: string; port: number }): string {
  const dialHost = listensEverywhere(host) ? os.hostname() : host.includes(':') ? `[${host}]` : host;
  return `http://${dialHost}:${port}/metrics`;
}

/**
 * `<API URL>/api/v1/codec` as a browser on this machine reaches it (a wildcard listen address becomes
 * `localhost`), or undefined when the port is only chosen at listen time (QUELL_API_PORT=0).
 */
export function codecEndpointForUi(api: QuellConfig['api']): string | undefined {
  if (api.port === 0) return undefined;
  const host = api.host === '0.0.0.0' || api.host === '::' ? 'localhost' : api.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${api.port}/api/v1/codec`;
}

/**
 * Who may call the codec routes from a browser: QUELL_CODEC_CORS_ORIGINS, else the UI of the dev server this
 * process runs (under both loopback names: the browser's Origin is whatever the user typed), else nobody.
 */
export function codecCorsOrigins(
  api: QuellConfig['api'],
  temporal: Pick<ProvisionedTemporal, 'kind' | 'uiUrl'>,
): string[] {
  if (api.codecCorsOrigins) return api.codecCorsOrigins;
  if (temporal.kind === 'external' || !temporal.uiUrl) return [];
  const ui = new URL(temporal.uiUrl);
  const aliases =
    ui.hostname === '127.0.0.1' || ui.hostname === 'localhost' ? ['127.0.0.1', 'localhost'] : [];
  return [
    ui.origin,
    ...aliases
      .filter((h) => h !== ui.hostname)
      .map((h) => `${ui.protocol}//${h}${ui.port ? `:${ui.port}` : ''}`),
  ];
}

/**
 * Chooses the connectors from the environment. When any capability uses the built-in lab estate and
 * QUELL_LAB_URL does not point at one elsewhere, this process runs it (state persisted under the data dir).
 */
async function prepareConnectors(
  config: QuellConfig,
  logger: Logger,
  cleanups: (() => Promise<void>)[],
): Promise<{ connectors: Connectors; labUrl?: string; summary: string[] }> {
  // Read and checked once, before anything starts.
  const plan = planConnectors(process.env, {
    dataDir: config.dataDir,
    labUrl: `http://${config.lab.host}:${config.lab.port || 8081}`,
  });
  let labUrl: string | undefined;
  if (plan.config.usesLab && !process.env.QUELL_LAB_URL) {
    const lab = await startLabServer({
      host: config.lab.host,
      port: config.lab.port,
      dataDir: config.dataDir,
    });
    cleanups.push(() => lab.stop());
    labUrl = lab.url;
  }
  const resolved = labUrl ? plan.at(labUrl) : plan.config;
  const connectors = buildConnectors(resolved, logger.child({ component: 'connectors' }));
  return { connectors, ...(labUrl ? { labUrl } : {}), summary: describeConnectors(resolved) };
}
