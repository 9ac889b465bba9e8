import { normalizeIndicator } from './indicators';
import type { IndicatorKind, IntelFinding, ThreatIntelSource } from './types';

export const DEFAULT_INTEL_CACHE_TTL_SECONDS = 3_600;
export const DEFAULT_INTEL_CACHE_MAX_ENTRIES = 10_000;

export interface IntelCacheOptions {
  /** How long a finding is reused; 0 keeps nothing (concurrent lookups still share one call). */
  ttlMs: number;
  /** The least recently used findings go first beyond this many. Default {@link DEFAULT_INTEL_CACHE_MAX_ENTRIES}. */
  maxEntries?: number;
  /** Injectable clock (tests). */
  now?: () => number;
}

export interface IntelCacheStats {
  hits: number;
  misses: number;
  /** Lookups that joined a vendor call already in flight for the same key. */
  joined: number;
  size: number;
}

interface Entry {
  finding: IntelFinding;
  expiresAt: number;
}

/**
 * Findings per source, kind and indicator, for `ttlMs`: incidents of one campaign share indicators, and the
 * vendors' quotas are small (VirusTotal's public key: 4 lookups a minute). "Not known" findings are kept
 * too (asking again within the hour would say the same); errors never are, so a rate-limited or failed
 * lookup is asked again next time. Concurrent lookups of one key share one vendor call.
 */
export class IntelCache {
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  // A Map iterates in insertion order: re-inserting on every hit keeps the least recently used first.
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<IntelFinding>>();
  private hits = 0;
  private misses = 0;
  private joined = 0;

  constructor(opts: IntelCacheOptions) {
    this.ttlMs = Math.max(0, opts.ttlMs);
    this.maxEntries = Math.max(1, opts.maxEntries ?? DEFAULT_INTEL_CACHE_MAX_ENTRIES);
    this.now = opts.now ?? Date.now;
  }

  /** The source, looking up through this cache (under the source's name). */
  wrap(source: ThreatIntelSource): ThreatIntelSource {
    return new CachedIntelSource(source, this);
  }

  stats(): IntelCacheStats {
    return { hits: this.hits, misses: this.misses, joined: this.joined, size: this.entries.size };
  }

  clear(): void {
    this.entries.clear();
  }

  /** The finding for an indicator already normalized (see {@link normalizeIndicator}), from the cache or the source. */
  async lookup(source: ThreatIntelSource, kind: IndicatorKind, value: string): Promise<IntelFinding> {
    const key = `${source.vendor}\u0000${kind}\u0000${value}`;
    const cached = this.entries.get(key);
    if (cached && cached.expiresAt > this.now()) {
      this.hits += 1;
      this.entries.delete(key);
      this.entries.set(key, cached);
      return { ...cached.finding };
    }
    if (cached) this.entries.delete(key);
    const pending = this.inflight.get(key);
    if (pending) {
      this.joined += 1;
      return { ...(await pending) };
    }
    this.misses += 1;
    const call = source.lookup(kind, value);
    this.inflight.set(key, call);
    try {
      const finding = await call;
      this.store(key, finding);
      return { ...finding };
    } finally {
      this.inflight.delete(key);
    }
  }

  private store(key: string, finding: IntelFinding): void {
    if (this.ttlMs === 0) return;
    this.entries.set(key, { finding: { ...finding }, expiresAt: this.now() + this.ttlMs });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }
}

/** A source whose lookups go through an {@link IntelCache}; indicators are normalized first (the cache key). */
export class CachedIntelSource implements ThreatIntelSource {
  readonly vendor: ThreatIntelSource['vendor'];

  constructor(
    readonly source: ThreatIntelSource,
    private readonly cache: IntelCache,
  ) {
    this.vendor = source.vendor;
  }

  supports(kind: IndicatorKind): boolean {
    return this.source.supports(kind);
  }

  async lookup(kind: IndicatorKind, indicator: string): Promise<IntelFinding> {
    if (!this.source.supports(kind)) return this.source.lookup(kind, indicator);
    return this.cache.lookup(this.source, kind, normalizeIndicator(kind, indicator, this.vendor));
  }
}
