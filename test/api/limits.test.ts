import { ConfigError } from '../../src/config';
import { DEFAULT_INGEST_RATE, TokenBucketLimiter, loadApiSettings } from '../../src/api/rate-limit';
import { DEFAULT_HTTP_TIMEOUTS } from '../../src/api/server';

describe('TokenBucketLimiter', () => {
  it('allows a burst, then refills at the rate, per key', () => {
    let now = 0;
    const limiter = new TokenBucketLimiter({ perSecond: 2, burst: 3 }, () => now);
    for (let i = 0; i < 3; i++) expect(limiter.take('a')).toEqual({ allowed: true });
    expect(limiter.take('a')).toEqual({ allowed: false, retryAfterSeconds: 1 });
    expect(limiter.take('b')).toEqual({ allowed: true });
    now += 500; // one token back
    expect(limiter.take('a')).toEqual({ allowed: true });
    expect(limiter.take('a').allowed).toBe(false);
    now += 60_000;
    for (let i = 0; i < 3; i++) expect(limiter.take('a').allowed).toBe(true);
    expect(limiter.take('a').allowed).toBe(false);
  });

  it('says how long to wait at slow rates', () => {
    const limiter = new TokenBucketLimiter({ perSecond: 0.1, burst: 1 }, () => 0);
    limiter.take('a');
    expect(limiter.take('a')).toEqual({ allowed: false, retryAfterSeconds: 10 });
  });

  it('refuses nonsensical settings', () => {
    expect(() => new TokenBucketLimiter({ perSecond: 0, burst: 1 })).toThrow();
    expect(() => new TokenBucketLimiter({ perSecond: 1, burst: 0 })).toThrow();
  });
});

describe('loadApiSettings', () => {
  it('defaults to 1 MiB bodies (8 MiB batches), 50 alerts/s with a burst of 100, 10 s headers, 30 s requests, 5 s keep-alive', () => {
    expect(loadApiSettings({})).toEqual({
      bodyLimit: '1mb',
      batchBodyLimit: '8mb',
      rateLimit: DEFAULT_INGEST_RATE,
      http: DEFAULT_HTTP_TIMEOUTS,
    });
    expect(DEFAULT_INGEST_RATE).toEqual({ perSecond: 50, burst: 100 });
    expect(DEFAULT_HTTP_TIMEOUTS).toEqual({
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 5_000,
    });
  });

  it('reads the HTTP timeouts', () => {
    expect(
      loadApiSettings({
        QUELL_API_HEADERS_TIMEOUT_MS: '2000',
        QUELL_API_REQUEST_TIMEOUT_MS: '60000',
        QUELL_API_KEEPALIVE_TIMEOUT_MS: '65000',
      }).http,
    ).toEqual({ headersTimeoutMs: 2_000, requestTimeoutMs: 60_000, keepAliveTimeoutMs: 65_000 });
  });

  it('reads QUELL_INGEST_RATE_PER_SEC, QUELL_INGEST_RATE_BURST and QUELL_API_BODY_LIMIT', () => {
    expect(loadApiSettings({ QUELL_INGEST_RATE_PER_SEC: '5' })).toMatchObject({
      bodyLimit: '1mb',
      rateLimit: { perSecond: 5, burst: 10 },
    });
    expect(
      loadApiSettings({
        QUELL_INGEST_RATE_PER_SEC: '5',
        QUELL_INGEST_RATE_BURST: '7',
        QUELL_API_BODY_LIMIT: '256kb',
        QUELL_API_BATCH_BODY_LIMIT: '4mb',
      }),
    ).toMatchObject({ bodyLimit: '256kb', batchBodyLimit: '4mb', rateLimit: { perSecond: 5, burst: 7 } });
  });

  it.each([
    [{ QUELL_INGEST_RATE_PER_SEC: 'fast' }, /QUELL_INGEST_RATE_PER_SEC/],
    [{ QUELL_INGEST_RATE_PER_SEC: '-1' }, /QUELL_INGEST_RATE_PER_SEC/],
    [{ QUELL_INGEST_RATE_BURST: '0' }, /QUELL_INGEST_RATE_BURST/],
    [{ QUELL_API_BODY_LIMIT: 'huge' }, /QUELL_API_BODY_LIMIT/],
    [{ QUELL_API_BATCH_BODY_LIMIT: '8 gigabytes' }, /QUELL_API_BATCH_BODY_LIMIT/],
    [{ QUELL_API_REQUEST_TIMEOUT_MS: '1.5' }, /QUELL_API_REQUEST_TIMEOUT_MS/],
    [{ QUELL_API_HEADERS_TIMEOUT_MS: '0' }, /QUELL_API_HEADERS_TIMEOUT_MS/],
    [{ QUELL_API_KEEPALIVE_TIMEOUT_MS: 'soon' }, /QUELL_API_KEEPALIVE_TIMEOUT_MS/],
    [{ QUELL_API_HEADERS_TIMEOUT_MS: '20000', QUELL_API_REQUEST_TIMEOUT_MS: '10000' }, /must not exceed/],
  ])('refuses %j', (env, message) => {
    expect(() => loadApiSettings(env)).toThrow(ConfigError);
    expect(() => loadApiSettings(env)).toThrow(message);
  });
});
