import { createHash } from 'node:crypto';

/** 16 hex digits of SHA-256: names the incident workflow for a correlation key. */
export function correlationDigest(correlationKey: string): string {
  return createHash('sha256').update(correlationKey).digest('hex').slice(0, 16);
}
