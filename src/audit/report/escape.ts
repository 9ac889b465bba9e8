/** Untrusted text inside the Markdown: escaped, one line (see src/domain/untrusted-text.ts). */
import { markdownCode, markdownText } from '../../domain/untrusted-text';

export const md = (s: string | number | undefined | null) => markdownText(String(s ?? ''));
export const code = (s: string | number | undefined | null) => markdownCode(String(s ?? ''));
