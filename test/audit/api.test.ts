import { generateKeyPairSync, randomUUID } from 'node:crypto';
import pino from 'pino';
import request from 'supertest';
import { createApp, type AuditOperations } from '../../src/api/app';
import { AuthConfig } from '../../src/api/auth';
import { readPublicKey, signerFromEnv, verifyBundle } from '../../src/audit/bundle';
import { createAuditService } from '../../src/audit/service';
import { buildIncidentId, incidentWorkflowId, INCIDENT_WORKFLOW_TYPE } from '../../src/contracts';
import { startHarness, type Harness } from '../support/incident-harness';
import { MemoryEstate } from '../support/memory-estate';
import { runRichIncident } from './helpers';

const AUDITOR = 'audit-token-0123456789abcdef0123';
const RESPONDER = 'responder-token-0123456789abcdef';

describe('API audit routes served by createAuditService', () => {
  let estate: MemoryEstate;
  let h: Harness;
  let app: ReturnType<typeof createApp>;
  beforeAll(async () => {
    estate = new MemoryEstate();
    h = await startHarness({ connectors: estate.connectors() });
    // Compile-time check: the service has exactly the shape the API expects.
    const audit: AuditOperations = createAuditService(h.client);
    app = appWith(audit);
  });
  afterAll(() => h?.stop());

  /** The API over the harness's incidents, with the auditor's and the responder's tokens, serving `audit`. */
  const appWith = (audit: AuditOperations) =>
    createApp({
      client: h.client,
      incidents: h.service,
      taskQueue: h.worker.taskQueue,
      logger: pino({ level: 'silent' }),
      auth: new AuthConfig({
        tokens: {
          [AUDITOR]: { subject: 'auditor-1', roles: ['auditor'] },
          [RESPONDER]: { subject: 'resp-1', roles: ['responder'] },
        },
      }),
      rateLimit: false,
      audit,
    });

  /** The app as runtime.ts builds it when QUELL_AUDIT_SIGNING_KEY is set. */
  const signedApp = () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const signer = signerFromEnv({
      QUELL_AUDIT_SIGNING_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    });
    return {
      app: appWith(createAuditService(h.client, { ...(signer ? { signer } : {}) })),
      publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    };
  };

  it('GET /timeline, /history and /report (JSON and Markdown) for a real incident', async () => {
    const { incidentId, hosts } = await runRichIncident(h, estate, `api-${randomUUID().slice(0, 8)}`);
    const auth = { Authorization: `Bearer ${AUDITOR}` };

    const timeline = await request(app).get(`/api/v1/incidents/${incidentId}/timeline`).set(auth);
    expect(timeline.status).toBe(200);
    expect(timeline.body).toMatchObject({ incidentId, entries: expect.any(Array) });
    expect(timeline.body.entries[0]).toMatchObject({ kind: 'incident_opened', eventIds: [1] });

    const history = await request(app).get(`/api/v1/incidents/${incidentId}/history`).set(auth);
    expect(history.status).toBe(200);
    expect(history.body.runs[0].history.events[0].eventType).toBe('EVENT_TYPE_WORKFLOW_EXECUTION_STARTED');

    const json = await request(app).get(`/api/v1/incidents/${incidentId}/report`).set(auth);
    expect(json.status).toBe(200);
    expect(json.body).toMatchObject({
      format: 'quell.incident-report/v1',
      incident: { incidentId, status: 'closed' },
    });

    const md = await request(app).get(`/api/v1/incidents/${incidentId}/report?format=markdown`).set(auth);
    expect(md.status).toBe(200);
    expect(md.headers['content-type']).toMatch(/text\/markdown/);
    expect(md.text).toContain('# Post-incident report');
    expect(md.text).toContain(hosts[0]);
  });

  it('GET /bundle downloads the audit bundle `quell audit verify` accepts; signed when a key is set', async () => {
    const { incidentId } = await runRichIncident(h, estate, `bundle-${randomUUID().slice(0, 8)}`);
    const auth = { Authorization: `Bearer ${AUDITOR}` };

    const unsigned = await request(app).get(`/api/v1/incidents/${incidentId}/bundle`).set(auth);
    expect(unsigned.status).toBe(200);
    expect(unsigned.headers['content-type']).toMatch(/^application\/json/);
    expect(unsigned.headers['content-disposition']).toBe(
      `attachment; filename="${incidentId}.audit-bundle.json"`,
    );
    const plain = await verifyBundle(unsigned.body);
    expect(plain).toMatchObject({
      ok: true,
      incidentId,
      chain: { ok: true },
      signature: { status: 'unsigned' },
      consistency: { status: 'match' },
    });
    expect(await verifyBundle(unsigned.body, { requireSignature: true })).toMatchObject({ ok: false });

    const { app: signing, publicPem } = signedApp();
    const signed = await request(signing).get(`/api/v1/incidents/${incidentId}/bundle`).set(auth);
    expect(signed.status).toBe(200);
    const trustedPublicKey = await readPublicKey(publicPem);
    const result = await verifyBundle(signed.body, { trustedPublicKey, requireSignature: true });
    expect(result).toMatchObject({
      ok: true,
      chain: { ok: true },
      signature: { status: 'valid', trusted: true },
      problems: [],
    });
    expect(result.entryCount).toBe(signed.body.entries.length);

    // An auditor's copy edited after download: the first changed entry is named, the download still verifies.
    const tampered = structuredClone(signed.body) as { entries: { kind: string; body: unknown }[] };
    const at = tampered.entries.findIndex((e) => e.kind === 'timeline');
    (tampered.entries[at]!.body as { actor?: string }).actor = 'someone-else';
    const broken = await verifyBundle(tampered, { trustedPublicKey, requireSignature: true });
    expect(broken.ok).toBe(false);
    expect(broken.chain).toMatchObject({ ok: false, firstProblem: { kind: 'changed', position: at } });
  });

  it('unknown incidents answer 404; callers without the auditor role are refused', async () => {
    const missing = await request(app)
      .get('/api/v1/incidents/INC-0000000000000000-000000/timeline')
      .set({ Authorization: `Bearer ${AUDITOR}` });
    expect(missing.status).toBe(404);
    const noBundle = await request(app)
      .get('/api/v1/incidents/INC-0000000000000000-000000/bundle')
      .set({ Authorization: `Bearer ${AUDITOR}` });
    expect(noBundle.status).toBe(404);
    expect(noBundle.headers['content-type']).toMatch(/application\/problem\+json/);
    const { incidentId } = await h.ingest({
      severity: 'low',
      hosts: [`ws-api-${randomUUID().slice(0, 8)}`],
      accounts: [],
    });
    const forbidden = await request(app)
      .get(`/api/v1/incidents/${incidentId}/history`)
      .set({ Authorization: `Bearer ${RESPONDER}` });
    expect(forbidden.status).toBe(403);
    const noBundleForResponders = await request(app)
      .get(`/api/v1/incidents/${incidentId}/bundle`)
      .set({ Authorization: `Bearer ${RESPONDER}` });
    expect(noBundleForResponders.status).toBe(403);
  });

  it('GET /evidence: each item with its hash, location and the custody the evidence store keeps', async () => {
    const { incidentId } = await runRichIncident(h, estate, `evidence-${randomUUID().slice(0, 8)}`);
    const stored = [...estate.evidence.values()].filter((e) => e.record.incidentId === incidentId);
    expect(stored.length).toBeGreaterThan(0);
    // Custody recorded after collection (e.g. a copy handed to legal) is in the store, not the incident.
    stored[0]!.record.custody.push({
      at: '2026-12-01T10:00:00.000+00:00',
      actor: 'legal-1',
      action: 'copied',
    });
    const withStore = appWith(createAuditService(h.client, { evidenceStore: estate.connectors().evidence }));
    const res = await request(withStore)
      .get(`/api/v1/incidents/${incidentId}/evidence`)
      .set({ Authorization: `Bearer ${RESPONDER}` });
    expect(res.status).toBe(200);
    expect(res.body.incidentId).toBe(incidentId);
    const item = res.body.items.find(
      (i: { evidenceId: string }) => i.evidenceId === stored[0]!.record.evidenceId,
    );
    expect(item).toMatchObject({
      sha256: stored[0]!.record.sha256,
      location: stored[0]!.record.location,
      custodySource: 'evidence-store',
      custody: [
        { action: 'collected', actor: stored[0]!.record.collectedBy },
        { action: 'copied', actor: 'legal-1' },
      ],
    });
    expect(item.refs.map((r: { eventType: string }) => r.eventType)).toContain('ActivityTaskCompleted');
  });

  it('answers 503 (not 500) when an open incident has no state in its history and no worker answers', async () => {
    // A first run no worker has picked up: its state exists only inside the workflow.
    const workflowId = incidentWorkflowId(randomUUID().replace(/-/g, '').slice(0, 16));
    const handle = await h.client.workflow.start(INCIDENT_WORKFLOW_TYPE, {
      workflowId,
      taskQueue: `nobody-polls-${randomUUID()}`,
      args: [],
    });
    const incidentId = buildIncidentId(workflowId, handle.firstExecutionRunId);
    const impatient = appWith(createAuditService(h.client, { queryTimeoutMs: 300 }));
    try {
      for (const path of ['report', 'bundle', 'evidence']) {
        const res = await request(impatient)
          .get(`/api/v1/incidents/${incidentId}/${path}`)
          .set({ Authorization: `Bearer ${AUDITOR}` });
        expect({ path, status: res.status }).toEqual({ path, status: 503 });
        expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
        expect(res.headers['retry-after']).toBe('15');
        expect(res.body.detail).toMatch(/did not answer the state query: is a worker running\?/);
      }
    } finally {
      await handle.terminate('test done');
    }
  });
});
