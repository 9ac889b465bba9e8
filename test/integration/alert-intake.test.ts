import { randomUUID } from 'node:crypto';
import path from 'node:path';
import request from 'supertest';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app';
import { loadAuthConfig } from '../../src/api/auth';

const INGEST = 'ingest-token-0123456789abcdef';
const READER = 'reader-token-0123456789abcdef';
const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });
import { IncidentService } from '../../src/incidents/service';
import { loadPlaybooks } from '../../src/playbooks/loader';
import { genericAlert } from '../support/alerts';
import { testLogger } from '../support/logger';
import { MemoryEstate } from '../support/memory-estate';
import { startTestWorker, testClient, type TestWorker } from '../support/temporal';

describe('alert intake over HTTP (real worker, real Temporal dev server)', () => {
  let worker: TestWorker;
  let client: Client;
  let app: ReturnType<typeof createApp>;

  beforeAll(async () => {
    worker = await startTestWorker({ activityDeps: { connectors: new MemoryEstate().connectors() } });
    client = await testClient();
    const logger = testLogger();
    app = createApp({
      auth: loadAuthConfig(
        {
          QUELL_API_TOKENS: JSON.stringify({
            [INGEST]: { subject: 'siem', roles: ['ingest'] },
            [READER]: { subject: 'rita', roles: ['responder'] },
          }),
        },
        { production: false },
      ),
      client,
      incidents: new IncidentService(
        client,
        worker.taskQueue,
        await loadPlaybooks(path.resolve(__dirname, '../../playbooks')),
        logger,
      ),
      taskQueue: worker.taskQueue,
      logger,
    });
  });

  afterAll(async () => {
    await worker?.stop();
    await client?.connection.close();
  });

  it('opens an incident workflow and reads its state back through a query', async () => {
    const alert = genericAlert({ severity: 'critical' });
    const posted = await request(app).post('/api/v1/alerts').set(bearer(INGEST)).send(alert).expect(202);
    expect(posted.body).toMatchObject({ alertId: `${alert.source}:${alert.id}`, deduplicated: false });
    expect(posted.body.incidentId).toMatch(/^INC-[0-9a-f]{16}-[0-9a-f]{6}$/);

    // The workflow really runs on the server.
    const description = await client.workflow.getHandle(posted.body.workflowId).describe();
    expect(description.status.name).toBe('RUNNING');
    expect(description.taskQueue).toBe(worker.taskQueue);

    const state = await request(app)
      .get(`/api/v1/incidents/${posted.body.incidentId}`)
      .set(bearer(READER))
      .expect(200);
    expect(state.body).toMatchObject({
      incidentId: posted.body.incidentId,
      title: alert.title,
      severity: 'critical',
      status: 'open',
      phase: 'containment',
      scope: { hosts: alert.hosts, accounts: alert.accounts },
      alerts: { count: 1 },
    });
  });

  it('records a redelivered alert once', async () => {
    const alert = genericAlert();
    const first = await request(app).post('/api/v1/alerts').set(bearer(INGEST)).send(alert).expect(202);
    const again = await request(app).post('/api/v1/alerts').set(bearer(INGEST)).send(alert).expect(202);
    expect(again.body).toMatchObject({ incidentId: first.body.incidentId, deduplicated: true });
    const state = await request(app)
      .get(`/api/v1/incidents/${first.body.incidentId}`)
      .set(bearer(READER))
      .expect(200);
    expect(state.body.alerts.count).toBe(1);
  });

  it('a batch: every alert reaches its incident, one per host; redeliveries and invalid items do not', async () => {
    const hosts = Array.from({ length: 8 }, (_, i) => `ws-batch-${randomUUID().slice(0, 6)}-${i}`);
    const alerts = hosts.flatMap((host) =>
      [1, 2, 3].map((n) =>
        genericAlert({
          id: `${host}-det-${n}`,
          hosts: [host],
          accounts: [],
          rule: 'ransomware.mass_encryption',
        }),
      ),
    );
    const redelivered = alerts.filter((_, i) => i % 4 === 0);
    const body = [...alerts, ...redelivered, { ...genericAlert(), severity: 'apocalyptic' }];
    const res = await request(app).post('/api/v1/alerts/batch').set(bearer(INGEST)).send(body).expect(207);
    const items = res.body.items as {
      index: number;
      status: string;
      incidentId?: string;
      problem?: unknown;
    }[];
    expect(items.map((i) => i.index)).toEqual(body.map((_, i) => i));
    const statuses = items.map((i) => i.status);
    expect(statuses.filter((s) => s === 'recorded')).toHaveLength(alerts.length);
    expect(statuses.filter((s) => s === 'deduplicated')).toHaveLength(redelivered.length);
    expect(items.at(-1)).toMatchObject({
      status: 'rejected',
      problem: { errors: [{ path: `${body.length - 1}.severity` }] },
    });

    const incidentOf = new Map<string, string>();
    alerts.forEach((a, i) => {
      const id = items[i]!.incidentId!;
      expect(incidentOf.get(a.hosts![0]!) ?? id).toBe(id);
      incidentOf.set(a.hosts![0]!, id);
    });
    expect(new Set(incidentOf.values()).size).toBe(hosts.length);
    for (const [host, incidentId] of incidentOf) {
      const state = await request(app).get(`/api/v1/incidents/${incidentId}`).set(bearer(READER)).expect(200);
      expect(state.body.scope.hosts).toEqual([host]);
      expect(state.body.alerts).toMatchObject({
        count: 3,
        deduplicated: redelivered.filter((a) => a.hosts![0] === host).length,
      });
    }
  });

  it('answers 404 problem+json for an unknown incident', async () => {
    const res = await request(app)
      .get('/api/v1/incidents/INC-0000000000000000-000000')
      .set(bearer(READER))
      .expect(404);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 404, title: 'Incident not found' });
  });

  it('rejects an invalid alert with 400 naming the field, and starts nothing', async () => {
    const alert = { ...genericAlert(), severity: 'apocalyptic' };
    const res = await request(app).post('/api/v1/alerts').set(bearer(INGEST)).send(alert).expect(400);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'severity' })]));
  });

  it('reports ready when Temporal answers and the worker polls', async () => {
    const res = await request(app).get('/readyz').expect(200);
    expect(res.body).toMatchObject({ ready: true, temporal: { reachable: true }, worker: { polling: true } });
  });

  it('lists incidents through Temporal visibility, filtered and paged', async () => {
    const tag = `list-${Date.now()}`;
    const posted: string[] = [];
    for (const severity of ['critical', 'low', 'critical'] as const) {
      const res = await request(app)
        .post('/api/v1/alerts')
        .set(bearer(INGEST))
        .send(
          genericAlert({
            severity,
            rule: `${tag}.${severity}.${posted.length}`,
            hosts: [`${tag}-${posted.length}`],
          }),
        )
        .expect(202);
      posted.push(res.body.incidentId);
    }
    // Visibility is eventually consistent: poll until the new incidents are listed.
    const listed = async (query: string) =>
      (await request(app).get(`/api/v1/incidents?${query}`).set(bearer(READER)).expect(200)).body;
    let page: { items: { incidentId: string; severity: string; hosts: string[] }[]; nextCursor?: string };
    const deadline = Date.now() + 15_000;
    do {
      page = await listed('severity=critical&limit=100');
    } while (
      posted.filter((id, i) => i !== 1 && !page.items.some((x) => x.incidentId === id)).length > 0 &&
      Date.now() < deadline
    );
    const mine = page.items.filter((x) => posted.includes(x.incidentId));
    expect(mine.map((x) => x.incidentId).sort()).toEqual([posted[0], posted[2]].sort());
    expect(mine.every((x) => x.severity === 'critical')).toBe(true);
    const first = await listed('limit=1');
    expect(first.items).toHaveLength(1);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = await listed(`limit=1&cursor=${encodeURIComponent(first.nextCursor)}`);
    expect(second.items).toHaveLength(1);
    expect(second.items[0].incidentId).not.toBe(first.items[0].incidentId);
  });
});
