/**
 * Text the ticket connectors send: Atlassian Document Format built from plain text (untrusted text only
 * ever in text nodes), ServiceNow text with its markup neutralised, and the reference that marks a comment
 * as made for one idempotency key.
 */
import { PermanentConnectorError } from '../errors';
import { sha256Hex } from '../util';

/**
 * The reference a comment carries for its idempotency key: a hash, so that it is the same short, plain
 * token wherever it is searched for (a Jira comment's text, a ServiceNow `LIKE` query).
 */
export function commentRef(idempotencyKey: string): string {
  return `quell-ref:${sha256Hex(idempotencyKey).slice(0, 20)}`;
}

/** The idempotent form of an external key: letters, digits, `.`, `_`, `-` and `:` only. */
const INCIDENT_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The incident ID as connectors put it into labels, JQL and ServiceNow encoded queries. Thrown:
 * {@link PermanentConnectorError} when it holds anything else (it could change the query's meaning).
 */
export function assertIncidentId(incidentId: string, vendor: string): string {
  if (!INCIDENT_ID_RE.test(incidentId)) {
    throw new PermanentConnectorError(
      `invalid incident ID ${JSON.stringify(incidentId.slice(0, 80))}: letters, digits, ".", "_", "-", ":" only`,
      { vendor },
    );
  }
  return incidentId;
}

/** Whether a link may be rendered as one: absolute http(s) only (never `javascript:` and the like). */
export function safeLink(link: string | undefined): string | undefined {
  if (!link) return undefined;
  try {
    const u = new URL(link);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Atlassian Document Format
// ---------------------------------------------------------------------------------------------------------

export interface AdfText {
  type: 'text';
  text: string;
  marks?: ({ type: 'strong' } | { type: 'code' } | { type: 'link'; attrs: { href: string } })[];
}
export interface AdfParagraph {
  type: 'paragraph';
  content: AdfText[];
}
export interface AdfDoc {
  type: 'doc';
  version: 1;
  content: AdfParagraph[];
}

/** One ADF paragraph of text nodes; empty strings are dropped (ADF refuses empty text nodes). */
export function adfParagraph(...nodes: (AdfText | string)[]): AdfParagraph {
  const content = nodes
    .map((n) => (typeof n === 'string' ? { type: 'text' as const, text: n } : n))
    .filter((n) => n.text.length > 0);
  return { type: 'paragraph', content };
}

/**
 * An ADF document from plain text, one paragraph per line. ADF is JSON, not markup: the text is a string
 * value of a text node, so nothing in it (`<script>`, `[link](...)`, `{{macro}}`) is ever interpreted.
 */
export function adfFromText(text: string, extra: AdfParagraph[] = []): AdfDoc {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const paragraphs = lines.map((l) => adfParagraph(stripControl(l))).filter((p) => p.content.length);
  return { type: 'doc', version: 1, content: [...paragraphs, ...extra] };
}

/** Every text node's text in an ADF value, joined by newlines (for finding a comment's reference). */
export function adfPlainText(node: unknown): string {
  const out: string[] = [];
  const walk = (n: unknown, depth: number): void => {
    if (depth > 32 || !n || typeof n !== 'object') return;
    const o = n as { type?: unknown; text?: unknown; content?: unknown };
    if (o.type === 'text' && typeof o.text === 'string') out.push(o.text);
    if (Array.isArray(o.content)) for (const c of o.content) walk(c, depth + 1);
  };
  walk(node, 0);
  return out.join('\n');
}

// Control characters other than tab and newline have no business in a ticket and confuse some renderers.
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g;

export function stripControl(s: string): string {
  return s.replace(CONTROL_RE, '');
}

// ---------------------------------------------------------------------------------------------------------
// ServiceNow
// ---------------------------------------------------------------------------------------------------------

/**
 * Text for a ServiceNow field, made inert. Journal fields (work notes, comments) render whatever sits
 * between `[code]` and `[/code]` as raw HTML, so those markers are broken (`[code]` -> `(code)`, however it
 * is spaced or cased); and `<`, `>`, `&`, `"`, `'` become HTML entities, so that even a view that renders
 * the field as HTML shows the text. (A plain-text view then shows the entities: the safe side of the
 * trade.) Control characters go.
 */
export function serviceNowText(s: string): string {
  return stripControl(s)
    .replace(/\[(\s*\/?\s*code\s*)\]/gi, '($1)')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}
