import { readFileSync } from 'node:fs';
import path from 'node:path';

export const SAMPLES_DIR = path.resolve(__dirname, '../../../samples/alerts');
export const SAMPLE_FILES = {
  ocsf: 'ocsf-c2-traffic.json',
  elastic: 'elastic-compromised-account.json',
  alertmanager: 'alertmanager-batch.json',
  generic: 'generic-ransomware.json',
} as const;

export function sampleText(format: keyof typeof SAMPLE_FILES): string {
  return readFileSync(path.join(SAMPLES_DIR, SAMPLE_FILES[format]), 'utf8');
}

/** A fresh parsed copy of a sample (tests mutate it freely, hence untyped). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function sample(format: keyof typeof SAMPLE_FILES): any {
  return JSON.parse(sampleText(format));
}

/** The playbook matchers being written now: rule globs or types (a `*` matches any run of characters). */
export const PLAYBOOK_MATCHERS = {
  ransomware: { rules: ['ransomware.*'], types: ['ransomware'] },
  'compromised-account': { rules: ['identity.*'], types: ['account_compromise'] },
  c2: { rules: ['network.c2.*'], types: ['c2'] },
} as const;

function glob(pattern: string): RegExp {
  return new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
}

export function matchingPlaybooks(alert: { ruleName: string; type?: string }): string[] {
  return Object.entries(PLAYBOOK_MATCHERS)
    .filter(
      ([, m]) =>
        m.rules.some((r) => glob(r).test(alert.ruleName)) ||
        (alert.type !== undefined && (m.types as readonly string[]).includes(alert.type)),
    )
    .map(([id]) => id);
}

/** Nested objects to dotted keys (arrays kept), as Elastic's flattened `fields` look. */
export function toDotted(obj: Record<string, unknown>, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v))
      Object.assign(out, toDotted(v as Record<string, unknown>, key));
    else out[key] = v;
  }
  return out;
}
