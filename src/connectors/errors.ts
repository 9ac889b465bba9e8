/**
 * The connector error taxonomy. Every vendor connector throws these (never raw HTTP or SDK errors), and the
 * activities map them onto Temporal: `transient` and `rate_limited` are retried by policy (the latter after
 * the vendor's Retry-After); `auth`, `not_found`, `conflict` and `permanent` fail the action at once.
 * "Already in the desired state" is not an error: connectors report it as success.
 */
export type ConnectorErrorKind =
  'auth' | 'not_found' | 'conflict' | 'rate_limited' | 'transient' | 'permanent';

export class ConnectorError extends Error {
  override readonly name: string = 'ConnectorError';
  constructor(
    readonly kind: ConnectorErrorKind,
    message: string,
    readonly details: {
      /** The vendor's name for itself, e.g. "crowdstrike". */
      vendor?: string;
      /** HTTP status the vendor answered with, when there was one. */
      status?: number;
      /** For `rate_limited`: how long the vendor asked us to wait. */
      retryAfterMs?: number;
      cause?: unknown;
    } = {},
  ) {
    super(message);
  }

  /** Whether retrying the same call later can succeed. */
  get retryable(): boolean {
    return this.kind === 'transient' || this.kind === 'rate_limited';
  }
}

/** Thrown when the vendor rejects our credentials (after a token refresh was tried). */
export class ConnectorAuthError extends ConnectorError {
  override readonly name = 'ConnectorAuthError';
  constructor(message: string, details: ConnectorError['details'] = {}) {
    super('auth', message, details);
  }
}

/** Thrown when the target (host, account, rule) does not exist at the vendor. */
export class TargetNotFoundError extends ConnectorError {
  override readonly name = 'TargetNotFoundError';
  constructor(message: string, details: ConnectorError['details'] = {}) {
    super('not_found', message, details);
  }
}

/** Thrown when the vendor refuses because of the target's current state (e.g. an account that cannot be suspended). */
export class ConflictError extends ConnectorError {
  override readonly name = 'ConflictError';
  constructor(message: string, details: ConnectorError['details'] = {}) {
    super('conflict', message, details);
  }
}

/** Thrown when the vendor asks us to slow down (HTTP 429); `retryAfterMs` carries its Retry-After. */
export class RateLimitedError extends ConnectorError {
  override readonly name = 'RateLimitedError';
  constructor(message: string, retryAfterMs: number, details: ConnectorError['details'] = {}) {
    super('rate_limited', message, { ...details, retryAfterMs });
  }
}

/** Thrown for failures that may pass: 5xx, timeouts, connection resets. */
export class TransientConnectorError extends ConnectorError {
  override readonly name = 'TransientConnectorError';
  constructor(message: string, details: ConnectorError['details'] = {}) {
    super('transient', message, details);
  }
}

/** Thrown for failures that will not pass by retrying: a 4xx the vendor documents as final, bad configuration. */
export class PermanentConnectorError extends ConnectorError {
  override readonly name: string = 'PermanentConnectorError';
  constructor(message: string, details: ConnectorError['details'] = {}) {
    super('permanent', message, details);
  }
}

/**
 * Thrown when the selected vendor has no such action (a Defender quarantine without a SHA-1, a package
 * collection through Falcon): permanent, since no retry will add the capability.
 */
export class UnsupportedActionError extends PermanentConnectorError {
  override readonly name = 'UnsupportedActionError';
}

/** Temporal failure types the activities raise for each connector error kind; workflows branch on these. */
export const FAILURE_TYPES = {
  auth: 'ConnectorAuthError',
  not_found: 'TargetNotFound',
  conflict: 'TargetConflict',
  rate_limited: 'RateLimited',
  transient: 'TransientConnectorError',
  permanent: 'PermanentConnectorError',
  verification: 'VerificationFailed',
} as const;
