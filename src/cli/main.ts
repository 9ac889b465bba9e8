import { Command, Option } from 'commander';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { demoTokenBanner, firstAlertHint } from '../api/auth';
import { UserFixableError } from '../errors';
import { registerAuditCommands } from './audit-commands';
import { registerPlaybookCommands } from './playbook-commands';
import { ConfigError, loadConfig, projectRoot } from '../config';
import { createLogger } from '../logging';
import { startQuell } from '../runtime';
import { describeWorkerTuning } from '../worker';
import { locateTemporalCli, TemporalCliUnavailableError } from '../temporal/cli-binary';
import { TemporalUnreachableError } from '../temporal/connection';
import { listensEverywhere, parsePostgresUrl, pickServerPorts } from '../temporal/postgres-server';
import { runTemporalOnPostgres } from '../temporal/postgres-temporal';
import { locateTemporalServer, serverCacheDir, TEMPORAL_SERVER_VERSION } from '../temporal/server-binary';

const report = (message: string) => process.stderr.write(`quell: ${message}\n`);

/** How a command stopped by a signal exits: 128 + the signal's number, as a shell reports it. */
const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
type StopSignal = keyof typeof SIGNAL_EXIT_CODES;

/**
 * What SIGINT and SIGTERM do: exit at once, non-zero. Right for a one-shot command and for a service still
 * starting (it has accepted nothing yet; an embedded dev server is stopped by its guardian). A running service
 * replaces it with its draining stop.
 */
let onStopSignal = (signal: StopSignal): void => {
  report(`${signal} received: stopping.`);
  process.exit(SIGNAL_EXIT_CODES[signal]);
};

/** Known start-up failures print their message (which says what to do) instead of a stack trace. */
function fail(err: unknown): never {
  if (err instanceof TemporalUnreachableError) {
    process.stderr.write(`quell: ${err.message}\n`);
    process.exit(1);
  }
  if (err instanceof UserFixableError) {
    process.stderr.write(`quell: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`quell: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}

/** Runs a service until it stops; resolves with the exit code (0 after a signal and a clean drain). */
async function runService(components: { worker: boolean; api: boolean }): Promise<number> {
  const config = loadConfig();
  if (config.temporal.kind === 'embedded' && !(components.worker && components.api)) {
    throw new ConfigError(
      'Running only the worker or only the API needs a shared Temporal server: set TEMPORAL_ADDRESS or a ' +
        'TEMPORAL_PROFILE with an address (or use `quell start` to run everything on an embedded dev server).',
    );
  }
  const logger = createLogger(config.logLevel);
  const quell = await startQuell({ config, logger, report, components });
  const lines = [
    '',
    'Quell is running.',
    `  Temporal:    ${quell.temporal.address} (namespace ${quell.temporal.namespace}, ${quell.temporal.kind}` +
      // A default temporal.toml can make Quell external without any variable: the banner says where from.
      (config.temporal.kind === 'external' && config.temporal.profile
        ? `, temporal.toml profile ${config.temporal.profile})`
        : ')'),
    ...(quell.temporal.uiUrl ? [`  Temporal UI: ${quell.temporal.uiUrl}`] : []),
    ...(quell.worker
      ? [
          `  Worker:      polling task queue "${config.taskQueue}" (${describeWorkerTuning(quell.worker)}; QUELL_WORKER_* to tune)`,
        ]
      : []),
    ...(quell.sdkMetricsUrl
      ? [`  SDK metrics: ${quell.sdkMetricsUrl}  (the worker's temporal_* metrics)`]
      : []),
    ...(quell.labUrl
      ? [`  Lab estate:  ${quell.labUrl}/lab/state  (built-in stand-in for EDR, IdP, firewall and chat)`]
      : []),
    ...quell.connectorSummary.map((line) => `  ${line}`),
    ...(quell.tracing
      ? [`  Tracing:     OTLP to ${quell.tracing.tracesUrl} as service "${quell.tracing.serviceName}"`]
      : []),
    ...(quell.apiUrl
      ? [
          `  API:         ${quell.apiUrl}  (health ${quell.apiUrl}/healthz, readiness ${quell.apiUrl}/readyz)`,
          `  Codec:       ${quell.apiUrl}/api/v1/codec  (` +
            (quell.encryptionKeyId
              ? `payloads encrypted with key "${quell.encryptionKeyId}"; the Temporal UI decodes them here with a responder or auditor token)`
              : 'payload encryption off: payloads pass through unchanged; set QUELL_ENCRYPTION_KEY to encrypt)'),
          `  Console:     ${quell.apiUrl}/console/  (sign in with an API token${quell.auth?.oidc?.settings.clientId ? ' or single sign-on' : ''})`,
          ...(quell.auth?.oidc
            ? [
                `  Sign-in:     API tokens, and bearer JWTs from ${quell.auth.oidc.settings.issuer}` +
                  (quell.auth.oidc.settings.clientId
                    ? `; console single sign-on as client ${quell.auth.oidc.settings.clientId} (redirect URI ${quell.apiUrl}/console/)`
                    : ''),
              ]
            : []),
          quell.slackUsers !== undefined
            ? `  Slack:       approvals by ${quell.slackUsers} mapped user(s) at ${quell.apiUrl}/api/v1/integrations/slack/interactions`
            : '  Slack:       approvals off (set QUELL_SLACK_SIGNING_SECRET and QUELL_SLACK_USERS; see the README)',
          ...(quell.auth ? demoTokenBanner(quell.auth) : []),
          ...firstAlertHint(
            quell.apiUrl,
            quell.auth,
            path.join(projectRoot(), 'samples', 'alerts', 'generic-ransomware.json'),
          ),
        ]
      : []),
    'Press Ctrl-C to stop.',
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');

  return new Promise<number>((resolve) => {
    let stopping: Promise<void> | undefined;
    let exitCode = 0;
    const stop = (code: number, done?: string) => {
      exitCode = Math.max(exitCode, code);
      stopping ??= quell.stop().then(
        () => {
          if (done) report(done);
          resolve(exitCode);
        },
        (err: unknown) => fail(err),
      );
    };
    onStopSignal = (signal) => {
      if (stopping) {
        report(`${signal} again: exiting now.`);
        process.exit(SIGNAL_EXIT_CODES[signal]);
      }
      report(`${signal} received: draining the API and the worker, then stopping Temporal...`);
      stop(0, 'stopped cleanly.');
    };
    quell.workerDone.then(
      () => {
        if (stopping) return;
        report('the worker stopped unexpectedly; shutting down.');
        stop(1);
      },
      (err: unknown) => {
        logger.fatal({ err }, 'worker failed');
        stop(1);
      },
    );
  });
}

/** Retention of closed workflows in a namespace `quell temporal serve` creates (as docker-compose.yml does). */
const SERVE_RETENTION_DAYS = 30;

const POSTGRES_URL_EXAMPLE = 'QUELL_TEMPORAL_POSTGRES_URL=postgres://temporal:secret@db.internal:5432';

/**
 * `quell temporal serve`: the PostgreSQL-backed Temporal Server in the foreground until a signal stops it;
 * resolves with the exit code (0 after a signal and a clean stop, 1 when the server dies on its own).
 */
async function serveTemporal(): Promise<number> {
  const config = loadConfig();
  const settings = config.temporalServer;
  if (!settings.postgresUrl) {
    throw new ConfigError(
      `quell temporal serve needs QUELL_TEMPORAL_POSTGRES_URL, the PostgreSQL Temporal stores its data in, e.g. ${POSTGRES_URL_EXAMPLE}`,
    );
  }
  if (!net.isIP(settings.ip)) {
    throw new ConfigError(
      `QUELL_TEMPORAL_IP must be an IP address for quell temporal serve (got "${settings.ip}"), e.g. 127.0.0.1 or 0.0.0.0.`,
    );
  }
  const postgres = parsePostgresUrl(settings.postgresUrl);
  const binaries = await locateTemporalServer({ dir: serverCacheDir(settings.cacheDir), report });
  report(`Temporal Server ${binaries.version} (${binaries.source}): ${binaries.server}`);
  report(`Applying the Temporal schema on PostgreSQL ${postgres.host}:${postgres.port}...`);
  await fs.mkdir(settings.dir, { recursive: true });
  const server = await runTemporalOnPostgres({
    binaries,
    postgres,
    dir: settings.dir,
    namespace: settings.namespace,
    retentionDays: SERVE_RETENTION_DAYS,
    ip: settings.ip,
    ports: await pickServerPorts(settings.port),
    logLevel: settings.logLevel,
    report,
  });
  // Bound to every interface, the frontend is reached by this host's name, not by 0.0.0.0.
  const advertised = listensEverywhere(settings.ip)
    ? `${os.hostname()}:${server.ports.frontend}`
    : server.address;
  const quellEnv = `TEMPORAL_ADDRESS=${advertised}${settings.namespace === 'default' ? '' : ` TEMPORAL_NAMESPACE=${settings.namespace}`}`;
  const lines = [
    '',
    `Temporal Server ${binaries.version} is running on PostgreSQL.`,
    `  Temporal:    ${server.address} (namespace ${settings.namespace}; listening on ${settings.ip})`,
    `  PostgreSQL:  ${postgres.host}:${postgres.port} (user ${postgres.user}; databases temporal, temporal_visibility)`,
    `  Server log:  ${server.logFile}`,
    `  Config:      ${path.join(settings.dir, 'config', 'development.yaml')}`,
    `  Metrics:     ${server.metricsUrl}`,
    'Run Quell against it (as many workers as you need, on any host that reaches this address):',
    `  ${quellEnv} quell worker`,
    `  ${quellEnv} quell api`,
    'Press Ctrl-C to stop.',
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');

  // The server runs under an unref'd guardian: without this, Node would see nothing left to do and exit.
  const keepAlive = setInterval(() => undefined, 60_000);
  return new Promise<number>((resolve) => {
    let stopping = false;
    onStopSignal = (signal) => {
      if (stopping) {
        report(`${signal} again: exiting now.`);
        process.exit(SIGNAL_EXIT_CODES[signal]);
      }
      stopping = true;
      report(`${signal} received: stopping Temporal Server...`);
      server.stop().then(
        () => {
          clearInterval(keepAlive);
          report('stopped cleanly.');
          resolve(0);
        },
        (err: unknown) => fail(err),
      );
    };
    void server.exited().then(() => {
      if (stopping) return;
      clearInterval(keepAlive);
      report(`Temporal Server exited on its own; see ${server.logFile}.`);
      resolve(1);
    });
  });
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('quell')
    .description('Security incident response orchestrator on Temporal.')
    .showHelpAfterError()
    .addHelpText(
      'after',
      '\nEnvironment: see README.md ("Configuration"). With no TEMPORAL_ADDRESS, `quell start` runs an embedded\n' +
        'Temporal dev server with its data under QUELL_DATA_DIR (default ./data).',
    );

  program
    .command('start')
    .description(
      'Run everything: Temporal (embedded unless TEMPORAL_ADDRESS is set), a worker and the HTTP API.',
    )
    .action(async () => {
      process.exitCode = await runService({ worker: true, api: true });
    });
  program
    .command('worker')
    .description('Run only a worker (scale out by running more); needs TEMPORAL_ADDRESS.')
    .action(async () => {
      process.exitCode = await runService({ worker: true, api: false });
    });
  program
    .command('api')
    .description('Run only the HTTP API; needs TEMPORAL_ADDRESS.')
    .action(async () => {
      process.exitCode = await runService({ worker: false, api: true });
    });

  const temporal = program.command('temporal').description('Manage the Temporal server Quell uses.');
  temporal
    .command('provision')
    .description(
      'Find the Temporal CLI (TEMPORAL_CLI_PATH, PATH, cache) or build it with Go, and print its path.',
    )
    .addOption(new Option('--quiet', 'print only the path(s)'))
    .addOption(
      new Option(
        '--server',
        `also build Temporal Server ${TEMPORAL_SERVER_VERSION} and its SQL schema tool (what \`quell temporal serve\` runs) and print the server's path`,
      ),
    )
    .action(async (opts: { quiet?: boolean; server?: boolean }) => {
      const config = loadConfig();
      const progress = opts.quiet ? () => undefined : report;
      if (config.temporal.kind !== 'embedded') {
        report(`Temporal is external (${config.temporal.address}): no Temporal CLI to provision.`);
      } else {
        const cli = await locateTemporalCli({
          ...(config.temporal.cliPath ? { cliPath: config.temporal.cliPath } : {}),
          cacheDir: config.temporal.cacheDir,
          report: progress,
        });
        if (!cli) {
          throw new TemporalCliUnavailableError(
            'No Temporal CLI found and Go is not installed; `quell start` would fall back to the SDK download (needs internet).',
          );
        }
        if (!opts.quiet) report(`${cli.version} (${cli.source})`);
        process.stdout.write(`${cli.path}\n`);
      }
      if (opts.server) {
        // Built whether or not TEMPORAL_ADDRESS is set: the host that serves Temporal may have it set for Quell.
        const server = await locateTemporalServer({
          dir: serverCacheDir(config.temporalServer.cacheDir),
          report: progress,
        });
        if (!opts.quiet) report(`Temporal Server ${server.version} (${server.source})`);
        process.stdout.write(`${server.server}\n`);
      }
    });
  temporal
    .command('serve')
    .description(
      `Run Temporal Server ${TEMPORAL_SERVER_VERSION} on your PostgreSQL (QUELL_TEMPORAL_POSTGRES_URL) in the foreground: a production Temporal without Docker.`,
    )
    .addHelpText(
      'after',
      [
        '',
        `What it does, on every start (each step is safe to repeat):`,
        `  1. finds Temporal Server ${TEMPORAL_SERVER_VERSION} in the cache, or builds it with Go (once, minutes;`,
        '     `quell temporal provision --server` builds it ahead of time);',
        '  2. creates the temporal and temporal_visibility databases if missing and brings their schemas up to date;',
        '  3. starts the server (all roles in one process; config and log in $QUELL_DATA_DIR/temporal-server/);',
        `  4. creates the namespace (TEMPORAL_NAMESPACE, default "default", ${SERVE_RETENTION_DAYS}-day retention) and Quell's search attributes;`,
        '  5. prints the address for `quell worker` and `quell api`, and runs until Ctrl-C or SIGTERM, which stop the',
        '     server cleanly (exit 0).',
        '',
        'Environment:',
        '  QUELL_TEMPORAL_POSTGRES_URL  required: postgres://user:password@host:5432, a user that may create databases.',
        '                               An environment variable and not an option on purpose: every user of the',
        '                               host can read a command line (ps), and this one carries the password.',
        '  QUELL_TEMPORAL_IP            interface to listen on (default 127.0.0.1; 0.0.0.0 for workers on other hosts)',
        '  QUELL_TEMPORAL_PORT          frontend gRPC port (default 7233); the internal roles take free ports',
        '  QUELL_DATA_DIR, TEMPORAL_NAMESPACE, QUELL_TEMPORAL_LOG_LEVEL, QUELL_TEMPORAL_CACHE_DIR',
        '',
        'Example:',
        `  ${POSTGRES_URL_EXAMPLE} quell temporal serve`,
        '  TEMPORAL_ADDRESS=127.0.0.1:7233 quell worker     # as many as you need',
        '  TEMPORAL_ADDRESS=127.0.0.1:7233 quell api',
      ].join('\n'),
    )
    .action(async () => {
      process.exitCode = await serveTemporal();
    });
  registerAuditCommands(program);
  registerPlaybookCommands(program);
  return program;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  for (const signal of Object.keys(SIGNAL_EXIT_CODES) as StopSignal[]) {
    process.on(signal, () => onStopSignal(signal));
  }
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    fail(err);
  }
  // Exit explicitly once the command is done: an installed Temporal runtime (replay) would keep the process alive.
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(process.exitCode ?? 0);
}
