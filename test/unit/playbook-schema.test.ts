import { promises as fs } from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import { parse } from 'yaml';
import {
  playbookJsonSchema,
  playbookJsonSchemaText,
  PLAYBOOK_JSON_SCHEMA_FILE,
} from '../../src/playbooks/json-schema';
import { registerPlaybookCommands } from '../../src/cli/playbook-commands';
import { Command } from 'commander';

const ROOT = path.resolve(__dirname, '../..');
const SHIPPED_DIRS = ['playbooks', 'bench/playbooks'];

async function shippedPlaybooks(): Promise<string[]> {
  const files: string[] = [];
  for (const dir of SHIPPED_DIRS) {
    for (const name of (await fs.readdir(path.join(ROOT, dir))).sort()) {
      if (/\.ya?ml$/.test(name)) files.push(path.join(dir, name));
    }
  }
  return files;
}

// ajv comes with the Temporal worker's bundler; strict mode also rejects keywords it does not know.
const validator = () => new Ajv({ strict: true, allowUnionTypes: true }).compile(playbookJsonSchema());

describe('playbook JSON Schema', () => {
  it('is committed as generated (regenerate: node bin/quell.js playbook schema -o playbooks/playbook.schema.json)', async () => {
    const committed = await fs.readFile(path.join(ROOT, PLAYBOOK_JSON_SCHEMA_FILE), 'utf8');
    if (committed !== playbookJsonSchemaText()) {
      throw new Error(
        `${PLAYBOOK_JSON_SCHEMA_FILE} is out of date with src/playbooks/schema.ts. Regenerate it with\n` +
          `  node bin/quell.js playbook schema --output ${PLAYBOOK_JSON_SCHEMA_FILE}\nand commit it.`,
      );
    }
  });

  it('is a draft-07 schema of what authors write: durations as text or milliseconds, defaults optional', () => {
    const schema = playbookJsonSchema() as {
      $schema: string;
      required: string[];
      properties: Record<string, { properties: Record<string, unknown> }>;
    };
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(schema.required).toEqual(['id', 'name', 'version']);
    const validate = validator();
    const minimal = { id: 'p', name: 'P', version: 1 };
    expect(validate({ ...minimal, approvals: { escalateAfter: '15m', expireAfter: 7_200_000 } })).toBe(true);
    expect(validate({ ...minimal, approvals: { escalateAfter: 'soon' } })).toBe(false);
    expect(validate({ ...minimal, approvals: { escalateAfter: -1 } })).toBe(false);
    expect(validate({ ...minimal, severity: { minimum: 'urgent' } })).toBe(false);
    expect(validate({ ...minimal, containmnt: {} })).toBe(false);
  });

  it('accepts every shipped playbook', async () => {
    const validate = validator();
    const files = await shippedPlaybooks();
    expect(files.length).toBeGreaterThanOrEqual(7);
    for (const file of files) {
      const ok = validate(parse(await fs.readFile(path.join(ROOT, file), 'utf8')));
      expect({ file, errors: ok ? null : validate.errors }).toEqual({ file, errors: null });
    }
  });

  it('is named, with a path that resolves to it, in the first line of every shipped playbook', async () => {
    for (const file of await shippedPlaybooks()) {
      const first = (await fs.readFile(path.join(ROOT, file), 'utf8')).split('\n')[0]!;
      const m = /^# yaml-language-server: \$schema=(\S+)$/.exec(first);
      expect({ file, modeline: m ? 'present' : first }).toEqual({ file, modeline: 'present' });
      expect(path.resolve(ROOT, path.dirname(file), m![1]!)).toBe(path.join(ROOT, PLAYBOOK_JSON_SCHEMA_FILE));
    }
  });

  it('quell playbook schema prints it, or writes it with --output', async () => {
    let stdout = '';
    let stderr = '';
    const run = (args: string[]) => {
      const program = new Command().name('quell');
      registerPlaybookCommands(program, {
        stdout: { write: (s: string) => ((stdout += s), true) },
        stderr: { write: (s: string) => ((stderr += s), true) },
        setExitCode: (c) => {
          throw new Error(`exit code ${c}: ${stderr}`);
        },
      });
      return program.parseAsync(['node', 'quell', 'playbook', 'schema', ...args]);
    };
    await run([]);
    expect(stdout).toBe(playbookJsonSchemaText());
    const dir = await fs.mkdtemp(path.join(ROOT, '.cache', 'schema-test-'));
    try {
      const out = path.join(dir, 'playbook.schema.json');
      await run(['--output', out]);
      expect(await fs.readFile(out, 'utf8')).toBe(playbookJsonSchemaText());
      expect(stderr).toBe(`wrote ${out}\n`);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
