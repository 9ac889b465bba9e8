/** What both EDR connectors' response actions share: input checks, the idempotency tag, the wait loop. */
import { PermanentConnectorError, TransientConnectorError } from '../errors';
import type { ActionContext, AntivirusScanType, FileHashes } from '../types';
import { truncate } from '../util';

/** How often a running vendor action is polled (default). */
export const DEFAULT_ACTION_POLL_MS = 5_000;
/**
 * How long a call waits for a vendor action to settle (default). Past it the call fails transient and a
 * retry finds the same action by its tag; the activity's start-to-close timeout must exceed it.
 */
export const DEFAULT_ACTION_WAIT_MS = 10 * 60_000;
/** Upper bound on an investigation package held in memory (default). */
export const DEFAULT_PACKAGE_MAX_BYTES = 512 * 1024 * 1024;
export const DEFAULT_PACKAGE_TIMEOUT_MS = 5 * 60_000;

export interface ActionWaitOptions {
  /** Poll interval, ms (default {@link DEFAULT_ACTION_POLL_MS}). */
  pollIntervalMs?: number;
  /** Deadline for one call, ms (default {@link DEFAULT_ACTION_WAIT_MS}). */
  actionWaitMs?: number;
}

const SHA1_RE = /^[0-9a-fA-F]{40}$/;
const SHA256_RE = /^[0-9a-fA-F]{64}$/;

/**
 * The hashes, lower-cased. Thrown ({@link PermanentConnectorError}, before any call): neither given, or one
 * that is not 40 (SHA-1) / 64 (SHA-256) hex digits.
 */
export function checkedHashes(file: FileHashes, vendor: string): { sha1?: string; sha256?: string } {
  const bad = (what: string, v: unknown) =>
    new PermanentConnectorError(`invalid ${what} ${JSON.stringify(truncate(String(v), 80))}`, { vendor });
  const out: { sha1?: string; sha256?: string } = {};
  if (file.sha1 !== undefined) {
    if (typeof file.sha1 !== 'string' || !SHA1_RE.test(file.sha1)) throw bad('SHA-1', file.sha1);
    out.sha1 = file.sha1.toLowerCase();
  }
  if (file.sha256 !== undefined) {
    if (typeof file.sha256 !== 'string' || !SHA256_RE.test(file.sha256)) throw bad('SHA-256', file.sha256);
    out.sha256 = file.sha256.toLowerCase();
  }
  if (!out.sha1 && !out.sha256) {
    throw new PermanentConnectorError('a file to quarantine needs a SHA-1 or SHA-256', { vendor });
  }
  return out;
}

export function checkedScanType(scanType: unknown, vendor: string): AntivirusScanType {
  if (scanType !== 'quick' && scanType !== 'full') {
    throw new PermanentConnectorError(`invalid scan type ${JSON.stringify(scanType)} (quick or full)`, {
      vendor,
    });
  }
  return scanType;
}

/**
 * The marker a vendor-side record carries so that a retried call recognises the action its first attempt
 * started (vendors have no idempotency key of their own on these calls). Characters that would need quoting
 * in a query language are replaced.
 */
export function idempotencyTag(ctx: ActionContext): string {
  return `[quell:${ctx.idempotencyKey.replace(/[^A-Za-z0-9:._-]/g, '_')}]`;
}

/** One look at a vendor action: still running, done, or ended without effect (with the vendor's status). */
export type ActionProbe = { state: 'running' } | { state: 'succeeded' } | { state: 'failed'; status: string };

/**
 * Polls `probe` until the action settles. Thrown: {@link PermanentConnectorError} when it ends Failed /
 * TimeOut / Cancelled (or the vendor's equivalent); {@link TransientConnectorError} when it is still running
 * at the deadline; and whatever `probe` throws (a 429 ends the wait: the retry resumes it).
 */
export async function waitForAction(
  probe: () => Promise<ActionProbe>,
  what: { vendor: string; op: string; ref: string },
  opts: ActionWaitOptions & { now: () => number },
): Promise<void> {
  const interval = Math.max(1, opts.pollIntervalMs ?? DEFAULT_ACTION_POLL_MS);
  const waitMs = opts.actionWaitMs ?? DEFAULT_ACTION_WAIT_MS;
  const deadline = opts.now() + waitMs;
  for (;;) {
    const seen = await probe();
    if (seen.state === 'succeeded') return;
    if (seen.state === 'failed') {
      throw new PermanentConnectorError(
        `${what.vendor}: ${what.op}: the vendor's action ${what.ref} ended ${seen.status}`,
        { vendor: what.vendor },
      );
    }
    if (opts.now() >= deadline) {
      throw new TransientConnectorError(
        `${what.vendor}: ${what.op}: action ${what.ref} still running after ${waitMs} ms; a retry waits for it again`,
        { vendor: what.vendor },
      );
    }
    await new Promise((r) => setTimeout(r, Math.min(interval, Math.max(1, deadline - opts.now()))));
  }
}
