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
 *                  "report", "report-markdown", "workflow-code"? ({ "sha256", "code" }) ... ],
 *     "manifest": { "format", "incidentId", "workflowId", "createdAt", "hashAlgorithm": "sha256",
 *                   "canonicalization", "genesisHash": "000...0", "entryCount", "headHash",
 *                   "index": [ { "seq", "kind", "id", "hash" } ], "counts", "encryption",
 *                   "workflowCode"?: { "sha256", "sizeBytes", "quellVersion", "sdkVersion", "buildId",
 *                                      "recordedBuildIds", "entryId"? },
 *                   "signature"?: { "algorithm": "Ed25519", "keyId", "publicKey" (base64 SPKI DER), "value" } }
 *
 * `workflowCode` and the `workflow-code` entry are additions within v1: bundles without them (exported before)
 * verify as they always did, and a reader that does not know them still checks the chain and signature.
 *   }
 *
 * Chain: hash_i = sha256( hash_{i-1} (hex) || canonical JSON of { seq, kind, id, body } ), hash_-1 = 64 zeros.
 * Canonical JSON: object keys sorted by UTF-16 code units, no whitespace, JSON number/string spelling (the
 * RFC 8785 / JCS rules). The signature covers the canonical JSON of the manifest without `signature`, so it
 * vouches for the head hash, the index (every entry's ID and hash, in order) and the counts.
 *
 * `verifyBundle` recomputes the chain, names the FIRST entry that was changed, removed, inserted or
 * reordered, checks the head hash and the signature (or says "unsigned"), and re-derives the timeline from
 * the bundled history to check they agree. With `replay`, it also replays the bundled history against the
 * workflow code the bundle names (check-replay.ts), with no Temporal server.
 *
 * Modules: types.ts (the file's shape), hash-chain.ts (canonical JSON, entry hashes), signing.ts (Ed25519
 * keys), assemble.ts (`assembleBundle`), files.ts (reading and writing bundle files), verify.ts
 * (`verifyBundle`, which runs one check per module: check-chain.ts, check-signature.ts, check-consistency.ts,
 * check-replay.ts), workflow-code.ts (naming the workflow code: hash, versions, recorded build IDs).
 */
export { assembleBundle, type BundleParts } from './assemble';
export { bundleFileName, readBundle, writeBundle } from './files';
export { canonicalJson, entryHash, GENESIS_HASH, sha256Hex } from './hash-chain';
export {
  createSigner,
  PUBLIC_KEY_ENV,
  readPublicKey,
  signerFromEnv,
  SIGNING_KEY_ENV,
  SigningKeyError,
  type AuditSigner,
} from './signing';
export {
  BUNDLE_FORMAT,
  type AuditBundle,
  type BundleEntry,
  type BundleEntryKind,
  type BundleManifest,
  type BundleSignature,
  type EvidenceManifestItem,
  type WorkflowCodeBody,
  type WorkflowCodeManifest,
} from './types';
export {
  codeSha256,
  defaultBuildId,
  recordedBuildIds,
  WORKFLOW_CODE_ENTRY_ID,
  type WorkflowCodeParts,
} from './workflow-code';
export type {
  CurrentWorkflowCode,
  ReplayCheckOptions,
  ReplayCheckStatus,
  ReplayDivergence,
  ReplayedCode,
} from './check-replay';
export type { ChainProblem, ChainProblemKind } from './check-chain';
export {
  formatVerifyResult,
  verifyBundle,
  type VerifyOptions,
  type VerifyResult,
  type WorkflowCodeStatus,
} from './verify';
