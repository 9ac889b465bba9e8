import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { labLogLines } from '../../src/connectors/lab';
import { FileLogSource } from '../../src/connectors/logs/files';
import { LabLogSource } from '../../src/connectors/logs/lab';
import { leadingTimestamp } from '../../src/connectors/logs/window';
import { expectConnectorError, labAllowList, startTestLab, useLab } from './support';

describe('FileLogSource', () => {
  let root: string;
  beforeAll(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-logs-'));
    const host = path.join(root, 'ws-fin-042');
    await fs.mkdir(host);
    await fs.writeFile(
      path.join(host, 'a-auth.log'),
      [
        'header line without a timestamp',
        '2026-11-28T08:59:59Z sshd: before the window',
        '  continuation of the line before (excluded with it)',
        '2026-11-28T09:00:00Z sshd: at the start of the window',
        '2026-11-28T10:30:00.123+01:00 sshd: 09:30 UTC, inside',
        '  continuation inside',
        '2026-11-28T09:40:00+01:00 sshd: 08:40 UTC, outside',
        '2026-11-28 09:45:00 sudo: space separator, no zone = UTC, inside',
        '[2026-11-28T09:59:59.999Z] app: bracketed, inside',
        '2026-11-28T10:00:00.001Z sshd: after the window',
        'Nov 28 09:40:00 syslog-style line follows the excluded one',
      ].join('\n'),
    );
    await fs.writeFile(
      path.join(host, 'b-app.log'),
      '2026-11-28T09:10:00Z app: second file\r\n2026-11-28T11:00:00Z app: late\n',
    );
    await fs.writeFile(path.join(host, 'ignored.txt'), '2026-11-28T09:10:00Z not a log file\n');
    await fs.writeFile(path.join(host, 'c-app.log.1'), '2026-11-28T09:20:00Z rotated\n');
  });
  afterAll(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  const window = { host: 'ws-fin-042', from: '2026-11-28T09:00:00Z', to: '2026-11-28T10:00:00Z' };

  it('keeps timestamped lines within the window, with their continuation lines, across files in name order', async () => {
    const res = await new FileLogSource({ root }).readHostLogs(window);
    expect(res.content.toString('utf8').split('\n').filter(Boolean)).toEqual([
      'header line without a timestamp',
      '2026-11-28T09:00:00Z sshd: at the start of the window',
      '2026-11-28T10:30:00.123+01:00 sshd: 09:30 UTC, inside',
      '  continuation inside',
      '2026-11-28 09:45:00 sudo: space separator, no zone = UTC, inside',
      '[2026-11-28T09:59:59.999Z] app: bracketed, inside',
      '2026-11-28T09:10:00Z app: second file',
    ]);
    expect(res.lineCount).toBe(7);
    expect(res.source).toBe(`file:${path.join(root, 'ws-fin-042', '*.log')}`);
  });

  it('takes several file patterns', async () => {
    const res = await new FileLogSource({ root, patterns: ['*.log', '*.log.1'] }).readHostLogs(window);
    expect(res.content.toString()).toContain('rotated');
    expect(res.source).toMatch(/\{\*\.log,\*\.log\.1\}$/);
  });

  it('answers not found for a host without a directory, and refuses path tricks', async () => {
    await expectConnectorError(
      new FileLogSource({ root }).readHostLogs({ ...window, host: 'ws-none' }),
      'not_found',
    );
    await expectConnectorError(
      new FileLogSource({ root }).readHostLogs({ ...window, host: '../etc' }),
      'permanent',
    );
    await expectConnectorError(
      new FileLogSource({ root }).readHostLogs({ ...window, host: 'a/b' }),
      'permanent',
    );
    expect(() => new FileLogSource({ root, patterns: ['../*.log'] })).toThrow(/invalid log file pattern/);
  });

  it('refuses bad windows and oversized answers', async () => {
    await expectConnectorError(
      new FileLogSource({ root }).readHostLogs({ ...window, from: 'yesterday' }),
      'permanent',
    );
    await expectConnectorError(
      new FileLogSource({ root }).readHostLogs({ ...window, from: window.to, to: window.from }),
      'permanent',
    );
    await expectConnectorError(new FileLogSource({ root, maxBytes: 50 }).readHostLogs(window), 'permanent');
  });

  it('parses leading timestamps', () => {
    expect(leadingTimestamp('2026-11-28T09:00:00Z x')).toBe(Date.parse('2026-11-28T09:00:00Z'));
    expect(leadingTimestamp('2026-11-28T09:00:00+0200 x')).toBe(Date.parse('2026-11-28T07:00:00Z'));
    expect(leadingTimestamp('2026-11-28T09:00 x')).toBe(Date.parse('2026-11-28T09:00:00Z'));
    expect(leadingTimestamp('2026-11-28 09:00:00,250 x')).toBe(Date.parse('2026-11-28T09:00:00.250Z'));
    expect(leadingTimestamp('x 2026-11-28T09:00:00Z')).toBeUndefined();
    expect(leadingTimestamp('2026-11-28T09:00:00Zfoo')).toBeUndefined();
  });
});

describe('LabLogSource', () => {
  const ctl = useLab();
  const src = () =>
    new LabLogSource({ labUrl: ctl.lab.url, allowList: labAllowList(ctl.lab), timeoutMs: 2_000 });

  it('returns deterministic lines for a host and window', async () => {
    const req = { host: 'ws-fin-042', from: '2026-11-28T09:00:00Z', to: '2026-11-28T09:30:00Z' };
    const a = await src().readHostLogs(req);
    const b = await src().readHostLogs(req);
    expect(a.content.equals(b.content)).toBe(true);
    expect(a.lineCount).toBe(31);
    expect(a.source).toBe(`lab:${ctl.lab.url}/lab/logs/ws-fin-042`);
    const lines = a.content.toString().trim().split('\n');
    expect(lines[0]).toMatch(/^2026-11-28T09:00:00\.000Z ws-fin-042 /);
    expect(lines.at(-1)).toMatch(/^2026-11-28T09:30:00\.000Z ws-fin-042 /);
    // Overlapping windows agree on their overlap; another host differs.
    const later = await src().readHostLogs({
      ...req,
      from: '2026-11-28T09:15:00Z',
      to: '2026-11-28T09:45:00Z',
    });
    expect(later.content.toString().split('\n').slice(0, 16)).toEqual(lines.slice(15));
    const other = await src().readHostLogs({ ...req, host: 'dc-01' });
    expect(other.content.equals(a.content)).toBe(false);
  });

  it('samples long windows within the line cap, and rejects bad windows', async () => {
    const lines = labLogLines(
      'srv-web-01',
      Date.parse('2026-01-01T00:00:00Z'),
      Date.parse('2026-03-01T00:00:00Z'),
    );
    expect(lines.length).toBeLessThanOrEqual(20_000);
    expect(lines.length).toBeGreaterThan(10_000);
    await expectConnectorError(src().readHostLogs({ host: 'dc-01', from: 'x', to: 'y' }), 'permanent');
  });

  it('answers not found for unknown hosts when the lab does not auto-provision', async () => {
    const lab = await startTestLab({ autoProvision: false });
    try {
      const s = new LabLogSource({ labUrl: lab.url, allowList: labAllowList(lab) });
      await expectConnectorError(
        s.readHostLogs({ host: 'ws-unknown', from: '2026-11-28T09:00:00Z', to: '2026-11-28T09:01:00Z' }),
        'not_found',
      );
    } finally {
      await lab.stop();
    }
  });
});
