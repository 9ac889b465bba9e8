import { z } from 'zod';
import { BUILTIN_CATALOGUE } from '../actions/catalogue';
import { playbookSchemaFor } from './schema';

/** Where the JSON Schema is committed, relative to the project root; the shipped playbooks' modelines point here. */
export const PLAYBOOK_JSON_SCHEMA_FILE = 'playbooks/playbook.schema.json';

/**
 * The JSON Schema (draft-07, what yaml-language-server supports best) of what a playbook author writes: the
 * input form, so durations are "15m" or milliseconds, and fields with defaults are optional. Rules that need
 * the whole playbook (expireAfter longer than escalateAfter, unique checklist ids) and the cross-file rules
 * are only in `quell playbook validate`.
 */
export function playbookJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(playbookSchemaFor(BUILTIN_CATALOGUE), { io: 'input', target: 'draft-7' });
  const { $schema, ...rest } = generated;
  return {
    $schema,
    title: 'Quell playbook',
    description:
      'An incident response playbook for Quell: which alerts it handles, how severity is set, which containment ' +
      'needs approval, and what each phase does. Check a directory with `quell playbook validate`.',
    ...rest,
  };
}

/** The schema file's exact text: the committed file must equal it (test/unit/playbook-schema.test.ts). */
export function playbookJsonSchemaText(): string {
  return JSON.stringify(playbookJsonSchema(), null, 2) + '\n';
}
