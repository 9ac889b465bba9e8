import { ProgressBar } from '../../src/audit/progress';
import { connectFromEnvironment } from '../../src/cli/audit-commands';
import { buildProgram } from '../../src/cli/main';
import { TemporalUnreachableError } from '../../src/temporal/connection';
import { runCli } from './helpers';

describe('audit CLI: help and configuration', () => {
  it.each([
    [
      ['history', 'export', '--help'],
      /temporal workflow show --output json[\s\S]*--runs-dir[\s\S]*quell\.history-export\/v1[\s\S]*QUELL_ENCRYPTION_KEY/,
    ],
    [
      ['replay', '--help'],
      /CURRENT workflow code[\s\S]*Exit code 1[\s\S]*--incident[\s\S]*--all[\s\S]*--query[\s\S]*Examples:/,
    ],
    [
      ['audit', 'export', '--help'],
      /tamper-evident[\s\S]*--out[\s\S]*--no-embed-code[\s\S]*Workflow code:[\s\S]*QUELL_AUDIT_SIGNING_KEY[\s\S]*UNSIGNED/,
    ],
    [
      ['audit', 'verify', '--help'],
      /FIRST entry[\s\S]*--public-key[\s\S]*--require-signature[\s\S]*--replay[\s\S]*--against-current[\s\S]*workflow-code[\s\S]*both hashes/,
    ],
    [['audit', 'timeline', '--help'], /derived from its history/],
    [['audit', 'report', '--help'], /--format/],
  ])('quell %s', async (args, expected) => {
    const r = await runCli(args);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(expected);
  });

  it('without TEMPORAL_ADDRESS, incident commands use the embedded server and say what to do when it is down', async () => {
    const { TEMPORAL_ADDRESS: _a, ...env } = process.env;
    // Nothing listens on port 1: as when `quell start` is not running.
    const err = await connectFromEnvironment({ ...env, QUELL_TEMPORAL_PORT: '1' }).catch((e: unknown) => e);
    // The commands print it as one line, without a stack trace (exit 1).
    expect(err).toBeInstanceOf(TemporalUnreachableError);
    expect((err as Error).message).toMatch(
      /^Temporal at 127\.0\.0\.1:1 \(namespace \S+\) is unreachable: [^\n]*npm start[^\n]*TEMPORAL_ADDRESS[^\n]*$/,
    );
    // A malformed encryption key is reported before connecting.
    const bad = await connectFromEnvironment({
      ...env,
      TEMPORAL_ADDRESS: '127.0.0.1:1',
      QUELL_ENCRYPTION_KEY: 'k1:short',
    }).catch((e: unknown) => e);
    expect((bad as Error).message).toMatch(/QUELL_ENCRYPTION_KEY key "k1" is \d+ bytes/);
  });
});

describe('progress bar', () => {
  const sink = (isTTY: boolean) => {
    let out = '';
    return { stream: { write: (s: string) => ((out += s), true), isTTY, columns: 100 }, text: () => out };
  };

  it('redraws one line in place on a TTY, with percentage, counts, failures, rate and ETA', () => {
    let t = 0;
    const s = sink(true);
    const bar = new ProgressBar({ label: 'histories', total: 4, stream: s.stream, now: () => t });
    t = 1000;
    bar.tick();
    t = 2000;
    bar.tick(true);
    bar.log('a failure explained');
    t = 3000;
    bar.tick();
    bar.tick();
    bar.finish();
    expect(s.text()).toContain('\r\x1b[2K');
    expect(s.text()).toContain('a failure explained\n');
    expect(s.text()).toMatch(/\[#+\] 100% 4\/4 histories, 1 failed, 1\.3\/s/);
    expect(s.text()).toMatch(/50% 2\/4 histories, 1 failed, 1\.0\/s, ETA 2s/);
  });

  it('prints plain lines (no control characters) elsewhere, about every 10%', () => {
    const s = sink(false);
    const bar = new ProgressBar({ label: 'histories', total: 100, stream: s.stream });
    for (let i = 0; i < 100; i++) bar.tick();
    bar.finish();
    expect(s.text()).not.toContain('\r');
    const lines = s.text().trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(10);
    expect(lines.length).toBeLessThanOrEqual(12);
    expect(lines[lines.length - 1]).toMatch(/100% 100\/100 histories, 0 failed/);
  });

  it('is silent when asked', () => {
    const s = sink(true);
    const bar = new ProgressBar({ label: 'x', total: 2, stream: s.stream, silent: true });
    bar.tick();
    bar.log('nothing');
    bar.finish();
    expect(s.text()).toBe('');
  });
});

describe('wiring into the quell program', () => {
  it('the quell program carries the audit commands next to the others, without clashes', () => {
    const names = buildProgram().commands.map((c) => c.name());
    expect(names).toEqual(
      expect.arrayContaining(['start', 'worker', 'api', 'temporal', 'history', 'replay', 'audit']),
    );
    expect(new Set(names).size).toBe(names.length);
  });
});
