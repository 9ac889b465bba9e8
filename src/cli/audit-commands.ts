/**
 * `quell history export`, `quell replay`, `quell audit export|verify|timeline|report`.
 *
 * Wiring (src/cli/main.ts): `registerAuditCommands(program)` (defaults read the environment) or
 * `registerAuditCommands(program, deps)` to inject a client, streams or a prebuilt workflow bundle (tests).
 * The commands that read incidents connect to the Temporal server named by TEMPORAL_ADDRESS (plus
 * TEMPORAL_NAMESPACE / TLS / API key settings) with the payload encryption of QUELL_ENCRYPTION_KEY, when set.
 * Replaying files needs no server.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { WorkflowBundleOption } from '@temporalio/worker';
import { type Command, Option } from 'commander';
import { ConfigError, loadConfig } from '../config';
import { UserFixableError } from '../errors';
import {
  formatVerifyResult,
  PUBLIC_KEY_ENV,
  readBundle,
  readPublicKey,
  SIGNING_KEY_ENV,
  signerFromEnv,
  verifyBundle,
  writeBundle,
} from '../audit/bundle';
import {
  AmbiguousIncidentIdError,
  decryptExport,
  exportIncidentHistory,
  writeHistoryExport,
  writeRunFiles,
  type ExportedRun,
} from '../audit/history';
import {
  ALL_INCIDENTS_QUERY,
  defaultReplayJobs,
  formatReplaySummary,
  historiesFromFiles,
  historiesFromQuery,
  historiesOfIncident,
  installQuietRuntime,
  listHistoryFiles,
  replayHistories,
  type ReplayItem,
  type ReplaySummary,
} from '../audit/replay';
import { installedWorkflowCode } from '../audit/installed-code';
import { buildAuditBundle, loadIncidentAudit, reportOf, timelineDocument } from '../audit/service';
import { renderReportMarkdown } from '../audit/report';
import { formatTimelineLine } from '../audit/timeline';
import { IncidentNotFoundError, TemporalUnavailableError } from '../incidents/errors';
import { isTemporalUnavailable } from '../temporal/errors';
import { codecFromEnv, encryptionDataConverter, ENCRYPTION_KEY_ENV } from '../temporal/codec';
import { connectClient, TemporalUnreachableError } from '../temporal/connection';

export interface AuditCommandDeps {
  /**
   * Opens the client the incident commands use. Default: from the environment (`loadConfig()`), which must
   * name an external server (TEMPORAL_ADDRESS), with the encryption data converter when QUELL_ENCRYPTION_KEY
   * is set. Closed by the command when it is done.
   */
  connect?: () => Promise<Client>;
  /** Environment for QUELL_ENCRYPTION_KEY and QUELL_AUDIT_SIGNING_KEY (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /**
   * The workflow code replay checks against and `audit export` names (default: QUELL_WORKFLOW_BUNDLE's file,
   * else `workflows/`, bundled at run time).
   */
  workflowBundle?: WorkflowBundleOption;
  stdout?: { write(s: string): boolean };
  stderr?: { write(s: string): boolean; isTTY?: boolean; columns?: number };
  /** Receives the exit code of a failed check (default: sets `process.exitCode`). */
  setExitCode?: (code: number) => void;
  /** Install a quiet Temporal runtime before replaying (default true; tests that installed one pass false). */
  installRuntime?: boolean;
}

/** Thrown for usage and configuration problems the user can fix; main.ts prints the message (exit 2). */
export class AuditCommandError extends ConfigError {}

function dataConverterOf(env: NodeJS.ProcessEnv): DataConverter | undefined {
  const codec = codecFromEnv(env);
  return codec ? encryptionDataConverter(codec) : undefined;
}

/**
 * The default `connect`: TEMPORAL_ADDRESS and friends, with QUELL_ENCRYPTION_KEY's data converter.
 * Thrown: TemporalUnreachableError (src/temporal/connection.ts) when nothing answers within its connect timeout.
 */
export async function connectFromEnvironment(env: NodeJS.ProcessEnv = process.env): Promise<Client> {
  const config = loadConfig(env);
  const dataConverter = dataConverterOf(env);
  const opts = dataConverter ? { dataConverter } : {};
  if (config.temporal.kind === 'external') return connectClient(config.temporal, opts);
  // No address (TEMPORAL_ADDRESS or a profile's): the embedded dev server a running `quell start` provides.
  return connectClient(
    { address: `${config.temporal.ip}:${config.temporal.port}`, namespace: config.temporal.namespace },
    {
      ...opts,
      unreachableHint:
        'Start Quell (`npm start`), or set TEMPORAL_ADDRESS (or TEMPORAL_PROFILE) to the Temporal server the ' +
        'incidents run on.',
    },
  );
}

const ENCRYPTION_HELP =
  `\nEncrypted payloads are decrypted with ${ENCRYPTION_KEY_ENV} (<keyId>:<base64 32-byte key>[,...]); without ` +
  'the key the command stops and names the key ID it needs.';
const CONNECTION_HELP =
  '\nConnects to Temporal as `quell worker` does (TEMPORAL_ADDRESS or a TEMPORAL_PROFILE of TEMPORAL_CONFIG_FILE, ' +
  'TEMPORAL_NAMESPACE, TEMPORAL_TLS*, TEMPORAL_API_KEY, TEMPORAL_GRPC_META_*).';

/**
 * Registers the audit commands on the `quell` program. See {@link AuditCommandDeps}; with no deps everything
 * comes from the environment.
 */
export function registerAuditCommands(program: Command, deps: AuditCommandDeps = {}): void {
  const ctx = commandContext(deps);
  registerHistoryExport(program, ctx);
  registerReplay(program, ctx);
  const audit = program
    .command('audit')
    .description('Audit trails: tamper-evident bundles, timelines, reports.');
  registerAuditExport(audit, ctx);
  registerAuditVerify(audit, ctx);
  registerAuditTimeline(audit, ctx);
  registerAuditReport(audit, ctx);
}

/** What every audit command shares: its streams, exit code, Temporal connection, codec and error guard. */
function commandContext(deps: AuditCommandDeps) {
  const env = deps.env ?? process.env;
  const out = deps.stdout ?? process.stdout;
  const err = deps.stderr ?? process.stderr;
  const say = (s: string) => err.write(s.endsWith('\n') ? s : `${s}\n`);
  const setExitCode = deps.setExitCode ?? ((code: number) => (process.exitCode = code));
  const connect = deps.connect ?? (() => connectFromEnvironment(env));
  const withClient = async <T>(fn: (client: Client) => Promise<T>): Promise<T> => {
    const client = await connect();
    try {
      return await fn(client);
    } finally {
      await client.connection.close().catch(() => undefined);
    }
  };
  const codec = () => codecFromEnv(env);
  /** Known failures print one clear line (no stack) and exit 1; anything else goes to main's handler. */
  const guard =
    <A extends unknown[]>(fn: (...args: A) => Promise<void>) =>
    async (...args: A): Promise<void> => {
      try {
        await fn(...args);
      } catch (e) {
        // Usage and configuration errors go on to main's handler (exit 2); the rest of what people can fix
        // (keys, signatures) and what Temporal answered end here with one line and exit 1.
        const known =
          (e instanceof UserFixableError && !(e instanceof ConfigError)) ||
          e instanceof IncidentNotFoundError ||
          e instanceof AmbiguousIncidentIdError ||
          e instanceof TemporalUnavailableError ||
          e instanceof TemporalUnreachableError ||
          isTemporalUnavailable(e);
        if (!known) throw e;
        say(`quell: ${(e as Error).message}`);
        setExitCode(1);
      }
    };
  return { env, out, err, say, setExitCode, connect, withClient, codec, guard, deps };
}

type CommandContext = ReturnType<typeof commandContext>;

/** `quell history export`: every run of an incident's chain, as `temporal workflow show` writes it. */
function registerHistoryExport(program: Command, ctx: CommandContext): void {
  const { out, say, withClient, codec, guard } = ctx;
  const history = program.command('history').description("Export incidents' Temporal histories.");
  history
    .command('export')
    .description(
      "Export an incident's complete history: every run of its continue-as-new chain, each in the JSON " +
        'shape `temporal workflow show --output json` writes.',
    )
    .argument('<incidentId>', 'e.g. INC-3f9a0c1d2e4b5a6f-0a1b2c')
    .option(
      '--first-run <runId>',
      'which incident, when its ID names several (the first run ID of its chain)',
    )
    .option('-o, --out <file>', 'write the export here (default: stdout)')
    .option(
      '--runs-dir <dir>',
      'also write each run as a standalone Temporal JSON file (<incidentId>-run<N>.json): replay with ' +
        '`quell replay`, `temporal workflow show`-compatible',
    )
    .option('--decrypt', `decrypt payloads with ${ENCRYPTION_KEY_ENV} (default: payloads exactly as stored)`)
    .addHelpText(
      'after',
      '\nExport file: { "format": "quell.history-export/v1", "incidentId", "workflowId", "namespace", "exportedAt",\n' +
        '  "encryption": {...}, "runs": [ { "runId", "status", "history": { "events": [...] } } ] } (first run first).' +
        CONNECTION_HELP +
        ENCRYPTION_HELP,
    )
    .action(
      guard(
        async (
          incidentId: string,
          opts: { out?: string; runsDir?: string; decrypt?: boolean; firstRun?: string },
        ) => {
          await withClient(async (client) => {
            let exported = await exportIncidentHistory(client, incidentId, {
              ...(opts.firstRun ? { firstRunId: opts.firstRun } : {}),
              onRun: (run: ExportedRun, i: number) =>
                say(`run ${i + 1}: ${run.runId} (${run.status}, ${run.history.events.length} events)`),
            });
            if (opts.decrypt) exported = await decryptExport(exported, codec());
            else if (exported.encryption.encrypted) {
              say(
                `payloads are encrypted (key ${exported.encryption.keyIds?.join(', ')}); exported as stored (--decrypt to decrypt)`,
              );
            }
            if (opts.out) {
              await writeHistoryExport(exported, opts.out);
              say(`wrote ${exported.runs.length} run(s) of ${incidentId} to ${opts.out}`);
            } else out.write(JSON.stringify(exported, null, 2) + '\n');
            if (opts.runsDir) {
              const files = await writeRunFiles(exported, opts.runsDir);
              say(`wrote ${files.length} standalone history file(s) to ${opts.runsDir}`);
            }
          });
        },
      ),
    );
}

/** `quell replay`: recorded histories against the current workflow code. */
function registerReplay(program: Command, ctx: CommandContext): void {
  const { env, out, err, say, setExitCode, withClient, guard, deps } = ctx;
  program
    .command('replay')
    .description(
      'Replay recorded histories against the CURRENT workflow code and report any nondeterminism ' +
        '(a change that would break running incidents). Exit code 1 when any history fails.',
    )
    .argument('[paths...]', 'history files or directories (Temporal JSON, history exports, audit bundles)')
    .option('--incident <incidentId>', 'replay every run of one incident, fetched from Temporal')
    .option(
      '--first-run <runId>',
      'with --incident: which incident, when its ID names several (the first run ID of its chain)',
    )
    .option('--all', 'replay every incident run visibility lists (each continue-as-new run separately)')
    .option('--query <query>', `with --all: a visibility query (default: ${ALL_INCIDENTS_QUERY})`)
    .option(
      '--jobs <n>',
      `replay processes, each replaying on about one core (default: one per CPU, at most 8: ` +
        `${defaultReplayJobs()} here); 1 replays in this process`,
    )
    .option('--json', 'print the summary as JSON on stdout')
    .addOption(
      new Option(
        '--no-progress',
        'no progress bar (drawn on stderr: redrawn in place on a terminal, a line per 10% otherwise)',
      ),
    )
    .addOption(new Option('--verbose', 'keep the Temporal SDK logs'))
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  quell replay test/histories\n' +
        '  quell replay --incident INC-3f9a0c1d2e4b5a6f-0a1b2c\n' +
        "  quell replay --all --query \"WorkflowType = 'incidentWorkflow' AND QuellStatus = 'open'\"\n" +
        '\nFor each failure: the incident, workflow, run and file, the history event (ID and type) the SDK names, ' +
        'and the error.' +
        '\n--incident and --all connect to Temporal as `quell worker` does (TEMPORAL_ADDRESS or TEMPORAL_PROFILE, ...); ' +
        'files need no server.' +
        ENCRYPTION_HELP,
    )
    .action(
      guard(
        async (
          paths: string[],
          opts: {
            incident?: string;
            all?: boolean;
            query?: string;
            json?: boolean;
            progress?: boolean;
            verbose?: boolean;
            firstRun?: string;
            jobs?: string;
          },
        ) => {
          const sources = [paths.length > 0, !!opts.incident, !!opts.all].filter(Boolean).length;
          if (sources !== 1) {
            throw new AuditCommandError(
              'replay needs exactly one of: <file|dir>..., --incident <id>, --all [--query q]',
            );
          }
          if (opts.query && !opts.all) throw new AuditCommandError('--query goes with --all');
          const jobs = opts.jobs === undefined ? undefined : parseJobs(opts.jobs);
          if ((deps.installRuntime ?? true) && !opts.verbose) installQuietRuntime();
          const dataConverter = dataConverterOf(env);
          const showBar = opts.progress !== false && !opts.json;
          const run = async (items: AsyncIterable<ReplayItem>, total?: number): Promise<ReplaySummary> =>
            replayHistories(items, {
              ...(deps.workflowBundle ? { workflowBundle: deps.workflowBundle } : {}),
              ...(dataConverter ? { dataConverter } : {}),
              ...(total !== undefined ? { total } : {}),
              ...(jobs !== undefined ? { jobs } : {}),
              ...(opts.verbose ? { sdkLogs: true } : {}),
              // Replay processes rebuild the data converter from the same QUELL_ENCRYPTION_KEY.
              env,
              // The bar prints each failure above itself; without it, print them here as they happen.
              progress: showBar ? { stream: err } : false,
              ...(!showBar && !opts.json
                ? { onResult: (_item, failure) => failure && say(`${failure.explanation}\n`) }
                : {}),
            });
          let summary: ReplaySummary;
          if (paths.length) {
            const files = await listHistoryFiles(paths);
            if (!files.length) throw new AuditCommandError(`no .json history files in ${paths.join(', ')}`);
            summary = await run(historiesFromFiles(files), files.length);
          } else if (opts.incident) {
            const id = opts.incident;
            summary = await withClient((client) =>
              run(historiesOfIncident(client, id, opts.firstRun ? { firstRunId: opts.firstRun } : {})),
            );
          } else {
            const query = opts.query ?? ALL_INCIDENTS_QUERY;
            summary = await withClient(async (client) => {
              const { count } = await client.workflow.count(query);
              return run(historiesFromQuery(client, query), count);
            });
          }
          if (opts.json) out.write(JSON.stringify(summary, null, 2) + '\n');
          else {
            // Failures were printed as they happened; the summary closes the output.
            const { failures: _f, ...rest } = summary;
            say(formatReplaySummary({ ...rest, failures: [] }));
            if (summary.failed)
              say(`${summary.failed} histor${summary.failed === 1 ? 'y' : 'ies'} failed (see above).`);
          }
          if (summary.failed > 0 || summary.replayed === 0) setExitCode(1);
        },
      ),
    );
}

/** `--jobs`: a whole number of replay processes, at least one. Thrown: AuditCommandError otherwise. */
function parseJobs(text: string): number {
  const jobs = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(jobs) || jobs < 1) {
    throw new AuditCommandError(
      `--jobs must be a whole number of replay processes, 1 or more (got "${text}")`,
    );
  }
  return jobs;
}

/** `quell audit export`: the signed, hash-chained bundle. */
function registerAuditExport(audit: Command, ctx: CommandContext): void {
  const { env, out, say, withClient, codec, guard, deps } = ctx;
  audit
    .command('export')
    .description(
      "Write an incident's tamper-evident audit bundle: its history (every run), state, timeline, evidence " +
        'manifest and report, chained by SHA-256, with a manifest signed by Ed25519 when a key is configured.',
    )
    .argument('<incidentId>')
    .option(
      '--first-run <runId>',
      'which incident, when its ID names several (the first run ID of its chain)',
    )
    .option('-o, --out <dir>', 'directory for <incidentId>.audit-bundle.json', '.')
    .option(
      '--markdown',
      'also write the report as <incidentId>.report.md next to it (not part of the bundle check)',
    )
    .addOption(
      new Option(
        '--no-embed-code',
        'name the workflow code by its SHA-256 only, without carrying it (about 2 MB); `audit verify --replay` then needs an installation with that code',
      ),
    )
    .addHelpText(
      'after',
      '\nWorkflow code: the manifest names the code the history replays against (SHA-256 of the workflow bundle, ' +
        "Quell's and the SDK's versions, the build IDs the history's workflow tasks recorded), and the bundle " +
        'carries the code itself, so `quell audit verify --replay` needs nothing else. The code is the bundle ' +
        'QUELL_WORKFLOW_BUNDLE names, else workflows/ bundled as the worker bundles it.\n' +
        `\nSigning: ${SIGNING_KEY_ENV} = an Ed25519 private key (PEM, or base64 of DER PKCS#8), e.g.\n` +
        '  openssl genpkey -algorithm ed25519 -out audit-key.pem; export ' +
        `${SIGNING_KEY_ENV}="$(cat audit-key.pem)"\n` +
        'Without it the bundle is written UNSIGNED (verify says so).\n' +
        'Check a bundle with `quell audit verify <file>`.' +
        CONNECTION_HELP +
        ENCRYPTION_HELP,
    )
    .action(
      guard(
        async (
          incidentId: string,
          opts: { out: string; markdown?: boolean; firstRun?: string; embedCode: boolean },
        ) => {
          const signer = signerFromEnv(env);
          const c = codec();
          let origin = '';
          // Asked for once the incident has loaded: bundling takes seconds, not worth it for an export that fails.
          const workflowCode = async () => {
            const installed = await installedWorkflowCode({
              ...(deps.workflowBundle ? { workflowBundle: deps.workflowBundle } : {}),
              env,
            });
            origin = installed.origin;
            return { ...installed, embed: opts.embedCode };
          };
          await withClient(async (client) => {
            const {
              bundle,
              markdown,
              audit: a,
            } = await buildAuditBundle(client, incidentId, {
              ...(c ? { codec: c } : {}),
              ...(signer ? { signer } : {}),
              ...(opts.firstRun ? { firstRunId: opts.firstRun } : {}),
              workflowCode,
            });
            const file = await writeBundle(bundle, opts.out);
            if (opts.markdown) await fs.writeFile(path.join(opts.out, `${incidentId}.report.md`), markdown);
            say(
              `wrote ${file}: ${bundle.manifest.entryCount} entries (${a.stored.runs.length} run(s), ` +
                `${a.timeline.length} timeline entries, ${a.state?.evidence.length ?? 0} evidence item(s)), head hash ${bundle.manifest.headHash}, ` +
                (bundle.manifest.signature
                  ? `signed by ${bundle.manifest.signature.keyId}`
                  : `UNSIGNED (set ${SIGNING_KEY_ENV} to sign)`),
            );
            const wc = bundle.manifest.workflowCode;
            if (wc) {
              say(
                `workflow code sha256 ${wc.sha256} (Quell ${wc.quellVersion}, SDK ${wc.sdkVersion}; ${origin}), ` +
                  (wc.entryId ? 'carried in the bundle' : 'named by hash only (--no-embed-code)'),
              );
            }
            out.write(`${file}\n`);
          });
        },
      ),
    );
}

/**
 * `quell audit verify`: the chain, the signature and the re-derived timeline; with `--replay`, the history
 * replayed against the workflow code the bundle names.
 */
function registerAuditVerify(audit: Command, ctx: CommandContext): void {
  const { env, out, setExitCode, codec, guard, deps } = ctx;
  audit
    .command('verify')
    .description(
      'Verify an audit bundle: recompute the hash chain and name the FIRST entry that was changed, removed, ' +
        'inserted or reordered; check the head hash and the Ed25519 signature (or report "unsigned"); re-derive ' +
        'the timeline from the bundled history; with --replay, replay the history against the workflow code the ' +
        'bundle names. Needs no Temporal server. Exit code 1 when anything fails.',
    )
    .argument('<bundle>', 'the bundle file (or a directory holding exactly one *.audit-bundle.json)')
    .option(
      '--public-key <key>',
      `trusted Ed25519 public key (PEM, base64 SPKI, or a file); default ${PUBLIC_KEY_ENV}`,
    )
    .option('--require-signature', 'fail unsigned bundles')
    .option(
      '--replay',
      'also replay every bundled run (Worker.runReplayHistories, offline) against the workflow code the bundle ' +
        'names: VERIFIED, or the first event that diverges',
    )
    .option(
      '--against-current',
      "with --replay: replay against this installation's workflow code even when it is not the code the bundle names (the result says so)",
    )
    .option('--json', 'print the result as JSON on stdout')
    .addHelpText(
      'after',
      '\nReplay (--replay) runs the code the bundle carries (its `workflow-code` entry, checked against the ' +
        "manifest's SHA-256) when a valid signature vouches for it (--public-key pins the signer); otherwise " +
        "this installation's code (QUELL_WORKFLOW_BUNDLE, else workflows/ bundled now) if its SHA-256 is the one " +
        'the bundle names, and fails naming both hashes if not (--against-current replays anyway). It prints ' +
        'the runs, events, code hash and Quell version replayed, or the first diverging event (ID, type, why).' +
        ENCRYPTION_HELP.replace(
          'stops',
          're-derives the timeline only with the key; otherwise it skips that check (and --replay fails) and',
        ),
    )
    .action(
      guard(
        async (
          p: string,
          opts: {
            publicKey?: string;
            requireSignature?: boolean;
            json?: boolean;
            replay?: boolean;
            againstCurrent?: boolean;
          },
        ) => {
          if (opts.againstCurrent && !opts.replay)
            throw new AuditCommandError('--against-current goes with --replay');
          const { file, doc } = await readBundle(p);
          const trusted = opts.publicKey ?? env[PUBLIC_KEY_ENV];
          const c = codec();
          if (opts.replay && (deps.installRuntime ?? true)) installQuietRuntime();
          const dataConverter = dataConverterOf(env);
          const result = await verifyBundle(doc, {
            ...(trusted ? { trustedPublicKey: await readPublicKey(trusted) } : {}),
            ...(c ? { codec: c } : {}),
            ...(opts.requireSignature ? { requireSignature: true } : {}),
            ...(opts.replay
              ? {
                  replay: {
                    currentCode: () =>
                      installedWorkflowCode({
                        ...(deps.workflowBundle ? { workflowBundle: deps.workflowBundle } : {}),
                        env,
                      }),
                    ...(opts.againstCurrent ? { againstCurrent: true } : {}),
                    ...(dataConverter ? { dataConverter } : {}),
                    env,
                  },
                }
              : {}),
          });
          result.file = file;
          if (opts.json) out.write(JSON.stringify(result, null, 2) + '\n');
          else out.write(formatVerifyResult(result) + '\n');
          if (!result.ok) setExitCode(1);
        },
      ),
    );
}

/** `quell audit timeline`: the timeline, each line citing its events. */
function registerAuditTimeline(audit: Command, ctx: CommandContext): void {
  const { out, withClient, codec, guard } = ctx;
  audit
    .command('timeline')
    .description("Print an incident's audit timeline, derived from its history (each line cites its events).")
    .argument('<incidentId>')
    .option(
      '--first-run <runId>',
      'which incident, when its ID names several (the first run ID of its chain)',
    )
    .option('--json', 'the timeline document as JSON')
    .addHelpText('after', CONNECTION_HELP + ENCRYPTION_HELP)
    .action(
      guard(async (incidentId: string, opts: { json?: boolean; firstRun?: string }) => {
        const c = codec();
        await withClient(async (client) => {
          const a = await loadIncidentAudit(client, incidentId, {
            ...(c ? { codec: c } : {}),
            ...(opts.firstRun ? { firstRunId: opts.firstRun } : {}),
          });
          if (opts.json) out.write(JSON.stringify(timelineDocument(a), null, 2) + '\n');
          else for (const e of a.timeline) out.write(formatTimelineLine(e) + '\n');
        });
      }),
    );
}

/** `quell audit report`: the post-incident report. */
function registerAuditReport(audit: Command, ctx: CommandContext): void {
  const { out, say, withClient, codec, guard } = ctx;
  audit
    .command('report')
    .description('Print the post-incident report (Markdown or JSON).')
    .argument('<incidentId>')
    .option(
      '--first-run <runId>',
      'which incident, when its ID names several (the first run ID of its chain)',
    )
    .addOption(
      new Option('--format <format>', 'output format').choices(['markdown', 'json']).default('markdown'),
    )
    .option('-o, --out <file>', 'write it here (default: stdout)')
    .addHelpText('after', CONNECTION_HELP + ENCRYPTION_HELP)
    .action(
      guard(
        async (
          incidentId: string,
          opts: { format: 'markdown' | 'json'; out?: string; firstRun?: string },
        ) => {
          const c = codec();
          await withClient(async (client) => {
            const report = reportOf(
              await loadIncidentAudit(client, incidentId, {
                ...(c ? { codec: c } : {}),
                ...(opts.firstRun ? { firstRunId: opts.firstRun } : {}),
              }),
            );
            const text =
              opts.format === 'json' ? JSON.stringify(report, null, 2) + '\n' : renderReportMarkdown(report);
            if (opts.out) {
              await fs.writeFile(opts.out, text);
              say(`wrote ${opts.out}`);
            } else out.write(text);
          });
        },
      ),
    );
}
