/** The bundle file's shape: its entries, the manifest that indexes and signs them, the evidence manifest items. */
import type { TimelineEntry } from '../timeline';

export const BUNDLE_FORMAT = 'quell.audit-bundle/v1';

export type BundleEntryKind =
  'history' | 'state' | 'timeline' | 'evidence' | 'report' | 'report-markdown' | 'workflow-code';

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
  /** The workflow code the history replays against; absent in bundles exported before Quell recorded it. */
  workflowCode?: WorkflowCodeManifest;
  signature?: BundleSignature;
}

/**
 * The workflow code the exporting installation runs, named by hash, so `quell audit verify --replay` can replay
 * the history against exactly that code.
 */
export interface WorkflowCodeManifest {
  /** SHA-256 (hex) of the workflow bundle's code, as built: the bytes a worker reads from QUELL_WORKFLOW_BUNDLE. */
  sha256: string;
  sizeBytes: number;
  /** Quell's package version (package.json) and the Temporal TypeScript SDK's (`@temporalio/worker`). */
  quellVersion: string;
  sdkVersion: string;
  /** The build ID a worker running this code from a file reports: `@temporalio/worker@<sdkVersion>+<sha256>`. */
  buildId: string;
  /** The distinct build IDs the history's WorkflowTaskCompleted events recorded, first seen first. */
  recordedBuildIds: string[];
  /** The ID of the `workflow-code` entry holding the code, when the bundle carries it. */
  entryId?: string;
}

/** The body of the `workflow-code` entry. */
export interface WorkflowCodeBody {
  sha256: string;
  code: string;
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
