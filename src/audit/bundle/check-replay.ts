/**
 * Replay (`quell audit verify --replay`): the bundled history, run by run, through `Worker.runReplayHistories`
 * against the workflow code the bundle names, with no Temporal server and no API. VERIFIED, or the first event
 * where the code and the history part ways.
 *
 * Which code: the bundle's `workflow-code` entry when it carries one (its hash checked against the manifest
 * first) and a valid signature vouches for it; else this installation's code when its hash is the one the
 * bundle names; else, only when asked (`againstCurrent`), this installation's code anyway, and the result says
 * so. A bundle exported before manifests named the code is matched by the build IDs its history recorded.
 */
import type { DataConverter } from '@temporalio/common';
import type { ExportedRun } from '../history';
import { replayHistories, type ReplayFailure, type ReplayItem } from '../replay';
import type { SignatureStatus } from './check-signature';
import type { BundleEntry, BundleManifest, WorkflowCodeBody } from './types';
import { codeSha256, defaultBuildId, recordedBuildIds, shaOfBuildId } from './workflow-code';

/** This installation's workflow code (see `installedWorkflowCode` in src/audit/installed-code.ts). */
export interface CurrentWorkflowCode {
  code: string;
  quellVersion: string;
  sdkVersion: string;
  origin: string;
}

export interface ReplayCheckOptions {
  /** Called only when the bundled code cannot be used (bundling the installation's code takes seconds). */
  currentCode: () => Promise<CurrentWorkflowCode>;
  /** Replay against this installation's code even when its hash is not the one the bundle names. */
  againstCurrent?: boolean;
  /** The encryption data converter (QUELL_ENCRYPTION_KEY) for encrypted histories. */
  dataConverter?: DataConverter;
  /** The environment replay processes build their converter from (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Replay processes (default 1: a bundle holds a few runs). */
  jobs?: number;
}

/** Which code was replayed and why. */
export interface ReplayedCode {
  sha256: string;
  quellVersion?: string;
  sdkVersion?: string;
  source: 'bundled' | 'current' | 'current-forced';
  /** Where it came from: the bundle entry, or this installation's file or bundler. */
  origin: string;
  /** Whether a build ID the history's workflow tasks recorded is this code's (undefined: none recorded). */
  ranTheHistory?: boolean;
}

export interface ReplayDivergence {
  runId?: string;
  /** 1-based position of the run in the bundle. */
  run: number;
  eventId?: number;
  eventType?: string;
  kind: ReplayFailure['kind'];
  message: string;
  explanation: string;
}

export interface ReplayCheckStatus {
  status: 'verified' | 'diverged' | 'failed' | 'skipped';
  message: string;
  /** The code the bundle names: the manifest's hash, or the one its history's build IDs name. */
  namedSha256?: string;
  code?: ReplayedCode;
  runs?: number;
  events?: number;
  firstDivergence?: ReplayDivergence;
}

const short = (sha: string) => `${sha.slice(0, 16)}…`;

/**
 * Replays the bundle's history. `signature` is the bundle's signature status: bundled code is evaluated only
 * under a valid signature (the SDK's workflow VM isolates determinism, not security). Never throws for a
 * diverging history; thrown: what `currentCode` throws, a replay worker that cannot start.
 */
export async function checkReplay(
  entries: BundleEntry[],
  manifest: BundleManifest,
  signature: SignatureStatus,
  opts: ReplayCheckOptions,
): Promise<ReplayCheckStatus> {
  const historyEntries = entries.filter((e) => e.kind === 'history');
  const runs = historyEntries.map((e) => e.body as ExportedRun);
  if (!runs.length) return { status: 'failed', message: 'FAILED: the bundle holds no history to replay' };
  const recorded = manifest.workflowCode?.recordedBuildIds ?? recordedBuildIds(runs.map((r) => r.history));
  const named = manifest.workflowCode?.sha256 ?? namedByHistory(recorded);
  const chosen = await chooseCode(entries, manifest, signature, { named, recorded }, opts);
  if ('failure' in chosen) {
    return {
      status: 'failed',
      message: `FAILED: ${chosen.failure}`,
      ...(named ? { namedSha256: named } : {}),
    };
  }
  const { code, replayed } = chosen;
  const sdk = replayed.sdkVersion;
  if (recorded.length && sdk)
    replayed.ranTheHistory = recorded.includes(defaultBuildId(sdk, replayed.sha256));

  const items: ReplayItem[] = runs.map((run, i) => ({
    label: `${manifest.incidentId} run ${i + 1}/${runs.length}`,
    workflowId: manifest.workflowId,
    runId: run.runId,
    incidentId: manifest.incidentId,
    history: run.history,
  }));
  const summary = await replayHistories(items, {
    workflowBundle: { code },
    progress: false,
    total: items.length,
    jobs: opts.jobs ?? 1,
    replayName: 'quell-audit-verify',
    ...(opts.dataConverter ? { dataConverter: opts.dataConverter } : {}),
    ...(opts.env ? { env: opts.env } : {}),
  });
  const base = { ...(named ? { namedSha256: named } : {}), code: replayed, runs: runs.length };
  const first = summary.failures[0];
  if (first) {
    const run = items.findIndex((i) => i.runId === first.runId) + 1;
    const divergence: ReplayDivergence = {
      ...(first.runId ? { runId: first.runId } : {}),
      run,
      ...(first.eventId !== undefined ? { eventId: first.eventId } : {}),
      ...(first.eventType ? { eventType: first.eventType } : {}),
      kind: first.kind,
      message: first.message,
      explanation: first.explanation,
    };
    const at =
      first.eventId !== undefined
        ? `event ${first.eventId}${first.eventType ? ` (${first.eventType})` : ''}`
        : 'an event the SDK does not name';
    const diverged = first.kind === 'nondeterminism' || first.kind === 'replay-error';
    return {
      status: diverged ? 'diverged' : 'failed',
      message: diverged
        ? `DIVERGED in run ${run}/${runs.length}${first.runId ? ` (${first.runId})` : ''} at ${at}: ${first.message}` +
          ` [against ${describeCode(replayed)}]`
        : `FAILED: run ${run}/${runs.length} could not be replayed: ${first.message}`,
      ...base,
      events: summary.events,
      firstDivergence: divergence,
    };
  }
  return {
    status: 'verified',
    message:
      `VERIFIED: ${runs.length} run(s), ${summary.events} events replayed against ${describeCode(replayed)}, ` +
      `without a Temporal server${ranNote(replayed, recorded)}`,
    ...base,
    events: summary.events,
  };
}

/** The code hash the history's workflow tasks name, when they all name one by the SDK's default build ID. */
function namedByHistory(buildIds: string[]): string | undefined {
  const shas = new Set(buildIds.map(shaOfBuildId));
  return shas.size === 1 ? [...shas][0] : undefined;
}

type Chosen = { code: string; replayed: ReplayedCode } | { failure: string };

async function chooseCode(
  entries: BundleEntry[],
  manifest: BundleManifest,
  signature: SignatureStatus,
  { named, recorded }: { named: string | undefined; recorded: string[] },
  opts: ReplayCheckOptions,
): Promise<Chosen> {
  const entry = entries.find((e) => e.kind === 'workflow-code');
  let notBundled: string | undefined;
  if (entry) {
    const body = entry.body as Partial<WorkflowCodeBody>;
    if (typeof body.code !== 'string') return { failure: `the ${entry.id} entry holds no code` };
    const actual = codeSha256(body.code);
    if (!named || actual !== named) {
      return {
        failure:
          `the bundled workflow code hashes to sha256 ${actual}, but the manifest names ` +
          `${named ? `sha256 ${named}` : 'no code'}`,
      };
    }
    if (signature.status === 'valid' && signature.trusted !== false) {
      const wc = manifest.workflowCode;
      return {
        code: body.code,
        replayed: {
          sha256: actual,
          ...(wc ? { quellVersion: wc.quellVersion, sdkVersion: wc.sdkVersion } : {}),
          source: 'bundled',
          origin: `the bundle's ${entry.id} entry`,
        },
      };
    }
    // Evaluating JavaScript only a hash vouches for would run whatever the file's last editor wrote.
    notBundled =
      signature.status === 'unsigned'
        ? 'the bundle carries its workflow code but is unsigned, so the code is not run'
        : 'the bundle carries its workflow code but no valid, trusted signature vouches for it, so the code is not run';
  }
  const current = await opts.currentCode();
  const sha = codeSha256(current.code);
  const replayed = (source: ReplayedCode['source']): Chosen => ({
    code: current.code,
    replayed: {
      sha256: sha,
      quellVersion: current.quellVersion,
      sdkVersion: current.sdkVersion,
      source,
      origin: current.origin,
    },
  });
  if (named && sha === named) return replayed('current');
  if (opts.againstCurrent) return replayed('current-forced');
  const why = notBundled ? `${notBundled}; ` : '';
  if (!named) {
    return {
      failure:
        `${why}the bundle names no workflow code (exported before Quell recorded it, and its history's ` +
        `build IDs name none by hash: ${recorded.join(', ') || 'none recorded'}); ` +
        `this installation's is sha256 ${sha} (Quell ${current.quellVersion}). ` +
        'Replay against it anyway with --against-current.',
    };
  }
  const wc = manifest.workflowCode;
  return {
    failure:
      `${why}the bundle names workflow code sha256 ${named}` +
      (wc ? ` (Quell ${wc.quellVersion}, SDK ${wc.sdkVersion})` : " (by its history's build IDs)") +
      `, but this installation's is sha256 ${sha} (Quell ${current.quellVersion}, SDK ${current.sdkVersion}, ` +
      `${current.origin}). Replay against the named code (QUELL_WORKFLOW_BUNDLE=<its bundle file>), or against ` +
      "this installation's with --against-current.",
  };
}

function describeCode(c: ReplayedCode): string {
  const versions = [
    c.quellVersion ? `Quell ${c.quellVersion}` : '',
    c.sdkVersion ? `SDK ${c.sdkVersion}` : '',
  ]
    .filter(Boolean)
    .join(', ');
  const what =
    c.source === 'bundled'
      ? 'the workflow code the bundle carries'
      : c.source === 'current'
        ? "this installation's workflow code, the code the bundle names"
        : "this installation's workflow code, NOT the code the bundle names (--against-current)";
  return `${what}, sha256 ${short(c.sha256)}${versions ? ` (${versions})` : ''}`;
}

function ranNote(c: ReplayedCode, recorded: string[]): string {
  if (c.ranTheHistory === true) return "; the history's workflow tasks recorded this code's build ID";
  if (c.ranTheHistory === false) {
    return (
      `; the history's workflow tasks recorded other build ID(s) (${recorded.map((b) => short(shaOfBuildId(b) ?? b)).join(', ')}): ` +
      'a worker that bundles at start-up hashes its code after the SDK rewrites the source map path, and ' +
      'code changed behind patched() replays older histories'
    );
  }
  return '';
}
