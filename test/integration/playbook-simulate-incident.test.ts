import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { registerPlaybookCommands } from '../../src/cli/playbook-commands';
import type { SimulationReport } from '../../src/cli/playbook-simulate';
import { actionOf, startHarness, testPlaybookYaml, type Harness } from '../support/incident-harness';
import { MemoryEstate } from '../support/memory-estate';
import { testClient } from '../support/temporal';

/** `quell playbook simulate --incident <id>` in-process, reading the incident from the test server. */
async function simulate(args: string[]) {
  let stdout = '';
  let stderr = '';
  let exitCode = 0;
  const program = new Command().name('quell').exitOverride();
  registerPlaybookCommands(program, {
    env: {},
    stdout: { write: (s: string) => ((stdout += s), true) },
    stderr: { write: (s: string) => ((stderr += s), true) },
    setExitCode: (c) => (exitCode = c),
    connect: () => testClient(),
  });
  await program.parseAsync(['node', 'quell', 'playbook', 'simulate', ...args]);
  return { stdout, stderr, exitCode };
}

describe('quell playbook simulate --incident (real Temporal, memory estate)', () => {
  let h: Harness;
  let dir: string;
  beforeAll(async () => {
    h = await startHarness({ connectors: new MemoryEstate().connectors(), playbookYaml: testPlaybookYaml() });
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-simulate-incident-'));
  });
  afterAll(async () => {
    await h?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("compares an open incident's actions so far with a changed playbook", async () => {
    const { incidentId } = await h.ingest({
      severity: 'high',
      hosts: ['ws-sim-1'],
      accounts: ['sim.user'],
      ips: ['203.0.113.50'],
    });
    await h.until(
      incidentId,
      (s) => actionOf(s, 'isolate_host', 'ws-sim-1').state === 'pending_approval',
      'isolation waiting for approval',
    );
    const same = path.join(dir, 'same');
    const changed = path.join(dir, 'changed');
    await fs.mkdir(same);
    await fs.mkdir(changed);
    await fs.writeFile(path.join(same, 'test-pb.yaml'), testPlaybookYaml());
    await fs.writeFile(
      path.join(changed, 'test-pb.yaml'),
      testPlaybookYaml().replace('high: approve, medium: two_person', 'high: auto, medium: two_person'),
    );

    const r1 = await simulate(['--playbooks', same, '--incident', incidentId, '--json', '--fail-on-diff']);
    expect(r1.stderr).toBe('');
    const report = JSON.parse(r1.stdout) as SimulationReport;
    expect(report.incidents).toHaveLength(1);
    expect(report.incidents[0]!.comparison).toMatchObject({ result: 'same' });
    expect(report.incidents[0]!.comparison!.actions.map((c) => [c.kind, c.target, c.result])).toEqual([
      ['isolate_host', 'ws-sim-1', 'same'],
      ['disable_account', 'sim.user', 'same'],
      ['block_ip', '203.0.113.50', 'same'],
    ]);
    expect(r1.exitCode).toBe(0);

    const r2 = await simulate(['--playbooks', changed, '--incident', incidentId, '--fail-on-diff']);
    expect(r2.stdout).toMatch(
      /isolate_host +ws-sim-1 +runs at once +approve, pending_approval +DIFFERS: policy approve -> auto/,
    );
    expect(r2.exitCode).toBe(1);

    const missing = await simulate(['--playbooks', same, '--incident', 'INC-0000000000000000-000000']);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/^quell: /);
  });
});
