/**
 * Consistency: the timeline re-derived from the bundled history equals the bundled timeline, so the timeline
 * (and the report built on it) cannot have been edited and re-chained on its own.
 */
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
import type { BundleEntry, BundleManifest } from './types';

export interface ConsistencyStatus {
  status: 'match' | 'mismatch' | 'skipped';
  message: string;
}

/**
 * Skipped, not failed, when the history is encrypted and no codec holds its key. Thrown: any other error
 * decrypting the history.
 */
export async function checkConsistency(
  entries: BundleEntry[],
  manifest: BundleManifest,
  codec: PayloadCodec | undefined,
): Promise<ConsistencyStatus> {
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
