import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadPlaybooks, parsePlaybook, PlaybookError, PlaybookRegistry } from '../../src/playbooks/loader';
import { correlationKeyFor, evaluateSeverity } from '../../src/playbooks/policy';
import { normalizeGeneric } from '../../src/ingest/generic';
import type { GenericAlert } from '../../src/ingest/generic';

const alert = (a: Partial<GenericAlert>) =>
  normalizeGeneric({ source: 'edr', id: '1', title: 't', severity: 'high', ...a }, '2026-11-28T00:00:00Z');

describe('shipped playbooks', () => {
  let registry: PlaybookRegistry;
  beforeAll(async () => {
    registry = await loadPlaybooks(path.resolve(__dirname, '../../playbooks'));
  });

  it('loads all of them with one default', () => {
    expect(registry.playbooks.map((p) => p.playbook.id).sort()).toEqual(
      ['c2-traffic', 'compromised-account', 'default', 'ransomware-host'].sort(),
    );
  });

  it('selects by rule, by type, and falls back to the default', () => {
    expect(registry.select(alert({ rule: 'ransomware.mass_encryption' })).playbook.id).toBe(
      'ransomware-host',
    );
    expect(registry.select(alert({ type: 'account_compromise', rule: 'x' })).playbook.id).toBe(
      'compromised-account',
    );
    expect(registry.select(alert({ rule: 'network.c2.beacon' })).playbook.id).toBe('c2-traffic');
    expect(registry.select(alert({ rule: 'something.else' })).playbook.id).toBe('default');
  });

  it('raises severity for crown-jewel assets and wide scope, never below the alert', () => {
    const pb = registry.get('ransomware-host')!.playbook;
    const scope = (hosts: string[]) => ({ hosts, accounts: [], ips: [], domains: [] });
    expect(evaluateSeverity(pb, 'high', scope(['ws-1']))).toBe('high');
    expect(evaluateSeverity(pb, 'low', scope(['ws-1']))).toBe('high'); // playbook minimum
    expect(evaluateSeverity(pb, 'high', scope(['dc-01']))).toBe('critical'); // asset tag
    expect(evaluateSeverity(pb, 'high', scope(['ws-1', 'ws-2', 'ws-3']))).toBe('critical'); // scope size
  });

  it('correlates by the playbook key template, and an alert without the entity only with itself', () => {
    const pb = registry.get('ransomware-host')!.playbook;
    expect(correlationKeyFor(pb, alert({ hosts: ['WS-1'] }))).toBe('ransomware-host|ws-1');
    expect(correlationKeyFor(pb, alert({ id: 'x9', accounts: ['a'] }))).toBe('ransomware-host|alert:edr:x9');
  });

  it('alerts with no entity at all correlate by rule within the playbook window (default 1 h)', () => {
    const pb = registry.get('ransomware-host')!.playbook;
    expect(pb.correlation.entitylessWindow).toBe(3_600_000);
    const at = (id: string, detectedAt: string, rule = 'ransomware.canary') =>
      correlationKeyFor(pb, alert({ id, rule, detectedAt }));
    const a = at('1', '2026-11-28T10:05:00Z');
    expect(a).toBe(
      'ransomware-host|rule:ransomware.canary|no-entity|window:2026-11-28T10:00:00.000Z/3600000ms',
    );
    expect(at('2', '2026-11-28T10:59:59Z')).toBe(a);
    expect(at('3', '2026-11-28T11:00:00Z')).not.toBe(a);
    expect(at('4', '2026-11-28T10:30:00Z', 'ransomware.other')).not.toBe(a);
    // An alert that names an entity, though not the one the template needs, still correlates only with itself.
    expect(correlationKeyFor(pb, alert({ id: 'x9', accounts: ['a'] }))).toBe('ransomware-host|alert:edr:x9');
    // A window of 0 keeps each entity-less alert alone.
    const alone = parsePlaybook(
      `id: p\nname: P\nversion: 1\ndefault: true\ncorrelation: { entitylessWindow: 0 }\n`,
      'p.yaml',
    ).playbook;
    expect(correlationKeyFor(alone, alert({ id: '5' }))).toBe('p|alert:edr:5');
  });
});

describe('playbook validation', () => {
  const valid = `id: p\nname: P\nversion: 1\ndefault: true\n`;

  it('accepts a minimal playbook and fills sane defaults', () => {
    const { playbook, hash } = parsePlaybook(valid, 'p.yaml');
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(playbook.approvals).toMatchObject({
      escalateAfter: 900_000,
      expireAfter: 7_200_000,
      onExpiry: 'reject',
    });
    expect(playbook.recovery.approval.high).toBe('approve');
  });

  it('names the file, the line and the path of the offending field', () => {
    const bad = `${valid}containment:\n  isolate_host:\n    approval: { critical: auto, high: sometimes, medium: auto, low: auto }\n`;
    expect(() => parsePlaybook(bad, 'playbooks/bad.yaml')).toThrow(
      /playbooks\/bad\.yaml:7: containment\.isolate_host\.approval\.high: Invalid option/,
    );
  });

  it('rejects unknown keys, bad durations, and expiry before escalation', () => {
    expect(() => parsePlaybook(`${valid}containmnt: {}\n`, 'a.yaml')).toThrow(
      /a\.yaml:5: \(root\): Unrecognized key: "containmnt"/,
    );
    expect(() => parsePlaybook(`${valid}approvals: { escalateAfter: soon }\n`, 'b.yaml')).toThrow(
      /approvals\.escalateAfter: invalid duration/,
    );
    expect(() =>
      parsePlaybook(`${valid}approvals: { escalateAfter: 2h, expireAfter: 1h }\n`, 'c.yaml'),
    ).toThrow(/approvals\.expireAfter: expireAfter must be longer/);
  });

  it('rejects broken YAML with the file name', () => {
    expect(() => parsePlaybook('id: p\nname: [unclosed', 'broken.yaml')).toThrow(
      /broken\.yaml:2: \(yaml\): invalid YAML/,
    );
  });

  it('requires exactly one default and unique ids', () => {
    const a = parsePlaybook(valid, 'a.yaml');
    const b = parsePlaybook(valid.replace('id: p', 'id: q'), 'b.yaml');
    expect(() => PlaybookRegistry.from([a, b])).toThrow(PlaybookError);
    expect(() => PlaybookRegistry.from([a, b])).toThrow(
      /a\.yaml: default: several default playbooks \(also b\.yaml\)/,
    );
    expect(() => PlaybookRegistry.from([a, parsePlaybook(valid, 'c.yaml')])).toThrow(
      /already used by a\.yaml/,
    );
    expect(() => PlaybookRegistry.from([parsePlaybook(`id: p\nname: P\nversion: 1\n`, 'd.yaml')])).toThrow(
      /no default playbook/,
    );
  });
});

describe('loading a playbook directory', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-playbooks-'));
  });
  afterEach(() => fs.rm(dir, { recursive: true, force: true }));

  it('reports every invalid file at once, each problem with its line', async () => {
    await fs.writeFile(path.join(dir, 'a.yaml'), 'id: a\nname: A\nversion: 1\ndefault: true\n');
    await fs.writeFile(path.join(dir, 'b.yaml'), 'id: b\nname: B\nversion: 0\n');
    await fs.writeFile(
      path.join(dir, 'c.yaml'),
      'id: c\nname: C\nversion: 1\nseverity: { minimum: urgent }\n',
    );
    const err = (await loadPlaybooks(dir).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(PlaybookError);
    expect(err.message).toMatch(/b\.yaml:3: version: Too small/);
    expect(err.message).toMatch(/c\.yaml:4: severity\.minimum: Invalid option/);
  });
});
