import { randomUUID } from 'node:crypto';
import { incidentWorkflowId } from '../../src/contracts';
import { correlationDigest, IncidentIdDeriver } from '../../src/incidents/correlation';
import { IncidentService } from '../../src/incidents/service';
import { normalizeGeneric, type GenericAlert } from '../../src/ingest/generic';
import { parsePlaybook, PlaybookRegistry } from '../../src/playbooks/loader';
import { correlationKeyFor } from '../../src/playbooks/policy';
import { rawSearchAttribute, describeRun } from '../../src/temporal/visibility';
import { genericAlert } from '../support/alerts';
import { actors, startHarness, testPlaybookYaml, type Harness } from '../support/incident-harness';
import { MemoryEstate } from '../support/memory-estate';
import { pool } from '../support/pool';

const KEY = `test-incident-id-key-${'x'.repeat(24)}`;

/** Keyed workflow IDs, the migration to them, entity-less correlation and list titles, on the real server. */
describe('incident intake: keys, correlation windows, list titles', () => {
  let estate: MemoryEstate;
  let h: Harness;
  const registry = PlaybookRegistry.from([parsePlaybook(testPlaybookYaml(), 'test-pb.yaml')]);
  const service = (ids: IncidentIdDeriver, redact = false) =>
    new IncidentService(h.client, h.worker.taskQueue, registry, undefined, {
      ids,
      ...(redact ? { redactSearchAttributes: true } : {}),
    });
  const normalized = (a: Partial<GenericAlert>) =>
    normalizeGeneric(genericAlert(a), new Date().toISOString());

  beforeAll(async () => {
    estate = new MemoryEstate();
    h = await startHarness({ connectors: estate.connectors() });
  });
  afterAll(() => h?.stop());

  it('with a deployment key, workflow IDs and the correlation attribute are HMACs; dedup and correlation hold', async () => {
    const keyed = service(new IncidentIdDeriver({ key: KEY }), true);
    const alert = normalized({ severity: 'low' });
    const correlationKey = correlationKeyFor(registry.select(alert).playbook, alert);
    const first = await keyed.ingestAlert(alert, 'siem');
    // A dictionary attack computes the unkeyed digest of a guessed key: it names no workflow now.
    expect(first.workflowId).not.toBe(incidentWorkflowId(correlationDigest(correlationKey)));
    expect(first.workflowId).toBe(
      incidentWorkflowId(new IncidentIdDeriver({ key: KEY }).digest(correlationKey)),
    );
    const again = await keyed.ingestAlert(alert, 'siem');
    expect(again).toMatchObject({ incidentId: first.incidentId, deduplicated: true });
    const related = await keyed.ingestAlert({ ...alert, sourceAlertId: `${alert.sourceAlertId}-2` }, 'siem');
    expect(related).toMatchObject({ incidentId: first.incidentId, deduplicated: false, alertCount: 2 });
    const run = await describeRun(h.client, first.workflowId);
    await h.until(first.incidentId, (s) => s.alerts.count === 2, 'two alerts');
    const tag = rawSearchAttribute(
      (await describeRun(h.client, first.workflowId)).raw,
      'QuellCorrelationKey',
    );
    expect(tag).toBe(new IncidentIdDeriver({ key: KEY }).correlationTag(correlationKey));
    expect(String(tag)).toMatch(/^hmac:/);
    expect(run.raw.searchAttributes?.indexedFields?.QuellHosts).toBeUndefined();
  });

  it('after keying a deployment, alerts keep joining incidents opened before (QUELL_INCIDENT_ID_KEY_PREVIOUS=unkeyed)', async () => {
    const before = service(new IncidentIdDeriver());
    const after = service(new IncidentIdDeriver({ key: KEY, previous: ['unkeyed'] }));
    const alert = normalized({ severity: 'low' });
    const opened = await before.ingestAlert(alert, 'siem');
    const joined = await after.ingestAlert({ ...alert, sourceAlertId: `${alert.sourceAlertId}-b` }, 'siem');
    expect(joined).toMatchObject({
      incidentId: opened.incidentId,
      workflowId: opened.workflowId,
      alertCount: 2,
    });
    expect(await after.ingestAlert(alert, 'siem')).toMatchObject({
      incidentId: opened.incidentId,
      deduplicated: true,
    });
    // Once that incident closes, the key opens a new incident under the keyed ID.
    await after.close(opened.incidentId, 'false_positive', undefined, actors.bob);
    await h.until(opened.incidentId, (s) => s.status === 'closed', 'closed');
    const next = await after.ingestAlert({ ...alert, sourceAlertId: `${alert.sourceAlertId}-c` }, 'siem');
    expect(next.incidentId).not.toBe(opened.incidentId);
    expect(next.workflowId).not.toBe(opened.workflowId);
  });

  it('entity-less alerts of one rule open one incident per window, not one each', async () => {
    const rule = `noentity.${randomUUID().slice(0, 8)}`;
    const detectedAt = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 + 60_000).toISOString();
    const receipts = await pool(
      Array.from({ length: 40 }, (_, i) => i),
      8,
      (i) =>
        h.service.ingestAlert(
          normalized({ id: `ne-${rule}-${i}`, rule, severity: 'low', hosts: [], accounts: [], detectedAt }),
          'siem',
        ),
    );
    expect(new Set(receipts.map((r) => r.incidentId)).size).toBe(1);
    const s = await h.until(receipts[0]!.incidentId, (x) => x.alerts.count === 40, '40 alerts');
    expect(s.scope).toEqual({ hosts: [], accounts: [], ips: [], domains: [] });
  });

  it('the incident list shows each incident with its title', async () => {
    const title = `List title ${randomUUID().slice(0, 8)}`;
    const receipt = await h.ingest({ title, severity: 'low' });
    await h.until(receipt.incidentId, (s) => s.alerts.count === 1, 'alert');
    const found = await (async () => {
      for (let i = 0; i < 50; i++) {
        const page = await h.service.list({ limit: 100 });
        const item = page.items.find((x) => x.incidentId === receipt.incidentId);
        if (item) return item;
        await new Promise((r) => setTimeout(r, 200));
      }
      return undefined;
    })();
    expect(found).toMatchObject({ incidentId: receipt.incidentId, title });
  });
});
