import { randomUUID } from 'node:crypto';
import { actionOf, actors, approvalFor, startHarness, type Harness } from '../support/incident-harness';
import { MemoryEstate } from '../support/memory-estate';
import { pool } from '../support/pool';

describe('alert dedup and correlation', () => {
  let estate: MemoryEstate;
  let h: Harness;
  beforeAll(async () => {
    estate = new MemoryEstate();
    h = await startHarness({ connectors: estate.connectors() });
  });
  afterAll(() => h?.stop());

  it('a burst of 50 identical alerts sent concurrently opens exactly one incident and records the alert once', async () => {
    const tag = randomUUID().slice(0, 8);
    const alert = {
      id: `burst-${tag}`,
      rule: `burst.${tag}`,
      hosts: [`ws-burst-${tag}`],
      accounts: [],
      severity: 'high' as const,
    };
    const receipts = await Promise.all(Array.from({ length: 50 }, () => h.ingest(alert)));
    const incidents = new Set(receipts.map((r) => r.incidentId));
    expect(incidents.size).toBe(1);
    expect(receipts.filter((r) => !r.deduplicated)).toHaveLength(1);
    const s = await h.state(receipts[0]!.incidentId);
    expect(s.alerts).toMatchObject({ count: 1, deduplicated: 49 });
    // Exactly one workflow run exists for the key.
    const runs = await h.client.workflow.count(`WorkflowId = '${receipts[0]!.workflowId}'`);
    expect(runs.count).toBe(1);
  });

  it('a correlated alert with higher severity raises the incident and applies the stricter policy; new entities get containment', async () => {
    const tag = randomUUID().slice(0, 8);
    const host = `ws-esc-${tag}`;
    const base = { rule: `esc.${tag}`, hosts: [host], accounts: [] };
    const first = await h.ingest({ ...base, id: `a1-${tag}`, severity: 'medium' });
    let s = await h.until(
      first.incidentId,
      (x) => x.approvals.some((a) => a.state === 'pending'),
      'approval',
    );
    expect(s.severity).toBe('medium');
    expect(approvalFor(s, actionOf(s, 'isolate_host', host).actionId).policy).toBe('two_person');

    // Same rule, same host: correlates. Critical makes isolation automatic and widens scope to a second host.
    const second = await h.ingest({
      ...base,
      id: `a2-${tag}`,
      severity: 'critical',
      hosts: [host, `ws-esc2-${tag}`],
    });
    expect(second).toMatchObject({ incidentId: first.incidentId, deduplicated: false, severity: 'critical' });
    s = await h.until(
      first.incidentId,
      (x) =>
        actionOf(x, 'isolate_host', host).state === 'succeeded' &&
        actionOf(x, 'isolate_host', `ws-esc2-${tag}`).state === 'succeeded',
      'both hosts isolated',
    );
    expect(s.severity).toBe('critical');
    expect(s.approvals[0]).toMatchObject({ state: 'cancelled' });
    expect(s.notifications.some((n) => n.reason === 'severity escalation')).toBe(true);
    const desc = await h.client.workflow.getHandle(first.workflowId).describe();
    expect(desc.searchAttributes.QuellSeverity).toEqual(['critical']);
    expect(desc.searchAttributes.QuellHosts).toEqual([host, `ws-esc2-${tag}`]);

    // A redelivered low-severity copy of the first alert is deduplicated and never lowers severity.
    const again = await h.ingest({ ...base, id: `a1-${tag}`, severity: 'low' });
    expect(again).toMatchObject({ deduplicated: true, severity: 'critical' });
  });

  it('5,000 correlated alerts cross continue-as-new with none lost', async () => {
    const tag = randomUUID().slice(0, 8);
    const base = { rule: `storm.${tag}`, hosts: [`ws-storm-${tag}`], accounts: [], severity: 'low' as const };
    const n = Number(process.env.QUELL_STORM_ALERTS ?? 5_000);
    const started = Date.now();
    const receipts = await pool(
      Array.from({ length: n }, (_, i) => i),
      8,
      (i) => h.ingest({ ...base, id: `storm-${tag}-${i}` }),
    );
    const elapsed = Date.now() - started;
    const incidentId = receipts[0]!.incidentId;
    expect(new Set(receipts.map((r) => r.incidentId))).toEqual(new Set([incidentId]));
    expect(receipts.filter((r) => r.deduplicated)).toHaveLength(0);
    const s = await h.state(incidentId);
    expect(s.alerts.count).toBe(n);
    expect(s.runs).toBeGreaterThanOrEqual(Math.floor(n / 1_000) - 1);
    // Dedup still holds for alerts recorded in earlier runs.
    const redelivered = await h.ingest({ ...base, id: `storm-${tag}-7` });
    expect(redelivered).toMatchObject({ incidentId, deduplicated: true, alertCount: n });
    // The chain: several runs, one incident.
    const runs = await h.client.workflow.count(`WorkflowId = '${receipts[0]!.workflowId}'`);
    expect(runs.count).toBe(s.runs + 1);
    console.log(
      `5,000-alert storm: ${n} alerts in ${elapsed} ms (${Math.round((n / elapsed) * 1000)}/s), ${s.runs} continue-as-new`,
    );
    // It still answers decisions after all that: close it as a false positive.
    await h.service.close(incidentId, 'false_positive', undefined, actors.alice);
    await h.until(incidentId, (x) => x.status === 'closed', 'closed');
    // Once its workflow has completed, the key's next alert opens a new incident: the service's plain update
    // to the incident it knew as open finds it closed and falls back to update-with-start.
    const handle = h.client.workflow.getHandle(receipts[0]!.workflowId);
    await handle.result();
    const after = await h.ingest({ ...base, id: `storm-${tag}-after-close` });
    expect(after).toMatchObject({ workflowId: receipts[0]!.workflowId, deduplicated: false, alertCount: 1 });
    expect(after.incidentId).not.toBe(incidentId);
  }, 240_000);
});
