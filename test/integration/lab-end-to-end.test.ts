import { createHash, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLabServer, type RunningLab } from '../../src/connectors/lab';
import type { Connectors } from '../../src/connectors/types';
import { actionOf, startHarness, testPlaybookYaml, type Harness } from '../support/incident-harness';
import { labConnectors } from '../reliability/drill-support';

const playbook = testPlaybookYaml(`containment:
  isolate_host:
    approval: { critical: auto, high: auto, medium: auto, low: auto }
  disable_account:
    approval: { critical: auto, high: auto, medium: auto, low: auto }
eradication: { checklist: [] }
recovery:
  approval: { critical: auto, high: auto, medium: auto, low: auto }`);

describe('an incident on the lab estate, through the production connectors (CrowdStrike, Okta, Slack contracts)', () => {
  let lab: RunningLab;
  let dataDir: string;
  let connectors: Connectors;
  let h: Harness;
  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-lab-e2e-'));
    lab = await startLabServer({ port: 0 });
    connectors = labConnectors(lab, dataDir);
    h = await startHarness({ connectors, playbookYaml: playbook });
  });
  afterAll(async () => {
    await h?.stop();
    await lab?.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('contains in the lab, stores verifiable evidence on disk, posts to the Slack-style receiver, then recovery restores the lab', async () => {
    const tag = randomUUID().slice(0, 8);
    const host = `ws-lab-${tag}`;
    const account = `lab.user.${tag}`;
    const { incidentId } = await h.ingest({ severity: 'critical', hosts: [host], accounts: [account] });

    // Containment reached the lab's state through the vendor contracts.
    const contained = await h.until(
      incidentId,
      (s) => s.phase === 'lessons_learned' || s.phase === 'eradication' || s.phase === 'recovery',
      'containment',
    );
    expect(lab.store.ledger({ effect: 'contain', target: host })).toEqual([
      expect.objectContaining({ vendor: 'crowdstrike', incidentId }),
    ]);
    expect(lab.store.ledger({ effect: 'disable', target: account })).toEqual([
      expect.objectContaining({ vendor: 'okta' }),
    ]);

    // Evidence: a file on disk whose bytes hash to the recorded SHA-256, with its custody record.
    const evidence = contained.evidence.find((e) => e.subject === host)!;
    expect(evidence.location).toMatch(/^file:\/\//);
    const bytes = await fs.readFile(fileURLToPath(evidence.location));
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(evidence.sha256);
    expect(bytes.length).toBe(evidence.sizeBytes);
    await expect(connectors.evidence.verify(evidence.evidenceId)).resolves.toMatchObject({ ok: true });
    const [record] = await connectors.evidence.list(incidentId);
    expect(record!.sha256).toBe(evidence.sha256);
    expect(record!.custody).toEqual(expect.arrayContaining([expect.objectContaining({ action: 'stored' })]));

    // Notifications arrived at the Slack-style webhook receiver for route "soc".
    const messages = lab.store.messages({ channel: 'soc' }).filter((m) => m.text?.includes(incidentId));
    expect(messages.length).toBeGreaterThanOrEqual(2);

    // Recovery (automatic in this playbook) undid containment and verified it in the lab.
    const recovered = await h.until(incidentId, (s) => s.phase === 'lessons_learned', 'recovery');
    expect(actionOf(recovered, 'release_host', host).result?.verifiedState).toBe('normal');
    expect(actionOf(recovered, 'enable_account', account).result?.verifiedState).toBe('active');
    expect(lab.store.findHost(host)?.status).toBe('normal');
    expect(lab.store.findAccount(account)?.status).toBe('ACTIVE');
    expect(lab.store.ledger({ effect: 'release', target: host })).toHaveLength(1);
  });
});
