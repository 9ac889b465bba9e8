import { ConnectorError } from '../errors';
import type { IntelCache } from './cache';
import { normalizeIndicator } from './indicators';
import type {
  IndicatorKind,
  IntelFinding,
  IntelLookupError,
  IntelLookupResult,
  ThreatIntel,
  ThreatIntelSource,
} from './types';

function lookupError(source: string, err: unknown): IntelLookupError {
  if (err instanceof ConnectorError) {
    return {
      source,
      type: err.kind,
      message: err.message,
      ...(err.details.retryAfterMs !== undefined ? { retryAfterMs: err.details.retryAfterMs } : {}),
    };
  }
  // A bug, not a vendor's answer: retrying the same call would fail the same way.
  return {
    source,
    type: 'permanent',
    message: `${source}: ${err instanceof Error ? err.message : String(err)}`,
  };
}

/**
 * {@link ThreatIntel} over several sources: each source that supports the kind is asked at once, and each
 * failure is reported beside the others' findings instead of failing the lookup.
 */
export class ThreatIntelFanOut implements ThreatIntel {
  readonly sources: string[];

  constructor(private readonly all: readonly ThreatIntelSource[]) {
    this.sources = all.map((s) => s.vendor);
  }

  /** Thrown: PermanentConnectorError for an invalid indicator, before any source is asked. */
  async lookup(kind: IndicatorKind, indicator: string): Promise<IntelLookupResult> {
    const value = normalizeIndicator(kind, indicator);
    const asked = this.all.filter((s) => s.supports(kind));
    const settled = await Promise.allSettled(asked.map((s) => s.lookup(kind, value)));
    const findings: IntelFinding[] = [];
    const errors: IntelLookupError[] = [];
    settled.forEach((r, i) => {
      if (r.status === 'fulfilled') findings.push(r.value);
      else errors.push(lookupError(asked[i]!.vendor, r.reason));
    });
    return { kind, indicator: value, findings, errors };
  }
}

/**
 * The {@link ThreatIntel} Quell uses: the sources (through `cache`, when given) fanned out. Thrown: nothing;
 * each lookup reports its own failures.
 */
export function createThreatIntel(
  sources: readonly ThreatIntelSource[],
  opts: { cache?: IntelCache } = {},
): ThreatIntelFanOut {
  const { cache } = opts;
  return new ThreatIntelFanOut(cache ? sources.map((s) => cache.wrap(s)) : sources);
}
