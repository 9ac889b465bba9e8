/**
 * Rendering untrusted text (alert titles, host and account names, comments, vendor error messages) into the
 * formats people read: one line of plain text (notifications, terminals, logs people read), Markdown (the
 * auditor's report), Slack mrkdwn and HTML. Every renderer in Quell goes through these functions, so an alert
 * title can never add a line, a section, a mention or a link to what a responder or an auditor reads.
 * Workflow-safe: pure functions, no Node builtins.
 */

/**
 * Characters that change how the text around them is laid out or read: C0 and C1 controls (NUL, ESC, CR, LF,
 * TAB...), DEL, the Unicode line and paragraph separators, and the bidirectional controls that make text read
 * in another order than it is stored (RLO, LRI, ...).
 */
export const LAYOUT_CONTROL_CLASS =
  '\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069';
const LAYOUT_CONTROLS = new RegExp(`[${LAYOUT_CONTROL_CLASS}]`, 'g');

const SHORT_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** Whether the text holds a control character (see {@link firstLayoutControl}). */
export function hasLayoutControl(text: string): boolean {
  LAYOUT_CONTROLS.lastIndex = 0;
  return LAYOUT_CONTROLS.test(text);
}

/** The first control character in the text as `U+XXXX`, or undefined. */
export function firstLayoutControl(text: string): string | undefined {
  LAYOUT_CONTROLS.lastIndex = 0;
  const m = LAYOUT_CONTROLS.exec(text);
  return m ? `U+${m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}` : undefined;
}

/**
 * For text that is stored, not only shown (an alert title at ingest): line breaks and tabs become one space,
 * every other control character becomes U+FFFD, so the text keeps its words and loses its layout tricks.
 */
export function normalizedLine(text: string): string {
  return text
    .replace(/[\r\n\t\u2028\u2029]+/g, ' ')
    .replace(LAYOUT_CONTROLS, '\ufffd')
    .trim();
}

/** As {@link normalizedLine}, but line breaks (CR LF and CR as LF) and tabs stay: for descriptions and notes. */
export function normalizedText(text: string): string {
  return text
    .replace(/\r\n?|\u2028|\u2029/g, '\n')
    .replace(LAYOUT_CONTROLS, (c) => (c === '\n' || c === '\t' ? c : '\ufffd'));
}

/**
 * The text on one line, with every control character shown as an escape (`\n`, `\r`, `\t`, `\u001b`, `\u202e`)
 * instead of acting: a forged line in an alert title stays visible as an attempt and never becomes a line.
 */
export function oneLine(text: string): string {
  return text.replace(
    LAYOUT_CONTROLS,
    (c) => SHORT_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * For text that may keep its line breaks (a description, a note): CR LF and CR become LF, every other control
 * character is escaped as in {@link oneLine}.
 */
export function multiLine(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .map((line) => oneLine(line))
    .join('\n');
}

/**
 * Plain text as inline Markdown: one line, with every character that Markdown (CommonMark and GitHub's
 * extensions: emphasis, links, images, raw HTML, tables, strikethrough, headings, lists) could act on escaped.
 */
export function markdownText(text: string): string {
  return (
    oneLine(text)
      .replace(/[\\`*_[\]<>|~&]/g, '\\$&')
      // What acts only at the start of a block (a heading, a list item, a quote), should the text start one.
      .replace(/^(\s*)([#+=-])/, '$1\\$2')
      .replace(/^(\s*\d+)([.)])/, '$1\\$2')
  );
}

/** Plain text as a Markdown code span (`` `ws-fin-042` ``), whatever backticks it contains. */
export function markdownCode(text: string): string {
  const line = oneLine(text).replace(/\|/g, '\\|');
  const longest = Math.max(0, ...(line.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = line.startsWith('`') || line.endsWith('`') || line.startsWith(' ') ? ' ' : '';
  return `${fence}${pad}${line}${pad}${fence}`;
}

/** A fenced Markdown code block around lines of plain text: the fence is longer than any backtick run in them. */
export function markdownCodeBlock(lines: readonly string[], info = 'text'): string[] {
  const safe = lines.map((l) => oneLine(l));
  const longest = Math.max(2, ...safe.flatMap((l) => (l.match(/`+/g) ?? []).map((run) => run.length)));
  const fence = '`'.repeat(longest + 1);
  return [`${fence}${info}`, ...safe, fence];
}

/**
 * Text for Slack mrkdwn: `&`, `<` and `>` escaped (Slack's only control characters: they start mentions such
 * as `<!channel>` and links), line breaks kept, other control characters escaped.
 */
export function slackText(text: string): string {
  return multiLine(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Text for HTML element content and attribute values. */
export function htmlText(text: string): string {
  return multiLine(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}
