import { Command, Option } from 'commander';
import path from 'node:path';
import { demoTokenBanner, firstAlertHint } from '../api/auth';
import { SigningKeyError } from '../audit/bundle';
import { PlaybookError } from '../playbooks/loader';
import { EncryptionConfigError } from '../temporal/codec';
import { registerAuditCommands } from './audit-commands';
import { ConfigError, loadConfig, projectRoot } from '../config';
import { createLogger } from '../logging';
import { startQuell } from '../runtime';
import { locateTemporalCli, TemporalCliUnavailableError } from '../temporal/cli-binary';
import { DevServerStartError } from '../temporal/dev-server';

const report = (message: string) => process.stderr.write(`quell: ${message}\n`);

/** Known start-up failures print their message (which says what to do) instead of a stack trace. */
function fail(err: unknown): never {
  if (
    err instanceof ConfigError ||
    err instanceof TemporalCliUnavailableError ||
    err instanceof DevServerStartError ||
    err instanceof EncryptionConfigError ||
    err instanceof SigningKeyError ||
    err instanceof PlaybookError
  ) {
    process.stderr.write(`quell: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`quell: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}

async function runService(components: { worker: boolean; api: boolean }): Promise<void> {
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

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      report(`${signal} again: exiting now.`);
      process.exit(130);
    }
    stopping = true;
    report(`${signal} received: draining the API and the worker, then stopping Temporal...`);
    quell
      .stop()
      .then(() => {
        report('stopped cleanly.');
        process.exit(0);
      })
      .catch((err: unknown) => fail(err));
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  quell.workerDone.then(
    () => {
      if (!stopping) {
        report('the worker stopped unexpectedly; shutting down.');
        void quell.stop().finally(() => process.exit(1));
      }
    },
    (err: unknown) => {
      logger.fatal({ err }, 'worker failed');
      void quell.stop().finally(() => process.exit(1));
    },
  );
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
    .action(() => runService({ worker: true, api: true }));
  program
    .command('worker')
    .description('Run only a worker (scale out by running more); needs TEMPORAL_ADDRESS.')
    .action(() => runService({ worker: true, api: false }));
  program
    .command('api')
    .description('Run only the HTTP API; needs TEMPORAL_ADDRESS.')
    .action(() => runService({ worker: false, api: true }));

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
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    fail(err);
  }
}
