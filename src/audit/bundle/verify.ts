/**
 * `verifyBundle` runs every check on a bundle: the hash chain (check-chain.ts), the signature
 * (check-signature.ts) and the timeline against the bundled history (check-consistency.ts), and collects
 * what they find.
 */
import type { PayloadCodec } from '@temporalio/common';
import { checkChain, type ChainProblem } from './check-chain';
import { checkConsistency, type ConsistencyStatus } from './check-consistency';
import { checkSignature, type SignatureStatus } from './check-signature';
import { BUNDLE_FORMAT, type AuditBundle } from './types';

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
  problems: string[];
}

export interface VerifyOptions {
  /** base64 SPKI DER of the key the bundle must be signed with (see `readPublicKey`). */
  trustedPublicKey?: string;
  /** Needed to re-derive the timeline from an encrypted history. */
  codec?: PayloadCodec;
  /** Require a valid signature (unsigned bundles fail). */
  requireSignature?: boolean;
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
  const problems = [
    ...(firstProblem ? [`hash chain: ${firstProblem.message}`] : []),
    ...signatureProblems,
    ...(consistency.status === 'mismatch' ? [`consistency: ${consistency.message}`] : []),
  ];

  return {
    ok: problems.length === 0,
    incidentId: manifest.incidentId,
    entryCount: entries.length,
    headHash: manifest.headHash,
    chain: { ok: !firstProblem, ...(firstProblem ? { firstProblem } : {}) },
    signature,
    consistency,
    problems,
  };
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
  ];
  return lines.join('\n');
}
