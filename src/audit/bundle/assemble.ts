/** Lays an incident's history, state, timeline, evidence and report out as chained entries under a manifest. */
import type { IncidentState } from '../../domain/incident';
import type { IncidentHistoryExport } from '../history';
import { encryptionKeyIdsIn } from '../payloads';
import type { IncidentReport } from '../report';
import type { TimelineEntry } from '../timeline';
import { CANONICALIZATION, canonicalJson, entryHash, GENESIS_HASH } from './hash-chain';
import type { AuditSigner } from './signing';
import {
  BUNDLE_FORMAT,
  type AuditBundle,
  type BundleEntry,
  type BundleEntryKind,
  type BundleManifest,
  type BundleSignature,
  type EvidenceManifestItem,
} from './types';
import {
  WORKFLOW_CODE_ENTRY_ID,
  workflowCodeBody,
  workflowCodeManifest,
  type WorkflowCodeParts,
} from './workflow-code';

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
  /** The workflow code the history replays against (recorded in the manifest; carried too when `embed`). */
  workflowCode?: WorkflowCodeParts;
}

/** Lays the parts out as chained entries and writes (and, with a signer, signs) the manifest. */
export function assembleBundle(parts: BundleParts, signer?: AuditSigner): AuditBundle {
  const entries = chain(contents(parts));
  const manifest = manifestOf(parts, entries);
  if (signer) manifest.signature = signatureOf(manifest, signer);
  return {
    format: BUNDLE_FORMAT,
    incidentId: manifest.incidentId,
    workflowId: manifest.workflowId,
    createdAt: manifest.createdAt,
    entries,
    manifest,
  };
}

/**
 * The entries in bundle order: every run's history, the state, the timeline, the evidence, the report, and the
 * workflow code when it is carried (last, so the other entries keep the positions older bundles gave them).
 */
function contents(parts: BundleParts): Omit<BundleEntry, 'seq' | 'hash'>[] {
  return [
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
    ...(parts.workflowCode?.embed
      ? [
          {
            kind: 'workflow-code' as const,
            id: WORKFLOW_CODE_ENTRY_ID,
            body: workflowCodeBody(parts.workflowCode),
          },
        ]
      : []),
  ];
}

function chain(raw: Omit<BundleEntry, 'seq' | 'hash'>[]): BundleEntry[] {
  let prev = GENESIS_HASH;
  return raw.map((r, seq) => {
    const hash = entryHash(prev, { ...r, seq });
    prev = hash;
    return { seq, ...r, hash };
  });
}

/** The manifest, unsigned. */
function manifestOf(parts: BundleParts, entries: BundleEntry[]): BundleManifest {
  const counts: Partial<Record<BundleEntryKind, number>> = {};
  for (const e of entries) counts[e.kind] = (counts[e.kind] ?? 0) + 1;
  const keyIds =
    parts.exported.encryption?.keyIds ?? encryptionKeyIdsIn(parts.exported.runs.map((r) => r.history));
  return {
    format: BUNDLE_FORMAT,
    incidentId: parts.exported.incidentId,
    workflowId: parts.exported.workflowId,
    createdAt: parts.createdAt,
    hashAlgorithm: 'sha256',
    canonicalization: CANONICALIZATION,
    genesisHash: GENESIS_HASH,
    entryCount: entries.length,
    headHash: entries.at(-1)?.hash ?? GENESIS_HASH,
    index: entries.map((e) => ({ seq: e.seq, kind: e.kind, id: e.id, hash: e.hash })),
    counts,
    encryption: keyIds.length ? { encrypted: true, keyIds } : { encrypted: false },
    ...(parts.workflowCode
      ? {
          workflowCode: workflowCodeManifest(
            parts.workflowCode,
            parts.exported.runs.map((r) => r.history),
          ),
        }
      : {}),
  };
}

/** Signs the canonical JSON of the manifest as it is (without `signature`). */
function signatureOf(manifest: BundleManifest, signer: AuditSigner): BundleSignature {
  return {
    algorithm: 'Ed25519',
    keyId: signer.keyId,
    publicKey: signer.publicKey,
    value: signer.sign(Buffer.from(canonicalJson(manifest), 'utf8')).toString('base64'),
  };
}
