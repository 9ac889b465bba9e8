/**
 * `verifyBundle` runs every check on a bundle: the hash chain (check-chain.ts), the signature
 * (check-signature.ts) and the timeline against the bundled history (check-consistency.ts), and collects
 * what they find.
 */
import { isDeepStrictEqual } from 'node:util';
import type { PayloadCodec } from '@temporalio/common';
import type { HistoryJson } from '../history-json';
import { checkChain, type ChainProblem } from './check-chain';
import { checkConsistency, type ConsistencyStatus } from './check-consistency';
import { checkReplay, type ReplayCheckOptions, type ReplayCheckStatus } from './check-replay';
import { checkSignature, type SignatureStatus } from './check-signature';
import { BUNDLE_FORMAT, type AuditBundle, type BundleEntry, type BundleManifest } from './types';
import { codeSha256, recordedBuildIds } from './workflow-code';

export interface VerifyResult {
  ok: boolean;
  file?: string;
  incidentId?: string;
  entryCount: number;
  headHash?: string;
  chain: { ok: boolean; firstProblem?: ChainProblem };
  signature: SignatureStatus;
  /** Re-deriving the timeline from the bundled history. */
  consistency: ConsistencyStatus;
  /** The workflow code the manifest names (absent from bundles exported before it did). */
  workflowCode?: WorkflowCodeStatus;
  /** Replaying the history against that code (`replay` option). */
  replay?: ReplayCheckStatus;
  problems: string[];
}

export interface WorkflowCodeStatus {
  status: 'named' | 'bundled' | 'mismatch';
  message: string;
}

export interface VerifyOptions {
  /** base64 SPKI DER of the key the bundle must be signed with (see `readPublicKey`). */
  trustedPublicKey?: string;
  /** Needed to re-derive the timeline from an encrypted history. */
  codec?: PayloadCodec;
  /** Require a valid signature (unsigned bundles fail). */
  requireSignature?: boolean;
  /** Also replay the bundled history against the workflow code the bundle names (check-replay.ts). */
  replay?: ReplayCheckOptions;
}

/** Verifies a bundle (parsed JSON): chain, head hash, signature, and history/timeline consistency. */
export async function verifyBundle(doc: unknown, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const bundle = doc as Partial<AuditBundle>;
  const entries = Array.isArray(bundle?.entries) ? bundle.entries : [];
  const manifest = bundle?.manifest;
  if (bundle?.format !== BUNDLE_FORMAT || !manifest || !Array.isArray(manifest.index))
    return notABundle(entries.length);

  const firstProblem = checkChain(entries, manifest);
  const { signature, problems: signatureProblems } = checkSignature(manifest, opts);
  // A broken chain cannot vouch for the history the timeline would be re-derived from.
  const consistency: ConsistencyStatus = firstProblem
    ? { status: 'skipped', message: 'skipped: the chain is broken' }
    : await checkConsistency(entries, manifest, opts.codec);
  const workflowCode = manifest.workflowCode ? checkWorkflowCode(entries, manifest) : undefined;
  const problems = [
    ...(firstProblem ? [`hash chain: ${firstProblem.message}`] : []),
    ...signatureProblems,
    ...(consistency.status === 'mismatch' ? [`consistency: ${consistency.message}`] : []),
    ...(workflowCode?.status === 'mismatch' ? [`workflow code: ${workflowCode.message}`] : []),
  ];
  // Replaying is worth its seconds only for a history the chain and the signature still vouch for.
  let replay: ReplayCheckStatus | undefined;
  if (opts.replay) {
    replay = problems.length
      ? { status: 'skipped', message: 'skipped: the bundle already failed the checks above' }
      : await checkReplay(entries, manifest, signature, opts.replay);
    if (replay.status !== 'verified') problems.push(`replay: ${replay.message}`);
  }

  return {
    ok: problems.length === 0,
    incidentId: manifest.incidentId,
    entryCount: entries.length,
    headHash: manifest.headHash,
    chain: { ok: !firstProblem, ...(firstProblem ? { firstProblem } : {}) },
    signature,
    consistency,
    ...(workflowCode ? { workflowCode } : {}),
    ...(replay ? { replay } : {}),
    problems,
  };
}

/** The manifest's code record against the bundle: the carried code's hash, the history's build IDs. */
function checkWorkflowCode(entries: BundleEntry[], manifest: BundleManifest): WorkflowCodeStatus {
  const wc = manifest.workflowCode!;
  const named = `sha256 ${wc.sha256} (Quell ${wc.quellVersion}, SDK ${wc.sdkVersion})`;
  const recorded = recordedBuildIds(
    entries.filter((e) => e.kind === 'history').map((e) => (e.body as { history: HistoryJson }).history),
  );
  if (!isDeepStrictEqual(recorded, wc.recordedBuildIds)) {
    return {
      status: 'mismatch',
      message: `the manifest's recorded build IDs (${wc.recordedBuildIds.join(', ') || 'none'}) are not the bundled history's (${recorded.join(', ') || 'none'})`,
    };
  }
  const entry = wc.entryId
    ? entries.find((e) => e.id === wc.entryId && e.kind === 'workflow-code')
    : undefined;
  if (wc.entryId && !entry) {
    return {
      status: 'mismatch',
      message: `the manifest names a ${wc.entryId} entry the bundle does not hold`,
    };
  }
  if (entry) {
    const code = (entry.body as { code?: unknown }).code;
    const actual = typeof code === 'string' ? codeSha256(code) : 'no code';
    if (actual !== wc.sha256) {
      return {
        status: 'mismatch',
        message: `the bundled workflow code hashes to ${actual}, but the manifest names ${wc.sha256}`,
      };
    }
    return { status: 'bundled', message: `${named}, carried in the bundle` };
  }
  return { status: 'named', message: `${named}, named by hash (the code is not in the bundle)` };
}

function notABundle(entryCount: number): VerifyResult {
  return {
    ok: false,
    entryCount,
    chain: {
      ok: false,
      firstProblem: {
        kind: 'malformed',
        position: 0,
        message: `not a ${BUNDLE_FORMAT} bundle (format or manifest missing)`,
      },
    },
    signature: { status: 'unsigned', message: 'no manifest' },
    consistency: { status: 'skipped', message: 'not a bundle' },
    problems: [`not a ${BUNDLE_FORMAT} bundle`],
  };
}

/** A readable verification report. */
export function formatVerifyResult(r: VerifyResult): string {
  const lines = [
    `${r.ok ? 'VERIFIED' : 'FAILED'}: audit bundle ${r.file ?? ''}${r.incidentId ? ` (incident ${r.incidentId})` : ''}`.trim(),
    `  entries:     ${r.entryCount}${r.headHash ? `, head hash ${r.headHash}` : ''}`,
    `  hash chain:  ${r.chain.ok ? 'intact' : `BROKEN at position ${r.chain.firstProblem?.position}: ${r.chain.firstProblem?.message}`}`,
    `  signature:   ${r.signature.message}`,
    `  consistency: ${r.consistency.message}`,
    ...(r.workflowCode ? [`  workflow code: ${r.workflowCode.message}`] : []),
    ...(r.replay ? replayLines(r.replay) : []),
  ];
  return lines.join('\n');
}

function replayLines(replay: ReplayCheckStatus): string[] {
  const lines = [`  replay:      ${replay.message}`];
  const d = replay.firstDivergence;
  if (d) {
    lines.push(
      '',
      ...d.explanation.split('\n').map((l) => `    ${l}`),
      '    for audit: the bundled history is not what the replayed code does: the history was edited after it ran,',
      '               or other code ran it.',
    );
  }
  return lines;
}
