import { Command, Option } from 'commander';
import path from 'node:path';
import { demoTokenBanner, firstAlertHint } from '../api/auth';
import { UserFixableError } from '../errors';
import { registerAuditCommands } from './audit-commands';
import { ConfigError, loadConfig, projectRoot } from '../config';
import { createLogger } from '../logging';
import { startQuell } from '../runtime';
import { locateTemporalCli, TemporalCliUnavailableError } from '../temporal/cli-binary';
import { TemporalUnreachableError } from '../temporal/connection';

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
      'Running only the worker or only the API needs a shared Temporal server: set TEMPORAL_ADDRESS ' +
        '(or use `quell start` to run everything on an embedded dev server).',
    );
  }
  const logger = createLogger(config.logLevel);
  const quell = await startQuell({ config, logger, report, components });
  const lines = [
    '',
    'Quell is running.',
    `  Temporal:    ${quell.temporal.address} (namespace ${quell.temporal.namespace}, ${quell.temporal.kind})`,
    ...(quell.temporal.uiUrl ? [`  Temporal UI: ${quell.temporal.uiUrl}`] : []),
    ...(quell.worker ? [`  Worker:      polling task queue "${config.taskQueue}"`] : []),
    ...(quell.labUrl
      ? [`  Lab estate:  ${quell.labUrl}/lab/state  (built-in stand-in for EDR, IdP, firewall and chat)`]
      : []),
    ...quell.connectorSummary.map((line) => `  ${line}`),
    ...(quell.apiUrl
      ? [
          `  API:         ${quell.apiUrl}  (health ${quell.apiUrl}/healthz, readiness ${quell.apiUrl}/readyz)`,
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
    .addOption(new Option('--quiet', 'print only the path'))
    .action(async (opts: { quiet?: boolean }) => {
      const config = loadConfig();
      if (config.temporal.kind !== 'embedded') {
        report(`TEMPORAL_ADDRESS is set (${config.temporal.address}): nothing to provision.`);
        return;
      }
      const cli = await locateTemporalCli({
        ...(config.temporal.cliPath ? { cliPath: config.temporal.cliPath } : {}),
        cacheDir: config.temporal.cacheDir,
        report: opts.quiet ? () => undefined : report,
      });
      if (!cli) {
        throw new TemporalCliUnavailableError(
          'No Temporal CLI found and Go is not installed; `quell start` would fall back to the SDK download (needs internet).',
        );
      }
      if (!opts.quiet) report(`${cli.version} (${cli.source})`);
      process.stdout.write(`${cli.path}\n`);
    });
  registerAuditCommands(program);
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
