/**
 * Canonical JSON and the SHA-256 chain: hash_i = sha256( hash_{i-1} (hex) || canonical JSON of
 * { seq, kind, id, body } ), hash_-1 = 64 zeros.
 */
import { createHash } from 'node:crypto';
import type { BundleEntry } from './types';

export const GENESIS_HASH = '0'.repeat(64);
export const CANONICALIZATION = 'JCS (RFC 8785): keys sorted by UTF-16 code units, no whitespace';

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
