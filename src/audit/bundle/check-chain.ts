/**
 * The hash chain, in file order, against the manifest's index: the FIRST entry that was changed, removed,
 * inserted or reordered, or a chain whose head hash or length is not the manifest's.
 */
import { entryHash, GENESIS_HASH } from './hash-chain';
import type { BundleEntry, BundleManifest } from './types';

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

type EntryRef = { seq: number; kind: string; id: string };
type ProblemPlace = Omit<ChainProblem, 'kind' | 'message'>;

/** The first problem of the chain, or undefined when it is intact. */
export function checkChain(entries: BundleEntry[], manifest: BundleManifest): ChainProblem | undefined {
  let prev: string = GENESIS_HASH;
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
      return classify(entries, manifest.index, i, recomputed);
    }
    prev = recomputed;
  }
  if (prev !== manifest.headHash) {
    return {
      kind: 'hash-mismatch',
      position: entries.length - 1,
      message: `the chain ends in ${prev.slice(0, 16)}… but the manifest's head hash is ${String(manifest.headHash).slice(0, 16)}…`,
    };
  }
  if (manifest.entryCount !== entries.length) {
    return {
      kind: manifest.entryCount > entries.length ? 'removed' : 'inserted',
      position: entries.length,
      message: `the manifest counts ${manifest.entryCount} entries; the bundle holds ${entries.length}`,
    };
  }
  return undefined;
}

const describeEntry = (e: EntryRef) => `#${e.seq} ${e.id}`;

/** What went wrong at the first position where the entries and the index part ways. */
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
  const base: ProblemPlace = {
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
  if (found.id !== expected.id || found.seq !== position)
    return misplaced(entries, index, base, found, expected);
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

/** Another entry than the index names holds the position: inserted, removed, swapped or otherwise reordered. */
function misplaced(
  entries: BundleEntry[],
  index: BundleManifest['index'],
  base: ProblemPlace,
  found: BundleEntry,
  expected: BundleManifest['index'][number],
): ChainProblem {
  const { position } = base;
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
