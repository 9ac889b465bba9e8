import { z } from 'zod';
import { ConfigError } from '../config';
import { DEFAULT_HTTP_TIMEOUTS, type HttpTimeouts } from './server';

export interface RateLimitConfig {
  /** Tokens added per second (sustained requests per second). */
  perSecond: number;
  /** Bucket size: how many requests may arrive at once after a quiet period. */
  burst: number;
}

/** Room for a full batch (500 alerts) of alerts of up to 16 KiB each, well above what SIEMs send. */
export const DEFAULT_BATCH_BODY_LIMIT = '8mb';

export const DEFAULT_INGEST_RATE: RateLimitConfig = { perSecond: 50, burst: 100 };

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/**
 * Token buckets in memory, one per key (a verified subject: the set of keys is the set of configured
 * identities, so memory is bounded; buckets idle long enough to be full again are dropped anyway).
 * Per process: with several API replicas the effective limit is the sum.
 */
export class TokenBucketLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private lastSweep = 0;

  constructor(
    readonly config: RateLimitConfig,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(config.perSecond > 0) || !(config.burst >= 1)) {
      throw new Error('rate limit needs perSecond > 0 and burst >= 1');
    }
  }

  take(key: string, cost = 1): RateDecision {
    const now = this.now();
    this.sweep(now);
    const { perSecond, burst } = this.config;
    const b = this.buckets.get(key) ?? { tokens: burst, at: now };
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * perSecond);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens >= cost) {
      b.tokens -= cost;
      return { allowed: true };
    }
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((cost - b.tokens) / perSecond)) };
  }

  /**
   * Takes `cost` more tokens from a caller already admitted by {@link take}, going into debt if need be: a
   * batch of alerts costs one token per alert however large it is, and the caller's next request waits until
   * the bucket has refilled past the debt, so batching never raises a caller's sustained alert rate.
   */
  charge(key: string, cost: number): void {
    if (!(cost > 0)) return;
    const now = this.now();
    const { perSecond, burst } = this.config;
    const b = this.buckets.get(key) ?? { tokens: burst, at: now };
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * perSecond) - cost;
    b.at = now;
    this.buckets.set(key, b);
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    const refillMs = (this.config.burst / this.config.perSecond) * 1000;
    for (const [key, b] of this.buckets) if (now - b.at > refillMs) this.buckets.delete(key);
  }
}

export interface ApiSettings {
  bodyLimit: string;
  /** For the alert batch route, which takes hundreds of alerts in one body. */
  batchBodyLimit: string;
  rateLimit: RateLimitConfig;
  /** For the HTTP server (`createApiServer`), not the app. */
  http: HttpTimeouts;
}

const positive = z.coerce.number().positive();
const milliseconds = z.coerce.number().int().min(1).max(3_600_000);

/**
 * API limits from the environment: `QUELL_API_BODY_LIMIT` (default 1mb, i.e. 1 MiB; bytes or e.g. "512kb"),
 * `QUELL_API_BATCH_BODY_LIMIT` (the alert batch route's, default 8mb),
 * `QUELL_INGEST_RATE_PER_SEC` (default 50) and `QUELL_INGEST_RATE_BURST` (default twice the rate, so 100);
 * the HTTP server's `QUELL_API_HEADERS_TIMEOUT_MS` (10000), `QUELL_API_REQUEST_TIMEOUT_MS` (30000, at least the
 * headers timeout) and `QUELL_API_KEEPALIVE_TIMEOUT_MS` (5000).
 * Thrown: ConfigError naming the variable when a value is invalid.
 */
export function loadApiSettings(env: Record<string, string | undefined>): ApiSettings {
  const read = (name: string, fallback: number): number => {
    const raw = env[name]?.trim();
    if (!raw) return fallback;
    const r = positive.safeParse(raw);
    if (!r.success) throw new ConfigError(`${name} must be a positive number (got "${raw}").`);
    return r.data;
  };
  const readMs = (name: string, fallback: number): number => {
    const raw = env[name]?.trim();
    if (!raw) return fallback;
    const r = milliseconds.safeParse(raw);
    if (!r.success) {
      throw new ConfigError(`${name} must be whole milliseconds from 1 to 3600000 (got "${raw}").`);
    }
    return r.data;
  };
  const http: HttpTimeouts = {
    headersTimeoutMs: readMs('QUELL_API_HEADERS_TIMEOUT_MS', DEFAULT_HTTP_TIMEOUTS.headersTimeoutMs),
    requestTimeoutMs: readMs('QUELL_API_REQUEST_TIMEOUT_MS', DEFAULT_HTTP_TIMEOUTS.requestTimeoutMs),
    keepAliveTimeoutMs: readMs('QUELL_API_KEEPALIVE_TIMEOUT_MS', DEFAULT_HTTP_TIMEOUTS.keepAliveTimeoutMs),
  };
  if (http.headersTimeoutMs > http.requestTimeoutMs) {
    throw new ConfigError(
      `QUELL_API_HEADERS_TIMEOUT_MS (${http.headersTimeoutMs}) must not exceed QUELL_API_REQUEST_TIMEOUT_MS ` +
        `(${http.requestTimeoutMs}): the headers are part of the request.`,
    );
  }
  const perSecond = read('QUELL_INGEST_RATE_PER_SEC', DEFAULT_INGEST_RATE.perSecond);
  const burst = read('QUELL_INGEST_RATE_BURST', Math.max(1, perSecond * 2));
  const size = (name: string, fallback: string): string => {
    const value = env[name]?.trim() || fallback;
    if (!/^\d+(?:\.\d+)?\s*(?:b|kb|mb)?$/i.test(value)) {
      throw new ConfigError(`${name} must be a size like 1048576, 512kb or 1mb (got "${value}").`);
    }
    return value;
  };
  return {
    bodyLimit: size('QUELL_API_BODY_LIMIT', '1mb'),
    batchBodyLimit: size('QUELL_API_BATCH_BODY_LIMIT', DEFAULT_BATCH_BODY_LIMIT),
    rateLimit: { perSecond, burst: Math.max(1, burst) },
    http,
  };
}
