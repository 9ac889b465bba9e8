/**
 * The one rule for turning a vendor- or alert-supplied address into a link: only absolute http(s) URLs are
 * links. Anything else (`javascript:`, `data:`, relative paths, junk) is shown as text, so a hostile
 * finding or ticket cannot run script or navigate the console by being clicked. Pure (no DOM): unit-tested.
 */

/** The URL, normalized, when `value` is an absolute `http:` or `https:` URL; otherwise undefined. */
export function httpUrl(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  let url: URL;
  try {
    // No base: a relative reference is not a link we follow.
    url = new URL(value);
  } catch {
    return undefined;
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : undefined;
}
