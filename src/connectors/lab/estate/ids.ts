import { createHash } from 'node:crypto';

/** Hex digits derived from a seed: the estate's IDs are stable across restarts and labs. */
export function hex(seed: string, len: number): string {
  return createHash('sha256').update(seed).digest('hex').slice(0, len);
}

/** A UUID-shaped ID derived from a seed. */
export function uuidFrom(seed: string): string {
  const h = hex(seed, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
