/**
 * Tamper-evident audit bundles: one JSON file (`<incidentId>.audit-bundle.json`) holding the incident's
 * history (every run, as Temporal stores it), its state, its timeline, its evidence manifest and its report,
 * as an ordered list of entries chained by SHA-256, plus a manifest with the head hash, optionally signed
 * with Ed25519.
 *
 *   {
 *     "format": "quell.audit-bundle/v1",
 *     "incidentId": "...", "workflowId": "...", "createdAt": "...",
 *     "entries": [ { "seq": 0, "kind": "history", "id": "history:run-1:<runId>", "body": {...}, "hash": "<hex>" },
 *                  ... "state", "timeline" (one per timeline entry), "evidence" (one per item),
 *                  "report", "report-markdown" ... ],
 *     "manifest": { "format", "incidentId", "workflowId", "createdAt", "hashAlgorithm": "sha256",
 *                   "canonicalization", "genesisHash": "000...0", "entryCount", "headHash",
 *                   "index": [ { "seq", "kind", "id", "hash" } ], "counts", "encryption",
 *                   "signature"?: { "algorithm": "Ed25519", "keyId", "publicKey" (base64 SPKI DER), "value" } }
 *   }
 *
 * Chain: hash_i = sha256( hash_{i-1} (hex) || canonical JSON of { seq, kind, id, body } ), hash_-1 = 64 zeros.
 * Canonical JSON: object keys sorted by UTF-16 code units, no whitespace, JSON number/string spelling (the
 * RFC 8785 / JCS rules). The signature covers the canonical JSON of the manifest without `signature`, so it
 * vouches for the head hash, the index (every entry's ID and hash, in order) and the counts.
 *
 * `verifyBundle` recomputes the chain, names the FIRST entry that was changed, removed, inserted or
 * reordered, checks the head hash and the signature (or says "unsigned"), and re-derives the timeline from
 * the bundled history to check they agree.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  sign as cryptoSign,
  verify as cryptoVerify,
  type KeyObject,
} from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { PayloadCodec } from '@temporalio/common';
import type { IncidentState } from '../domain/incident';
import { MissingEncryptionKeyError } from '../temporal/codec';
import {
  decryptExport,
  HISTORY_EXPORT_FORMAT,
  type ExportedRun,
  type IncidentHistoryExport,
} from './history';
import { encryptionKeyIdsIn } from './payloads';
import type { IncidentReport } from './report';
import { buildTimeline, type TimelineEntry } from './timeline';
import { UserFixableError } from '../errors';

export const BUNDLE_FORMAT = 'quell.audit-bundle/v1';
export const SIGNING_KEY_ENV = 'QUELL_AUDIT_SIGNING_KEY';
export const PUBLIC_KEY_ENV = 'QUELL_AUDIT_PUBLIC_KEY';
export const GENESIS_HASH = '0'.repeat(64);
const CANONICALIZATION = 'JCS (RFC 8785): keys sorted by UTF-16 code units, no whitespace';

export type BundleEntryKind = 'history' | 'state' | 'timeline' | 'evidence' | 'report' | 'report-markdown';

export interface BundleEntry {
  seq: number;
  kind: BundleEntryKind;
  id: string;
  body: unknown;
  hash: string;
}

export interface BundleSignature {
  algorithm: 'Ed25519';
  keyId: string;
  /** base64 of the DER SubjectPublicKeyInfo. */
  publicKey: string;
  /** base64 Ed25519 signature over the canonical manifest without `signature`. */
  value: string;
}

export interface BundleManifest {
  format: typeof BUNDLE_FORMAT;
  incidentId: string;
  workflowId: string;
  createdAt: string;
  hashAlgorithm: 'sha256';
  canonicalization: string;
  genesisHash: string;
  entryCount: number;
  headHash: string;
  index: { seq: number; kind: BundleEntryKind; id: string; hash: string }[];
  counts: Partial<Record<BundleEntryKind, number>>;
  encryption: { encrypted: boolean; keyIds?: string[] };
  signature?: BundleSignature;
}

export interface AuditBundle {
  format: typeof BUNDLE_FORMAT;
  incidentId: string;
  workflowId: string;
  createdAt: string;
  entries: BundleEntry[];
  manifest: BundleManifest;
}

export interface EvidenceManifestItem {
  evidenceId: string;
  name: string;
  subject: string;
  sha256: string;
  sizeBytes: number;
  location: string;
  source: string;
  timeZone: string;
  collectedBy: string;
  collectedAt: string;
  window?: { from: string; to: string };
  /** Chain of custody: from the evidence store when it was asked, else the collection record in the state. */
  custody: { at: string; actor: string; action: string; note?: string }[];
  custodySource: 'evidence-store' | 'incident-state';
  /** The history events of the collecting activity. */
  refs: TimelineEntry['refs'];
}

// ---- Canonical JSON and hashing -------------------------------------------------------------------------------

/** Canonical JSON (JCS rules): sorted keys, no whitespace; `undefined` members are dropped like JSON does. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return 'null';
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    return `[${value.map((v) => (v === undefined || typeof v === 'function' ? 'null' : canonicalJson(v))).join(',')}]`;
  }
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return canonicalJson((value as { toJSON(): unknown }).toJSON());
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined && typeof obj[k] !== 'function')
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** hash_i = sha256(prevHash || canonical({ seq, kind, id, body })). */
export function entryHash(
  prevHash: string,
  entry: Pick<BundleEntry, 'seq' | 'kind' | 'id' | 'body'>,
): string {
  return sha256Hex(
    prevHash + canonicalJson({ seq: entry.seq, kind: entry.kind, id: entry.id, body: entry.body }),
  );
}

// ---- Signing keys -----------------------------------------------------------------------------------------------

export class SigningKeyError extends UserFixableError {
  override readonly name = 'SigningKeyError';
}

export interface AuditSigner {
  keyId: string;
  publicKey: string;
  sign(data: Buffer): Buffer;
}

function fingerprint(spkiDer: Buffer): string {
  return createHash('sha256').update(spkiDer).digest('hex').slice(0, 16);
}

/**
 * The Ed25519 signer `QUELL_AUDIT_SIGNING_KEY` configures (a PEM, or base64 of a DER PKCS#8 private key), or
 * undefined when it is not set. The key ID is `ed25519:` + the first 16 hex digits of the public key's SHA-256.
 * Thrown: {@link SigningKeyError} for an unreadable or non-Ed25519 key.
 */
export function signerFromEnv(env: NodeJS.ProcessEnv = process.env): AuditSigner | undefined {
  const spec = env[SIGNING_KEY_ENV]?.trim();
  return spec ? createSigner(spec) : undefined;
}

export function createSigner(spec: string): AuditSigner {
  let key: KeyObject;
  try {
    key = spec.includes('-----BEGIN')
      ? createPrivateKey(spec)
      : createPrivateKey({ key: Buffer.from(spec, 'base64'), format: 'der', type: 'pkcs8' });
  } catch (err) {
    throw new SigningKeyError(
      `${SIGNING_KEY_ENV} is not a readable private key (PEM, or base64 of DER PKCS#8): ${(err as Error).message}`,
    );
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new SigningKeyError(
      `${SIGNING_KEY_ENV} is a ${key.asymmetricKeyType ?? 'non-asymmetric'} key; Ed25519 is required`,
    );
  }
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  return {
    keyId: `ed25519:${fingerprint(spki)}`,
    publicKey: spki.toString('base64'),
    sign: (data) => cryptoSign(null, data, key),
  };
}

/** Reads a trusted public key: PEM text, base64 SPKI DER, or a file holding either; returns base64 SPKI DER. */
export async function readPublicKey(spec: string): Promise<string> {
  let text = spec.trim();
  if (!text.includes('-----BEGIN')) {
    const isFile = await fs.stat(text).then(
      (st) => st.isFile(),
      () => false,
    );
    if (isFile) text = (await fs.readFile(text, 'utf8')).trim();
  }
  try {
    const key = text.includes('-----BEGIN')
      ? createPublicKey(text)
      : createPublicKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'spki' });
    return key.export({ type: 'spki', format: 'der' }).toString('base64');
  } catch (err) {
    throw new SigningKeyError(
      `not a readable public key (PEM, base64 SPKI, or a file): ${(err as Error).message}`,
    );
  }
}

// ---- Assembly ---------------------------------------------------------------------------------------------------

export interface BundleParts {
  /** The history as Temporal stores it (encrypted payloads stay encrypted). */
  exported: IncidentHistoryExport;
  state: IncidentState;
  stateSource: 'history' | 'query';
  timeline: TimelineEntry[];
  report: IncidentReport;
  reportMarkdown: string;
  evidence: EvidenceManifestItem[];
  createdAt: string;
}

/** Lays the parts out as chained entries and writes (and, with a signer, signs) the manifest. */
export function assembleBundle(parts: BundleParts, signer?: AuditSigner): AuditBundle {
  const raw: Omit<BundleEntry, 'seq' | 'hash'>[] = [
    ...parts.exported.runs.map((run, i) => ({
      kind: 'history' as const,
      id: `history:run-${i + 1}:${run.runId}`,
      body: { runId: run.runId, status: run.status, history: run.history },
    })),
    { kind: 'state', id: 'state', body: { source: parts.stateSource, state: parts.state } },
    ...parts.timeline.map((e) => ({ kind: 'timeline' as const, id: `timeline:${e.seq}`, body: e })),
    ...parts.evidence.map((e) => ({ kind: 'evidence' as const, id: `evidence:${e.evidenceId}`, body: e })),
    { kind: 'report', id: 'report', body: parts.report },
    { kind: 'report-markdown', id: 'report.md', body: { markdown: parts.reportMarkdown } },
  ];
  let prev = GENESIS_HASH;
  const entries: BundleEntry[] = raw.map((r, seq) => {
    const hash = entryHash(prev, { ...r, seq });
    prev = hash;
    return { seq, ...r, hash };
  });
  const counts: Partial<Record<BundleEntryKind, number>> = {};
  for (const e of entries) counts[e.kind] = (counts[e.kind] ?? 0) + 1;
  const keyIds =
    parts.exported.encryption?.keyIds ?? encryptionKeyIdsIn(parts.exported.runs.map((r) => r.history));
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    incidentId: parts.exported.incidentId,
    workflowId: parts.exported.workflowId,
    createdAt: parts.createdAt,
    hashAlgorithm: 'sha256',
    canonicalization: CANONICALIZATION,
    genesisHash: GENESIS_HASH,
    entryCount: entries.length,
    headHash: prev,
    index: entries.map((e) => ({ seq: e.seq, kind: e.kind, id: e.id, hash: e.hash })),
    counts,
    encryption: keyIds.length ? { encrypted: true, keyIds } : { encrypted: false },
  };
  if (signer) {
    manifest.signature = {
      algorithm: 'Ed25519',
      keyId: signer.keyId,
      publicKey: signer.publicKey,
      value: signer.sign(Buffer.from(canonicalJson(manifest), 'utf8')).toString('base64'),
    };
  }
  return {
    format: BUNDLE_FORMAT,
    incidentId: manifest.incidentId,
    workflowId: manifest.workflowId,
    createdAt: manifest.createdAt,
    entries,
    manifest,
  };
}

export function bundleFileName(incidentId: string): string {
  return `${incidentId}.audit-bundle.json`;
}

/** Writes the bundle into `dir` (created if needed); returns the file path. */
export async function writeBundle(bundle: AuditBundle, dir: string): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, bundleFileName(bundle.incidentId));
  await fs.writeFile(file, JSON.stringify(bundle, null, 2) + '\n');
  return file;
}

/** Reads a bundle file, or the one bundle in a directory. */
export async function readBundle(p: string): Promise<{ file: string; doc: unknown }> {
  let file = p;
  if ((await fs.stat(p)).isDirectory()) {
    const found = (await fs.readdir(p)).filter((n) => n.endsWith('.audit-bundle.json'));
    if (found.length !== 1) {
      throw new Error(`${p} holds ${found.length} audit bundles (*.audit-bundle.json); name the file`);
    }
    file = path.join(p, found[0]!);
  }
  return { file, doc: JSON.parse(await fs.readFile(file, 'utf8')) as unknown };
}

// ---- Verification -----------------------------------------------------------------------------------------------

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
