import { createHash } from 'node:crypto';
import net from 'node:net';
import { PermanentConnectorError } from './errors';

/** SHA-256 of a string or bytes, lower-case hex. */
export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Cuts a string to at most `max` characters, marking the cut with an ellipsis. */
export function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, Math.max(0, max - 1))}…`;
}

/**
 * ISO-8601 with the local UTC offset instead of `Z`, e.g. `2026-11-28T09:14:03.120+00:00`: what NIST SP
 * 800-61 asks of an evidence log (time with its zone).
 */
export function isoWithOffset(date: Date = new Date()): string {
  const offsetMin = -date.getTimezoneOffset();
  const sign = offsetMin >= 0 ? '+' : '-';
  const abs = Math.abs(offsetMin);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}` +
    `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  );
}

/** The process's IANA time zone name ("UTC" when the runtime does not know it). */
export function localTimeZone(): string {
  // Resolving it builds a DateTimeFormat (tens of microseconds per evidence record); TZ only changes by hand.
  const tz = process.env.TZ;
  if (!zoneCache || zoneCache.tz !== tz)
    zoneCache = { tz, zone: Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC' };
  return zoneCache.zone;
}
let zoneCache: { tz: string | undefined; zone: string } | undefined;

const HOSTNAME_RE = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,252}[A-Za-z0-9])?$/;

/**
 * A host name as connectors accept it: letters, digits, dots, dashes and underscores only. Vendor query
 * languages (CrowdStrike FQL, OData) take the name inside quotes, so nothing else may reach them.
 */
export function assertHostname(host: string, vendor: string): string {
  if (!HOSTNAME_RE.test(host) || host.includes('..')) {
    throw new PermanentConnectorError(`invalid host name ${JSON.stringify(truncate(host, 80))}`, { vendor });
  }
  return host;
}

const ACCOUNT_RE = /^[A-Za-z0-9._%+@-]{1,256}$/;

/** An account name (login, UPN, e-mail form) as connectors accept it. */
export function assertAccountName(account: string, vendor: string): string {
  if (!ACCOUNT_RE.test(account) || account.startsWith('.') || account.includes('..')) {
    throw new PermanentConnectorError(`invalid account name ${JSON.stringify(truncate(account, 80))}`, {
      vendor,
    });
  }
  return account;
}

export interface ParsedIpTarget {
  /** 4 or 6. */
  family: 4 | 6;
  /** The normalized address (IPv6 compressed, lower case); for a range, its network address. */
  address: string;
  /** Prefix length for a CIDR range; undefined for a single address. */
  prefix?: number;
  /** `address` or `address/prefix`. */
  value: string;
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}
function intToIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

function ipv6ToBigInt(ip: string): bigint {
  const [headRaw, tailRaw] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const parseGroups = (s: string | undefined): number[] => {
    if (!s) return [];
    const out: number[] = [];
    for (const part of s.split(':')) {
      if (part.includes('.')) {
        const v4 = ipv4ToInt(part);
        out.push(Math.floor(v4 / 65536), v4 % 65536);
      } else {
        out.push(parseInt(part, 16));
      }
    }
    return out;
  };
  const head = parseGroups(headRaw);
  const tail = parseGroups(tailRaw);
  const groups =
    tailRaw === undefined
      ? head
      : [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  return groups.reduce((acc, g) => (acc << 16n) + BigInt(g), 0n);
}

function bigIntToIpv6(n: bigint): string {
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((n >> BigInt(i * 16)) & 0xffffn).toString(16));
  // Let the WHATWG URL parser apply RFC 5952 compression.
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/** Normalizes an IPv6 address (RFC 5952: lower case, longest zero run compressed). */
export function normalizeIpv6(ip: string): string {
  return bigIntToIpv6(ipv6ToBigInt(ip));
}

/**
 * Parses an IP address or CIDR range (`10.0.0.1`, `10.1.0.0/16`, `2001:db8::/48`), normalizing it; a
 * range's host bits are cleared. Anything else is a {@link PermanentConnectorError}.
 */
export function parseIpTarget(input: string, vendor: string): ParsedIpTarget {
  const bad = () =>
    new PermanentConnectorError(`invalid IP address or CIDR range ${JSON.stringify(truncate(input, 80))}`, {
      vendor,
    });
  const [addr, prefixRaw, extra] = input.trim().split('/');
  if (addr === undefined || extra !== undefined) throw bad();
  const family = net.isIP(addr);
  if (family !== 4 && family !== 6) throw bad();
  let prefix: number | undefined;
  if (prefixRaw !== undefined) {
    if (!/^\d{1,3}$/.test(prefixRaw)) throw bad();
    prefix = Number(prefixRaw);
    if (prefix > (family === 4 ? 32 : 128)) throw bad();
  }
  if (family === 4) {
    let n = ipv4ToInt(addr);
    if (prefix !== undefined) {
      const size = 2 ** (32 - prefix);
      n = Math.floor(n / size) * size;
    }
    const address = intToIpv4(n);
    return { family: 4, address, prefix, value: prefix === undefined ? address : `${address}/${prefix}` };
  }
  let n = ipv6ToBigInt(addr);
  if (prefix !== undefined) {
    const hostBits = BigInt(128 - prefix);
    n = (n >> hostBits) << hostBits;
  }
  const address = bigIntToIpv6(n);
  return { family: 6, address, prefix, value: prefix === undefined ? address : `${address}/${prefix}` };
}

/** Whether `ip` (a single address) lies within `range` (an address or CIDR range) of the same family. */
export function ipInRange(ip: ParsedIpTarget, range: ParsedIpTarget): boolean {
  if (ip.family !== range.family) return false;
  const bits = ip.family === 4 ? 32 : 128;
  const prefix = range.prefix ?? bits;
  if (ip.family === 4) {
    const size = 2 ** (32 - prefix);
    return Math.floor(ipv4ToInt(ip.address) / size) === Math.floor(ipv4ToInt(range.address) / size);
  }
  const shift = BigInt(bits - prefix);
  return ipv6ToBigInt(ip.address) >> shift === ipv6ToBigInt(range.address) >> shift;
}

/**
 * One in-flight action per target, within this process: calls for the same key run one after another, so an
 * isolate and a release for one host never race each other here (vendors document last-one-wins or
 * out-of-order completion for concurrent actions).
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(fn, fn);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await result;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

/** Builds a query string with RFC 3986 percent-encoding (spaces as %20, which OData APIs require). */
export function queryString(params: Record<string, string | number | boolean | undefined>): string {
  const parts = Object.entries(params)
    .filter((e): e is [string, string | number | boolean] => e[1] !== undefined)
    .map(([k, v]) => `${encodeURIComponent(k).replace(/^%24/, '$')}=${encodeURIComponent(String(v))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

/** The shared prefix of a comment recorded at vendors: names Quell and the incident. */
export function vendorComment(incidentId: string, comment: string, max = 1000): string {
  const base = comment.trim()
    ? `Quell incident ${incidentId}: ${comment.trim()}`
    : `Quell incident ${incidentId}`;
  return truncate(base, max);
}
