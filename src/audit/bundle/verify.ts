/**
 * `verifyBundle` recomputes the chain, names the FIRST entry that was changed, removed, inserted or
 * reordered, checks the head hash and the signature (or says "unsigned"), and re-derives the timeline from
 * the bundled history to check they agree.
 */
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { PayloadCodec } from '@temporalio/common';
import { MissingEncryptionKeyError } from '../../temporal/codec';
import {
  decryptExport,
  HISTORY_EXPORT_FORMAT,
  type ExportedRun,
  type IncidentHistoryExport,
} from '../history';
import { buildTimeline, type TimelineEntry } from '../timeline';
import { canonicalJson, entryHash, GENESIS_HASH } from './hash-chain';
import { fingerprint, SIGNING_KEY_ENV } from './signing';
import { BUNDLE_FORMAT, type AuditBundle, type BundleEntry, type BundleManifest } from './types';

export type ChainProblemKind =
  'changed' | 'removed' | 'inserted' | 'reordered' | 'hash-mismatch' | 'malformed';

export interface ChainProblem {
  kind: ChainProblemKind;
  /** 0-based position in the bundle's entry list where the problem shows. */
  position: number;
  /** The entry expected there (from the manifest's index), and the one found. */
  expected?: { seq: number; kind: string; id: string };
  found?: { seq: number; kind: string; id: string };
  message: string;
}

export interface VerifyResult {
  ok: boolean;
  file?: string;
  incidentId?: string;
  entryCount: number;
  headHash?: string;
  chain: { ok: boolean; firstProblem?: ChainProblem };
  signature: {
    status: 'valid' | 'invalid' | 'unsigned';
    keyId?: string;
    /** True/false when a trusted public key was given; undefined when not. */
    trusted?: boolean;
    message: string;
  };
  /** Re-deriving the timeline from the bundled history. */
  consistency: { status: 'match' | 'mismatch' | 'skipped'; message: string };
  problems: string[];
}

export interface VerifyOptions {
  /** base64 SPKI DER of the key the bundle must be signed with (see {@link readPublicKey}). */
  trustedPublicKey?: string;
  /** Needed to re-derive the timeline from an encrypted history. */
  codec?: PayloadCodec;
  /** Require a valid signature (unsigned bundles fail). */
  requireSignature?: boolean;
}

const describeEntry = (e: { seq: number; kind: string; id: string }) => `#${e.seq} ${e.id}`;

function classify(
  entries: BundleEntry[],
  index: BundleManifest['index'],
  position: number,
  recomputed: string,
): ChainProblem {
  const found = entries[position];
  const expected = index[position];
  const foundRef = found ? { seq: found.seq, kind: found.kind, id: found.id } : undefined;
  const expectedRef = expected ? { seq: expected.seq, kind: expected.kind, id: expected.id } : undefined;
  const base = {
    position,
    ...(expectedRef ? { expected: expectedRef } : {}),
    ...(foundRef ? { found: foundRef } : {}),
  };
  if (!found && expected) {
    return {
      kind: 'removed',
      ...base,
      message: `entry ${describeEntry(expected)} was removed (the bundle ends at position ${position})`,
    };
  }
  if (found && !expected) {
    return {
      kind: 'inserted',
      ...base,
      message: `entry ${describeEntry(found)} at position ${position} is not in the manifest (inserted)`,
    };
  }
  if (!found || !expected) return { kind: 'malformed', ...base, message: `no entry at position ${position}` };
  if (found.id !== expected.id || found.seq !== position) {
    const foundAt = index.findIndex((x) => x.id === found.id);
    const expectedAt = entries.findIndex((x) => x.id === expected.id);
    if (foundAt < 0) {
      return {
        kind: 'inserted',
        ...base,
        message: `entry ${describeEntry(found)} at position ${position} is not in the manifest (inserted)`,
      };
    }
    if (expectedAt < 0) {
      return {
        kind: 'removed',
        ...base,
        message: `entry ${describeEntry(expected)} was removed (position ${position} now holds ${describeEntry(found)})`,
      };
    }
    const swapped =
      expectedAt > position && entries[expectedAt]?.id === expected.id && index[expectedAt]?.id === found.id;
    return {
      kind: 'reordered',
      ...base,
      message: swapped
        ? `entries ${describeEntry(expected)} and ${describeEntry(index[expectedAt]!)} were swapped (positions ${position} and ${expectedAt})`
        : `entries were reordered: position ${position} should hold ${describeEntry(expected)} but holds ${describeEntry(found)} (which belongs at position ${foundAt})`,
    };
  }
  if (recomputed !== expected.hash) {
    return {
      kind: 'changed',
      ...base,
      message: `entry ${describeEntry(found)} (${found.kind}) was changed: its content no longer hashes to the manifest's hash for it`,
    };
  }
  return {
    kind: 'hash-mismatch',
    ...base,
    message: `entry ${describeEntry(found)} carries hash ${String(found.hash).slice(0, 16)}… but its content hashes to ${recomputed.slice(0, 16)}… (the stored hash was edited)`,
  };
}

/** Verifies a bundle (parsed JSON): chain, head hash, signature, and history/timeline consistency. */
export async function verifyBundle(doc: unknown, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const problems: string[] = [];
  const bundle = doc as Partial<AuditBundle>;
  const entries = Array.isArray(bundle?.entries) ? bundle.entries : [];
  const manifest = bundle?.manifest;
  if (bundle?.format !== BUNDLE_FORMAT || !manifest || !Array.isArray(manifest.index)) {
    return {
      ok: false,
      entryCount: entries.length,
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

  // 1. The chain, in file order, against the manifest's index.
  let prev: string = GENESIS_HASH;
  let firstProblem: ChainProblem | undefined;
  const positions = Math.max(entries.length, manifest.index.length);
  for (let i = 0; i < positions; i++) {
    const e = entries[i];
    const recomputed = e ? entryHash(prev, { seq: i, kind: e.kind, id: e.id, body: e.body }) : '';
    const expected = manifest.index[i];
    if (
      !e ||
      !expected ||
      e.id !== expected.id ||
      e.seq !== i ||
      recomputed !== expected.hash ||
      e.hash !== recomputed
    ) {
      firstProblem = classify(entries, manifest.index, i, recomputed);
      break;
    }
    prev = recomputed;
  }
  if (!firstProblem && prev !== manifest.headHash) {
    firstProblem = {
      kind: 'hash-mismatch',
      position: entries.length - 1,
      message: `the chain ends in ${prev.slice(0, 16)}… but the manifest's head hash is ${String(manifest.headHash).slice(0, 16)}…`,
    };
  }
  if (!firstProblem && manifest.entryCount !== entries.length) {
    firstProblem = {
      kind: manifest.entryCount > entries.length ? 'removed' : 'inserted',
      position: entries.length,
      message: `the manifest counts ${manifest.entryCount} entries; the bundle holds ${entries.length}`,
    };
  }
  if (firstProblem) problems.push(`hash chain: ${firstProblem.message}`);

  // 2. The signature over the manifest.
  let signature: VerifyResult['signature'];
  const sig = manifest.signature;
  if (!sig) {
    signature = {
      status: 'unsigned',
      message:
        `UNSIGNED: no signature (set ${SIGNING_KEY_ENV} when exporting). The hash chain shows accidental or ` +
        'partial edits, but whoever holds the file can rewrite the chain consistently.',
    };
    if (opts.requireSignature) problems.push('signature: the bundle is unsigned');
  } else {
    const { signature: _s, ...unsigned } = manifest;
    let valid = false;
    try {
      const key = createPublicKey({ key: Buffer.from(sig.publicKey, 'base64'), format: 'der', type: 'spki' });
      valid = cryptoVerify(
        null,
        Buffer.from(canonicalJson(unsigned), 'utf8'),
        key,
        Buffer.from(sig.value, 'base64'),
      );
    } catch {
      valid = false;
    }
    const trusted = opts.trustedPublicKey !== undefined ? opts.trustedPublicKey === sig.publicKey : undefined;
    const keyIdOk = sig.keyId === `ed25519:${fingerprint(Buffer.from(sig.publicKey, 'base64'))}`;
    if (!valid) {
      signature = {
        status: 'invalid',
        keyId: sig.keyId,
        ...(trusted !== undefined ? { trusted } : {}),
        message: `INVALID: the Ed25519 signature (key ${sig.keyId}) does not match the manifest`,
      };
      problems.push(`signature: ${signature.message}`);
    } else {
      signature = {
        status: 'valid',
        keyId: sig.keyId,
        ...(trusted !== undefined ? { trusted } : {}),
        message:
          `valid Ed25519 signature by key ${sig.keyId}` +
          (trusted === true
            ? ' (the trusted key)'
            : trusted === false
              ? ' but NOT by the trusted key'
              : ' (no trusted key given: checked against the key in the manifest)'),
      };
      if (trusted === false) problems.push(`signature: signed by ${sig.keyId}, not by the trusted key`);
    }
    if (!keyIdOk) problems.push(`signature: key ID ${sig.keyId} does not match the public key's fingerprint`);
  }

  // 3. Consistency: the timeline re-derived from the bundled history equals the bundled timeline.
  let consistency: VerifyResult['consistency'] = {
    status: 'skipped',
    message: 'skipped: the chain is broken',
  };
  if (!firstProblem) consistency = await checkConsistency(entries, manifest, opts.codec);
  if (consistency.status === 'mismatch') problems.push(`consistency: ${consistency.message}`);

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

async function checkConsistency(
  entries: BundleEntry[],
  manifest: BundleManifest,
  codec: PayloadCodec | undefined,
): Promise<VerifyResult['consistency']> {
  const runs = entries.filter((e) => e.kind === 'history').map((e) => e.body as ExportedRun);
  let exported: IncidentHistoryExport = {
    format: HISTORY_EXPORT_FORMAT,
    incidentId: manifest.incidentId,
    workflowId: manifest.workflowId,
    exportedAt: manifest.createdAt,
    encryption: manifest.encryption,
    runs,
  };
  try {
    exported = await decryptExport(exported, codec);
  } catch (err) {
    if (err instanceof MissingEncryptionKeyError)
      return { status: 'skipped', message: `skipped: the history is encrypted (${err.message})` };
    throw err;
  }
  const derived = buildTimeline(exported);
  const bundled = entries.filter((e) => e.kind === 'timeline').map((e) => e.body as TimelineEntry);
  const n = Math.max(derived.length, bundled.length);
  for (let i = 0; i < n; i++) {
    if (!isDeepStrictEqual(JSON.parse(JSON.stringify(derived[i] ?? null)), bundled[i] ?? null)) {
      return {
        status: 'mismatch',
        message: `timeline entry ${i} does not follow from the bundled history (${derived.length} derived, ${bundled.length} bundled)`,
      };
    }
  }
  return {
    status: 'match',
    message: `the ${bundled.length} timeline entries follow from the bundled history`,
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
