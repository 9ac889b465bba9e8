import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLabServer, type RunningLab } from '../../src/connectors/lab';
import { startHarness, type Harness } from '../support/incident-harness';
import { containmentDone, drillPlaybook, labConnectors, pool, report, size } from './drill-support';

describe('drill: flaky vendors', () => {
  let lab: RunningLab;
  let h: Harness;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-flaky-'));
    lab = await startLabServer({ port: 0 });
    h = await startHarness({ connectors: labConnectors(lab, dataDir), playbookYaml: drillPlaybook });
  });
  afterAll(async () => {
    await h?.stop();
    await lab?.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('every action succeeds through 5xx, timeouts and 429s; permanent 4xx fail once and wait for a responder', async () => {
    const n = size(12, 200);
    const tag = Date.now().toString(36);
    // Two hosts the EDR refuses outright (a 400 on lookup): not retried, surfaced as failed.
    const refused = [`ws-refused-a-${tag}`, `ws-refused-b-${tag}`];
    const permanent = lab.store.addFault({
      match: { vendor: 'crowdstrike', pathPattern: 'ws-refused-' },
      fault: '4xx',
    });
    // About 30% of every other call fails: 15% 5xx, 10% timeouts, 5% 429 with Retry-After.
    const flaky = [
      lab.store.addFault({ fault: '5xx', probability: 0.15 }),
      lab.store.addFault({ fault: 'timeout', probability: 0.1 / 0.85, holdMs: 1_500 }),
      lab.store.addFault({ fault: '429', probability: 0.05 / 0.75, retryAfterSeconds: 1 }),
    ];
    const targets = Array.from({ length: n }, (_, i) => ({
      host: `ws-flaky-${i}-${tag}`,
      account: `user-${i}-${tag}`,
      ip: `203.0.113.${i + 1}`,
    }));
    const started = Date.now();
    const receipts = await pool(targets, 8, (t) =>
      h.ingest({
        severity: 'critical',
        rule: `drill.flaky.${t.host}`,
        hosts: [t.host],
        accounts: [t.account],
        ips: [t.ip],
      }),
    );
    const refusedReceipts = await Promise.all(
      refused.map((host) => h.ingest({ severity: 'critical', hosts: [host], accounts: [] })),
    );

    await pool(receipts, 8, (r) =>
      h.until(r.incidentId, containmentDone, `containment of ${r.incidentId}`, 180_000),
    );
    const elapsed = Date.now() - started;
    const states = await Promise.all(receipts.map((r) => h.state(r.incidentId)));
    let attempts = 0;
    for (const s of states) {
      for (const a of s.actions.filter((x) => x.purpose === 'containment')) {
        expect(a.state).toBe('succeeded');
        attempts += a.attempts;
      }
    }
    // Each effect happened exactly once per target, however many calls it took.
    for (const t of targets) {
      expect(lab.store.ledger({ effect: 'contain', target: t.host })).toHaveLength(1);
      expect(lab.store.ledger({ effect: 'disable', target: t.account })).toHaveLength(1);
      expect(lab.store.ledger({ effect: 'block', target: t.ip })).toHaveLength(1);
    }
    const failed = await Promise.all(
      refusedReceipts.map((r) =>
        h.until(r.incidentId, (s) => s.actions.some((a) => a.state === 'failed'), 'refused action to fail'),
      ),
    );
    const hitsOf = (id: string) => lab.store.faults().find((f) => f.id === id)?.hits ?? 0;
    let refusedAttempts = 0;
    for (const s of failed) {
      const a = s.actions.find((x) => x.kind === 'isolate_host')!;
      expect(a).toMatchObject({ state: 'failed', lastError: { type: 'PermanentConnectorError' } });
      expect(s.phase).toBe('containment'); // waiting for a responder to retry or skip
      refusedAttempts += a.attempts;
    }
    // A 4xx ends the retries: each refused host met it, at most once per attempt, and no attempt follows it.
    // (More than one attempt can come first under load: a flaky fault on the host's token call, or an attempt
    // timing out before its answer was read.)
    const refusals = hitsOf(permanent.id);
    expect(refusals).toBeGreaterThanOrEqual(refused.length);
    expect(refusals).toBeLessThanOrEqual(refusedAttempts);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(hitsOf(permanent.id)).toBe(refusals);
    for (const r of refusedReceipts)
      expect((await h.state(r.incidentId)).actions).toEqual(
        failed.find((s) => s.incidentId === r.incidentId)!.actions,
      );
    report('flaky vendors', {
      incidents: n,
      actions: n * 3,
      activityAttempts: attempts,
      labCalls: lab.store.calls().length,
      faultsInjected: {
        '5xx': hitsOf(flaky[0]!.id),
        timeout: hitsOf(flaky[1]!.id),
        '429': hitsOf(flaky[2]!.id),
        permanent4xx: hitsOf(permanent.id),
      },
      checked:
        'every action succeeded; ledger shows one contain/disable/block per target; each 4xx answered once, never retried; those actions failed and wait for a responder',
      containmentSeconds: (elapsed / 1000).toFixed(1),
    });
    for (const id of flaky) lab.store.removeFault(id.id);
  }, 300_000);
});
