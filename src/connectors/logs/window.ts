import { PermanentConnectorError } from '../errors';
import type { LogReadRequest } from '../types';

/** Parses and checks a log window: both bounds ISO-8601, `from` not after `to`. */
export function parseWindow(
  req: Pick<LogReadRequest, 'from' | 'to'>,
  vendor: string,
): { from: number; to: number } {
  const from = Date.parse(req.from);
  const to = Date.parse(req.to);
  if (Number.isNaN(from) || Number.isNaN(to)) {
    throw new PermanentConnectorError(`${vendor}: log window bounds must be ISO-8601 timestamps`, { vendor });
  }
  if (from > to) throw new PermanentConnectorError(`${vendor}: log window starts after it ends`, { vendor });
  return { from, to };
}

const LEADING_TS =
  /^\[?(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)(Z|[+-]\d{2}:?\d{2})?(?=[\]\s]|$)/;

/**
 * The time at the start of a log line, when it starts with an ISO-8601 timestamp (optionally in square
 * brackets, `T` or a space between date and time, fractional seconds, `Z` or an offset). A timestamp without
 * a zone is taken as UTC. Undefined for any other line.
 */
export function leadingTimestamp(line: string): number | undefined {
  const m = LEADING_TS.exec(line);
  if (!m) return undefined;
  const [, date, time, zone] = m;
  let z = zone ?? 'Z';
  if (/^[+-]\d{4}$/.test(z)) z = `${z.slice(0, 3)}:${z.slice(3)}`;
  const t = Date.parse(`${date}T${(time ?? '').replace(',', '.')}${z}`);
  return Number.isNaN(t) ? undefined : t;
}
