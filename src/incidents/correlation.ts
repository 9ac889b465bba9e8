import { createHash, createHmac } from 'node:crypto';
import { ConfigError } from '../config';
import { digest53 } from '../domain/digest';

/** The deployment secret that keys incident workflow IDs and the correlation search attribute. */
export const INCIDENT_ID_KEY_ENV = 'QUELL_INCIDENT_ID_KEY';
/** Earlier derivations whose open incidents alerts still join: older keys, or `unkeyed` (plain SHA-256). */
export const INCIDENT_ID_KEY_PREVIOUS_ENV = 'QUELL_INCIDENT_ID_KEY_PREVIOUS';
const UNKEYED = 'unkeyed';
const MIN_KEY_LENGTH = 32;

/** 16 hex digits of SHA-256: how workflow IDs were named before they were keyed (and still are without a key). */
export function correlationDigest(correlationKey: string): string {
  return createHash('sha256').update(correlationKey).digest('hex').slice(0, 16);
}

type Derivation = { kind: 'unkeyed' } | { kind: 'hmac'; key: string };

function digestWith(d: Derivation, correlationKey: string): string {
  if (d.kind === 'unkeyed') return correlationDigest(correlationKey);
  return createHmac('sha256', d.key)
    .update(`quell-incident-id\0${correlationKey}`)
    .digest('hex')
    .slice(0, 16);
}

/**
 * Derives the names Temporal shows for an incident from its correlation key: the workflow ID's digest and,
 * with payload encryption on, the correlation search attribute. With a deployment key these are HMACs, so a
 * dictionary of guessed host names recovers nothing from the Temporal UI; without one they are plain digests
 * (hosts are then in the search attributes anyway).
 */
export class IncidentIdDeriver {
  private readonly current: Derivation;
  private readonly previous: Derivation[];

  constructor(opts: { key?: string; previous?: readonly string[] } = {}) {
    this.current = opts.key ? { kind: 'hmac', key: opts.key } : { kind: 'unkeyed' };
    this.previous = (opts.previous ?? []).map((p) =>
      p === UNKEYED ? { kind: 'unkeyed' as const } : { kind: 'hmac' as const, key: p },
    );
  }

  /** Whether workflow IDs are keyed (an HMAC under the deployment key). */
  get keyed(): boolean {
    return this.current.kind === 'hmac';
  }

  /** The digest naming the incident workflow for a correlation key (16 hex digits). */
  digest(correlationKey: string): string {
    return digestWith(this.current, correlationKey);
  }

  /**
   * Digests the same key had under earlier derivations (key rotation, or keying an unkeyed deployment): alerts
   * still join incidents opened under them while those stay open.
   */
  previousDigests(correlationKey: string): string[] {
    const current = this.digest(correlationKey);
    return [...new Set(this.previous.map((d) => digestWith(d, correlationKey)).filter((x) => x !== current))];
  }

  /**
   * The correlation search attribute's value when entity names must stay out of search attributes: equal keys
   * give equal tags (so operators can still group runs), and without the deployment key it names nothing.
   */
  correlationTag(correlationKey: string): string {
    if (this.current.kind === 'unkeyed') return `digest:${digest53(correlationKey)}`;
    return `hmac:${createHmac('sha256', this.current.key).update(`quell-correlation\0${correlationKey}`).digest('hex').slice(0, 16)}`;
  }
}

/**
 * Reads `QUELL_INCIDENT_ID_KEY` (at least 32 characters) and `QUELL_INCIDENT_ID_KEY_PREVIOUS` (comma-separated
 * older keys, or `unkeyed`). Thrown: {@link ConfigError} when a key is too short, or when payload encryption is
 * on without a key (unkeyed IDs would give away the host names encryption hides).
 */
export function incidentIdDeriverFromEnv(
  env: NodeJS.ProcessEnv,
  opts: { encryptionEnabled: boolean },
): IncidentIdDeriver {
  const key = env[INCIDENT_ID_KEY_ENV]?.trim() || undefined;
  const previous = (env[INCIDENT_ID_KEY_PREVIOUS_ENV] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (key !== undefined && key.length < MIN_KEY_LENGTH) {
    throw new ConfigError(
      `${INCIDENT_ID_KEY_ENV} must be at least ${MIN_KEY_LENGTH} characters (e.g. \`openssl rand -base64 32\`).`,
    );
  }
  for (const p of previous) {
    if (p !== UNKEYED && p.length < MIN_KEY_LENGTH) {
      throw new ConfigError(
        `${INCIDENT_ID_KEY_PREVIOUS_ENV}: each entry is an older key of at least ${MIN_KEY_LENGTH} characters, or "${UNKEYED}".`,
      );
    }
  }
  if (opts.encryptionEnabled && !key) {
    throw new ConfigError(
      `Payload encryption (QUELL_ENCRYPTION_KEY) needs ${INCIDENT_ID_KEY_ENV} too: without it, workflow IDs are ` +
        `unkeyed digests of the correlation key, from which guessed host names can be confirmed in the Temporal UI. ` +
        `Set ${INCIDENT_ID_KEY_ENV} to a random secret of at least ${MIN_KEY_LENGTH} characters (e.g. ` +
        `\`openssl rand -base64 32\`); to keep joining incidents opened before, set ` +
        `${INCIDENT_ID_KEY_PREVIOUS_ENV}=${UNKEYED} until they are closed.`,
    );
  }
  return new IncidentIdDeriver({ ...(key ? { key } : {}), previous });
}
