import net from 'node:net';
import { domainToASCII } from 'node:url';
import { PermanentConnectorError } from '../errors';
import { normalizeIpv6, truncate } from '../util';
import { INDICATOR_KINDS, type IndicatorKind } from './types';

const LABEL_RE = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
const HASH_LENGTHS = new Set([32, 40, 64]);

function refuse(kind: IndicatorKind, input: string, vendor?: string): PermanentConnectorError {
  const what =
    kind === 'ip' ? 'IP address' : kind === 'domain' ? 'domain name' : 'file hash (MD5, SHA-1, SHA-256)';
  return new PermanentConnectorError(`invalid ${what} ${JSON.stringify(truncate(input, 80))}`, {
    ...(vendor ? { vendor } : {}),
  });
}

function normalizeIp(v: string): string | undefined {
  // Zone IDs (fe80::1%eth0) name an interface of ours, not an address anyone has a reputation for.
  if (v.includes('%')) return undefined;
  const family = net.isIP(v);
  if (family === 4) return v;
  if (family === 6) return normalizeIpv6(v.toLowerCase());
  return undefined;
}

function normalizeDomain(v: string): string | undefined {
  const name = v.endsWith('.') ? v.slice(0, -1) : v;
  if (!name || name.length > 253 || net.isIP(name)) return undefined;
  // Letters (any script), digits, dots, dashes and underscores only: the mapping below would otherwise take
  // the host out of a URL (`evil.example/../x` -> `evil.example`) and we would look up something else.
  if (!/^[\p{L}\p{M}\p{N}._-]+$/u.test(name)) return undefined;
  // The WHATWG mapping: case folded, IDNs to punycode, '' for anything that is no host name.
  const ascii = domainToASCII(name);
  if (!ascii || ascii.length > 253) return undefined;
  const labels = ascii.split('.');
  if (labels.length < 2 || !labels.every((l) => LABEL_RE.test(l))) return undefined;
  if (/^\d+$/.test(labels[labels.length - 1]!)) return undefined;
  return ascii;
}

function normalizeHash(v: string): string | undefined {
  const h = v.toLowerCase();
  return HASH_LENGTHS.has(h.length) && /^[0-9a-f]+$/.test(h) ? h : undefined;
}

/**
 * The indicator in the form sources are asked about (trimmed; IPv6 compressed; domains lower case, IDNs in
 * punycode, no trailing dot; hashes lower case), so that it is safe in a URL path or query and one cache key
 * covers its spellings. Thrown: PermanentConnectorError when it is not an indicator of that kind (an IP
 * with a prefix length, a URL, a host name with a path, a hash of another length).
 */
export function normalizeIndicator(kind: IndicatorKind, input: string, vendor?: string): string {
  if (!INDICATOR_KINDS.includes(kind)) {
    throw new PermanentConnectorError(
      `unknown indicator kind ${JSON.stringify(truncate(String(kind), 20))}`,
      {
        ...(vendor ? { vendor } : {}),
      },
    );
  }
  const v = typeof input === 'string' ? input.trim() : '';
  const out = kind === 'ip' ? normalizeIp(v) : kind === 'domain' ? normalizeDomain(v) : normalizeHash(v);
  if (out === undefined) throw refuse(kind, String(input), vendor);
  return out;
}

/** Whether the text is a valid indicator of that kind (see {@link normalizeIndicator}). */
export function isIndicator(kind: IndicatorKind, input: string): boolean {
  try {
    normalizeIndicator(kind, input);
    return true;
  } catch {
    return false;
  }
}
