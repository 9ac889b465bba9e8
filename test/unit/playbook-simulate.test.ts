import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import type { NormalizedAlert } from '../../src/domain/alert';
import { registerPlaybookCommands } from '../../src/cli/playbook-commands';
import { formatSimulation, type SimulationReport } from '../../src/cli/playbook-simulate';
import { parsePlaybook, PlaybookRegistry } from '../../src/playbooks/loader';
import {
  groupAlerts,
  simulateIncident,
  type RecordedIncident,
  type SimulatedAlertInput,
} from '../../src/playbooks/simulate';
import { testPlaybookYaml } from '../support/incident-harness';

const ROOT = path.resolve(__dirname, '../..');
const HISTORIES = path.join(ROOT, 'test/histories');

function alert(id: string, overrides: Partial<NormalizedAlert> = {}): NormalizedAlert {
  return {
    source: 'edr',
    sourceAlertId: id,
    format: 'generic',
    title: `alert ${id}`,
    ruleName: 'malware.detected',
    severity: 'high',
    detectedAt: '2026-12-01T10:00:00Z',
    receivedAt: '2026-12-01T10:00:01Z',
    entities: { hosts: ['ws-1'], accounts: [], ips: [], domains: [] },
    ...overrides,
  };
}

const ransomwareYaml = `id: ransomware
name: Ransomware
version: 3
priority: 50
match: { rules: ["ransomware.*"] }
severity:
  minimum: medium
  rules:
    - { when: { hostPatterns: ["dc-*"] }, atLeast: critical }
containment:
  isolate_host:
    approval: { critical: auto, high: approve, medium: two_person, low: never }
  block_ip:
    approval: { critical: auto, high: auto, medium: auto, low: auto }
`;

const registryOf = (...yamls: [string, string][]) =>
  PlaybookRegistry.from(yamls.map(([text, file]) => parsePlaybook(text, file)));
const defaultRegistry = () => registryOf([testPlaybookYaml(), 'test-pb.yaml']);
const inputs = (...alerts: NormalizedAlert[]): SimulatedAlertInput[] =>
  alerts.map((a) => ({ alert: a, raisedBy: 'siem-ingest' }));

describe('simulateIncident', () => {
  it('names the playbook a rule matched, the severity rules that raised it and each action’s verdict', () => {
    const registry = registryOf([testPlaybookYaml(), 'test-pb.yaml'], [ransomwareYaml, 'ransomware.yaml']);
    const sim = simulateIncident(registry, {
      label: 'a',
      alerts: inputs(
        alert('1', {
          ruleName: 'ransomware.encrypt',
          severity: 'low',
          entities: { hosts: ['dc-01'], accounts: [], ips: ['198.51.100.7', '10.0.0.5'], domains: [] },
        }),
      ),
    });
    expect(sim.playbook).toMatchObject({ id: 'ransomware', version: 3 });
    expect(sim.playbook.why).toMatch(/^match: rule ransomware\.encrypt ~ ransomware\.\* \(priority 50\)$/);
    expect(sim.severity.value).toBe('critical');
    expect(sim.severity.reasons).toEqual([
      'highest alert severity low',
      'playbook minimum medium',
      'severity.rules[0]: at least critical (hostPatterns dc-*)',
    ]);
    // The internal address is left alone, as the workflow does.
    expect(sim.actions).toEqual([
      {
        purpose: 'containment',
        kind: 'isolate_host',
        target: 'dc-01',
        policy: 'auto',
        verdict: 'runs at once',
      },
      {
        purpose: 'containment',
        kind: 'block_ip',
        target: '198.51.100.7',
        policy: 'auto',
        verdict: 'runs at once',
      },
    ]);
  });

  it('falls back to the default playbook; approvals name who may not approve; never is never', () => {
    const sim = simulateIncident(defaultRegistry(), {
      label: 'b',
      alerts: inputs(
        alert('1', {
          severity: 'medium',
          entities: { hosts: ['ws-1'], accounts: ['j.doe'], ips: [], domains: [] },
        }),
      ),
    });
    expect(sim.playbook.why).toBe('default playbook (no other playbook matches)');
    expect(sim.actions.map((a) => [a.kind, a.verdict, a.mayNotApprove])).toEqual([
      ['isolate_host', 'waits for 2 approvers', ['siem-ingest']],
      ['disable_account', 'waits for 1 approver', ['siem-ingest']],
    ]);
    const low = simulateIncident(defaultRegistry(), {
      label: 'c',
      alerts: inputs(alert('1', { severity: 'low' })),
    });
    expect(low.actions.map((a) => a.verdict)).toEqual(['never']);
  });

  it('counts a redelivery once, plans what a later alert adds, and a raised severity changes waiting approvals', () => {
    const sim = simulateIncident(defaultRegistry(), {
      label: 'd',
      alerts: inputs(
        alert('1'),
        alert('1'),
        alert('2', {
          severity: 'critical',
          entities: { hosts: ['ws-2'], accounts: [], ips: [], domains: [] },
        }),
      ),
    });
    expect(sim.alerts).toBe(2);
    expect(sim.severity.value).toBe('critical');
    expect(sim.actions.map((a) => [a.target, a.policy])).toEqual([
      ['ws-1', 'auto'],
      ['ws-2', 'auto'],
    ]);
  });

  it('compares with a recording per action: same, policy changed, new, no longer planned, target differs', () => {
    const registry = defaultRegistry();
    const recorded: RecordedIncident = {
      label: 'r',
      playbook: { id: 'test-pb', version: 1, hash: 'x' },
      severity: 'high',
      alerts: inputs(
        alert('1', { entities: { hosts: ['ws-1'], accounts: ['j.doe'], ips: ['203.0.113.9'], domains: [] } }),
      ),
      actions: [
        {
          actionId: 'A1',
          purpose: 'containment',
          kind: 'isolate_host',
          target: 'ws-1',
          policy: 'auto',
          state: 'succeeded',
          decidedBy: [],
        },
        {
          actionId: 'A2',
          purpose: 'containment',
          kind: 'disable_account',
          target: 'j.doe',
          policy: 'approve',
          state: 'succeeded',
          decidedBy: ['alice: approve'],
        },
        {
          actionId: 'A3',
          purpose: 'containment',
          kind: 'block_ip',
          target: '203.0.113.1',
          policy: 'auto',
          state: 'succeeded',
          decidedBy: [],
        },
        {
          actionId: 'A4',
          purpose: 'containment',
          kind: 'block_domain',
          target: 'evil.example',
          policy: 'auto',
          state: 'succeeded',
          decidedBy: [],
        },
      ],
    };
    const sim = simulateIncident(registry, { label: 'r', alerts: recorded.alerts, recorded });
    const cmp = sim.comparison!;
    expect(cmp.result).toBe('differs');
    expect(cmp.playbook.same).toBe(true);
    expect(cmp.severity).toEqual({ recorded: 'high', same: true });
    expect(cmp.actions.map((c) => [c.kind, c.target, c.result, c.change])).toEqual([
      ['isolate_host', 'ws-1', 'differs', 'policy changed'],
      ['disable_account', 'j.doe', 'same', undefined],
      ['block_ip', '203.0.113.9', 'differs', 'target differs'],
      ['block_domain', 'evil.example', 'differs', 'no longer planned'],
    ]);
    expect(cmp.actions[1]!.recorded?.decidedBy).toEqual(['alice: approve']);
  });

  it('reports a different playbook and severity', () => {
    const registry = registryOf([testPlaybookYaml(), 'test-pb.yaml'], [ransomwareYaml, 'ransomware.yaml']);
    const alerts = inputs(alert('1', { ruleName: 'ransomware.x', severity: 'critical' }));
    const sim = simulateIncident(registry, {
      label: 'p',
      alerts,
      recorded: {
        label: 'p',
        playbook: { id: 'test-pb', version: 1, hash: 'x' },
        severity: 'high',
        alerts,
        actions: [
          {
            actionId: 'A1',
            purpose: 'containment',
            kind: 'isolate_host',
            target: 'ws-1',
            policy: 'auto',
            state: 'succeeded',
            decidedBy: [],
          },
        ],
      },
    });
    expect(sim.comparison).toMatchObject({
      result: 'differs',
      playbook: { same: false, recorded: { id: 'test-pb' } },
      severity: { recorded: 'high', same: false },
    });
    expect(sim.comparison!.actions.every((c) => c.result === 'same')).toBe(true);
  });
});

describe('groupAlerts', () => {
  it('groups alerts by the correlation key of the playbook each selects', () => {
    const groups = groupAlerts(defaultRegistry(), [
      { label: 'f1', alert: alert('1') },
      {
        label: 'f2',
        alert: alert('2', { entities: { hosts: ['ws-9'], accounts: [], ips: [], domains: [] } }),
      },
      { label: 'f3', alert: alert('3') },
    ]);
    expect(groups.map((g) => [g.label, g.alerts.map((a) => a.alert.sourceAlertId)])).toEqual([
      ['f1', ['1', '3']],
      ['f2', ['2']],
    ]);
  });
});

/** Runs `quell playbook simulate <args>` in-process with captured streams and exit code. */
async function simulate(args: string[], env: NodeJS.ProcessEnv = {}) {
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
    connect: () => Promise.reject(new Error('no Temporal in this test')),
  });
  for (const cmd of program.commands) {
    cmd.exitOverride();
    for (const sub of cmd.commands) sub.exitOverride();
  }
  try {
    await program.parseAsync(['node', 'quell', 'playbook', 'simulate', ...args]);
  } catch (err) {
    const code = (err as { exitCode?: number }).exitCode;
    if (code === undefined) throw err;
    exitCode = code;
  }
  return { stdout, stderr, exitCode };
}

describe('quell playbook simulate', () => {
  let dir: string;
  /** A playbooks directory holding the test playbook (the one test/histories recorded), changed by `edit`. */
  const playbooks = async (edit: (yaml: string) => string = (y) => y) => {
    const pbDir = await fs.mkdtemp(path.join(dir, 'pb-'));
    await fs.writeFile(path.join(pbDir, 'test-pb.yaml'), edit(testPlaybookYaml()));
    return pbDir;
  };
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-simulate-'));
  });
  afterEach(() => fs.rm(dir, { recursive: true, force: true }));

  it('finds every recorded incident the same under the playbook it recorded', async () => {
    const r = await simulate([
      '--playbooks',
      await playbooks(),
      '--histories',
      HISTORIES,
      '--json',
      '--fail-on-diff',
    ]);
    const report = JSON.parse(r.stdout) as SimulationReport;
    // Incidents recorded under this very playbook (same content): all the same. reopen.json ran an
    // all-automatic variant (same id and version, other content): its isolations differ.
    const sameContent = report.incidents.filter(
      (i) => i.comparison!.playbook.recorded.hash === i.playbook.hash,
    );
    expect(sameContent.length).toBeGreaterThanOrEqual(12);
    for (const i of sameContent) expect([i.label, i.comparison!.result]).toEqual([i.label, 'same']);
    const reopen = report.incidents.find((i) => i.label === path.join(HISTORIES, 'reopen.json'))!;
    expect(reopen.comparison!.actions.filter((c) => c.result === 'differs').map((c) => c.change)).toEqual([
      'policy changed',
      'policy changed',
    ]);
    // Continue-as-new: both runs are one incident.
    expect(report.incidents.some((i) => i.label.includes('run1.json, ') && i.alerts === 1100)).toBe(true);
    expect(r.exitCode).toBe(1); // --fail-on-diff: reopen.json differs
    expect(r.stderr).toMatch(/read 10\/\d+ history files/);
  }, 120_000);

  it('weighs the recorded threat-intelligence findings in severity rules, looking nothing up again', async () => {
    const pbDir = await fs.mkdtemp(path.join(dir, 'pb-'));
    const enriched = (rule: string) =>
      testPlaybookYaml(`enrichment: { timeout: 5s, kinds: [ip, domain] }
severity:
  rules:
    - { description: known-bad address, when: { enrichment: '${rule}' }, atLeast: high }
tickets: { sync: true }`);
    await fs.writeFile(path.join(pbDir, 'test-pb.yaml'), enriched('abuseipdb.confidence >= 90'));
    const one = await fs.mkdtemp(path.join(dir, 'h-'));
    await fs.copyFile(
      path.join(HISTORIES, 'enrichment-tickets.json'),
      path.join(one, 'enrichment-tickets.json'),
    );
    const same = JSON.parse(
      (await simulate(['--playbooks', pbDir, '--histories', one, '--json'])).stdout,
    ) as SimulationReport;
    expect(same.incidents[0]!.severity.reasons).toContain(
      'severity.rules[0]: at least high (enrichment abuseipdb.confidence >= 90)',
    );
    expect(same.incidents[0]!.comparison!.result).toBe('same');
    // A bar no recorded finding reaches (12 reports): the severity stays the alert's.
    await fs.writeFile(path.join(pbDir, 'test-pb.yaml'), enriched('abuseipdb.totalReports >= 50'));
    const lower = JSON.parse(
      (await simulate(['--playbooks', pbDir, '--histories', one, '--json'])).stdout,
    ) as SimulationReport;
    expect(lower.incidents[0]!.severity.value).toBe('medium');
    expect(lower.incidents[0]!.comparison!.result).toBe('differs');
  });

  it('shows per action what a changed playbook would do differently', async () => {
    const changed = await playbooks((y) =>
      y
        .replace('high: approve, medium: two_person', 'high: auto, medium: two_person')
        .replace(/ {2}block_ip:\n.*\n.*\n/, ''),
    );
    const files = ['happy-path.json', 'two-person.json', 'permanent-failure.json'].map((f) =>
      path.join(HISTORIES, f),
    );
    const r = await simulate(['--playbooks', changed, '--histories', ...files]);
    expect(r.exitCode).toBe(0);
    const happy = r.stdout.split('\n\n')[0]!;
    expect(happy).toMatch(/happy-path\.json \(incident INC-[^)]+\): 1 alert: DIFFERS/);
    expect(happy).toMatch(
      /containment +isolate_host +ws-happy-1 +runs at once +approve, compensated \(alice: approve\) +DIFFERS: policy approve -> auto/,
    );
    expect(happy).toMatch(/containment +disable_account +happy\.user +waits for 1 approver +.* +same/);
    expect(happy).toMatch(
      /containment +block_ip +203\.0\.113\.7 +- +auto, compensated +DIFFERS: no longer planned/,
    );
    expect(r.stdout).toMatch(/two-person\.json .*: same\n/);
    expect(r.stdout).toMatch(
      /\n3 incidents simulated with .*; 3 compared with their recording: 1 same, 2 differ\n$/,
    );
  });

  it('simulates the sample alerts with the shipped playbooks', async () => {
    const r = await simulate([
      '--playbooks',
      path.join(ROOT, 'playbooks'),
      '--alerts',
      path.join(ROOT, 'samples/alerts'),
    ]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(
      /generic-ransomware\.json: 1 alert\n {2}playbook +ransomware-host v1: match: rule ransomware\.mass_encryption/,
    );
    expect(r.stdout).toMatch(/isolate_host +ws-fin-042 +runs at once/);
    expect(r.stdout).toMatch(/alertmanager-batch\.json #2/);
    expect(r.stdout).toMatch(/\n5 incidents simulated with /);
    const json = JSON.parse(
      (
        await simulate(['--alerts', path.join(ROOT, 'samples/alerts'), '--json'], {
          QUELL_PLAYBOOKS_DIR: path.join(ROOT, 'playbooks'),
        })
      ).stdout,
    ) as SimulationReport;
    expect(json.source).toBe('alerts');
    expect(json.incidents.every((i) => i.comparison === undefined && i.actions.length > 0)).toBe(true);
  });

  it("one-lines untrusted text in the table (a recording's alerts are not re-normalized)", () => {
    const sim = simulateIncident(defaultRegistry(), {
      label: 'evil\nlabel.json',
      alerts: inputs(
        alert('1', {
          entities: { hosts: ['ws-1\n  containment  fake_action'], accounts: [], ips: [], domains: [] },
        }),
      ),
    });
    const text = formatSimulation({
      playbooks: 'pb',
      source: 'alerts',
      incidents: [sim],
      summary: { incidents: 1, compared: 0, same: 0, differs: 0 },
    });
    expect(text.split('\n').filter((l) => l.startsWith('  containment'))).toHaveLength(1);
    expect(text).toMatch(/^evil\\nlabel\.json: 1 alert\n/);
    expect(text).toMatch(/isolate_host +ws-1\\n {2}containment {2}fake_action +waits for 1 approver/);
  });

  it('exits 2 for usage errors and unreadable input', async () => {
    const pb = await playbooks();
    const none = await simulate(['--playbooks', pb]);
    expect([none.exitCode, none.stderr]).toEqual([2, expect.stringMatching(/exactly one of --alerts/)]);
    const both = await simulate(['--playbooks', pb, '--alerts', dir, '--histories', dir]);
    expect(both.exitCode).toBe(2);
    const missing = await simulate(['--playbooks', pb, '--histories', path.join(dir, 'nope')]);
    expect([missing.exitCode, missing.stderr]).toEqual([2, expect.stringMatching(/Cannot read/)]);
    await fs.writeFile(path.join(dir, 'bad.json'), '{"hello": 1}');
    const bad = await simulate(['--playbooks', pb, '--alerts', path.join(dir, 'bad.json')]);
    expect([bad.exitCode, bad.stderr]).toEqual([2, expect.stringMatching(/bad\.json/)]);
    const noPb = await simulate([
      '--playbooks',
      path.join(dir, 'none'),
      '--alerts',
      path.join(dir, 'bad.json'),
    ]);
    expect(noPb.exitCode).toBe(2);
  });
});
