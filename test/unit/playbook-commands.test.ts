import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { buildProgram } from '../../src/cli/main';
import { registerPlaybookCommands, type PlaybookValidation } from '../../src/cli/playbook-commands';

const ROOT = path.resolve(__dirname, '../..');

/** Runs `quell playbook <args>` in-process with captured streams and exit code. */
async function runPlaybookCli(args: string[], env: NodeJS.ProcessEnv = {}) {
  let stdout = '';
  let stderr = '';
  let exitCode = 0;
  const program = new Command().name('quell').exitOverride();
  program.configureOutput({ writeOut: (s) => (stdout += s), writeErr: (s) => (stderr += s) });
  registerPlaybookCommands(program, {
    env,
    stdout: { write: (s: string) => ((stdout += s), true) },
    stderr: { write: (s: string) => ((stderr += s), true) },
    setExitCode: (c) => (exitCode = c),
  });
  for (const cmd of program.commands) {
    cmd.exitOverride();
    for (const sub of cmd.commands) sub.exitOverride();
  }
  try {
    await program.parseAsync(['node', 'quell', 'playbook', ...args]);
  } catch (err) {
    const code = (err as { exitCode?: number }).exitCode;
    if (code === undefined) throw err;
    exitCode = code;
  }
  return { stdout, stderr, exitCode };
}

const minimal = (id: string, extra = '') => `id: ${id}\nname: ${id}\nversion: 1\n${extra}`;

describe('quell playbook validate', () => {
  let dir: string;
  const write = (name: string, text: string) => fs.writeFile(path.join(dir, name), text);
  const rel = (name: string) => path.relative(process.cwd(), path.join(dir, name));
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-validate-'));
  });
  afterEach(() => fs.rm(dir, { recursive: true, force: true }));

  it('passes the shipped playbooks, from QUELL_PLAYBOOKS_DIR when no path is given', async () => {
    const r = await runPlaybookCli(['validate'], { QUELL_PLAYBOOKS_DIR: path.join(ROOT, 'playbooks') });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/playbooks\/default\.yaml: OK\n/);
    expect(r.stdout).toMatch(/\n4 playbooks valid, 0 invalid\n$/);
    expect(r.stderr).toBe('');
  });

  it('passes the bench playbooks too', async () => {
    const r = await runPlaybookCli(['validate', path.join(ROOT, 'bench/playbooks')]);
    expect(r.stdout).toMatch(/\n3 playbooks valid, 0 invalid\n$/);
    expect(r.exitCode).toBe(0);
  });

  it('names the file, the line and the field of a bad severity, and exits 1', async () => {
    await write('default.yaml', minimal('fallback', 'default: true\n'));
    await write(
      'ransomware.yaml',
      minimal(
        'ransomware',
        'severity:\n  minimum: high\n  rules:\n    - when: { minScopeSize: 3 }\n      atLeast: urgent\n',
      ),
    );
    const r = await runPlaybookCli(['validate', dir]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain(`${rel('default.yaml')}: OK\n`);
    expect(r.stdout).toContain(
      `${rel('ransomware.yaml')}:8: severity.rules[0].atLeast: Invalid option: expected one of "critical"|"high"|"medium"|"low"\n`,
    );
    expect(r.stdout).toMatch(/\n1 playbook valid, 1 invalid\n$/);
  });

  it('reports duplicate ids across files and several defaults, at their lines', async () => {
    await write('a.yaml', `# first\n${minimal('triage', 'default: true\n')}`);
    await write('b.yaml', minimal('triage', 'default: true\n'));
    const r = await runPlaybookCli(['validate', dir]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain(`${rel('b.yaml')}:1: id: id "triage" is already used by ${rel('a.yaml')}\n`);
    expect(r.stdout).toContain(
      `${rel('a.yaml')}:5: default: several default playbooks (also ${rel('b.yaml')}): exactly one may be default\n`,
    );
    expect(r.stdout).toMatch(/\n0 playbooks valid, 2 invalid\n$/);
  });

  it('requires a default in a directory, but not among files named on their own', async () => {
    await write('c2.yaml', minimal('c2'));
    const inDir = await runPlaybookCli(['validate', dir]);
    expect(inDir.exitCode).toBe(1);
    expect(inDir.stdout).toContain(`${path.relative(process.cwd(), dir)}: default: no default playbook`);
    expect(inDir.stdout).toMatch(/1 playbook valid, 0 invalid; 1 problem with a set of playbooks\n$/);
    const alone = await runPlaybookCli(['validate', path.join(dir, 'c2.yaml')]);
    expect(alone.exitCode).toBe(0);
    expect(alone.stdout).toBe(`${rel('c2.yaml')}: OK\n1 playbook valid, 0 invalid\n`);
  });

  it('prints a machine-readable result with --json', async () => {
    await write('default.yaml', minimal('fallback', 'default: true\n'));
    await write('bad.yaml', minimal('bad', 'approvals:\n  escalateAfter: soon\n'));
    const r = await runPlaybookCli(['validate', '--json', dir]);
    expect(r.exitCode).toBe(1);
    const result = JSON.parse(r.stdout) as PlaybookValidation;
    expect(result).toEqual({
      ok: false,
      files: [
        {
          file: rel('bad.yaml'),
          ok: false,
          problems: [
            {
              path: 'approvals.escalateAfter',
              line: 5,
              message: 'invalid duration "soon" (use e.g. 30s, 15m, 2h, 7d)',
            },
          ],
        },
        { file: rel('default.yaml'), ok: true, problems: [] },
      ],
      problems: [],
    });
  });

  it('reports broken YAML at its line', async () => {
    await write('broken.yaml', 'id: broken\nname: [unclosed\nversion: 1\n');
    const r = await runPlaybookCli(['validate', path.join(dir, 'broken.yaml')]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`^${rel('broken.yaml')}:\\d+: \\(yaml\\): invalid YAML: `));
  });

  it('exits 2 for a path that does not exist or a directory without playbooks', async () => {
    const missing = await runPlaybookCli(['validate', path.join(dir, 'nope')]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/^quell: Cannot read .*nope: no such file or directory\n$/);
    expect(missing.stdout).toBe('');
    const empty = await runPlaybookCli(['validate', dir]);
    expect(empty.exitCode).toBe(2);
    expect(empty.stderr).toMatch(/No playbooks \(\*\.yaml, \*\.yml\) in /);
  });

  it('says in --help what it checks, the default directory and the exit codes', async () => {
    const r = await runPlaybookCli(['validate', '--help']);
    expect(r.exitCode).toBe(0);
    const help = r.stdout.replace(/\s+/g, ' ');
    expect(help).toMatch(/Exit code 0 when all are valid, 1 when any is not, 2 when a path/);
    expect(help).toMatch(/default: QUELL_PLAYBOOKS_DIR \(\.\/playbooks\)/);
    expect(r.stdout).toMatch(/--json/);
  });
});

describe('wiring into the quell program', () => {
  it('quell carries `playbook validate`, `playbook simulate` and `playbook schema`', () => {
    const playbook = buildProgram().commands.find((c) => c.name() === 'playbook');
    expect(playbook?.commands.map((c) => c.name())).toEqual(['validate', 'simulate', 'schema']);
  });
});
