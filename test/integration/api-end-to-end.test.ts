import { randomInt, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app';
import { loadAuthConfig } from '../../src/api/auth';
import { loadConfig } from '../../src/config';
import { connectClient } from '../../src/temporal/connection';
import { IncidentService } from '../../src/incidents/service';
import { loadPlaybooks } from '../../src/playbooks/loader';
import { provisionTemporal } from '../../src/temporal/provision';
import { SAMPLES_DIR, SAMPLE_FILES } from '../api/support/samples';
import { requireEnv, TEST_ENV } from '../support/env';
import { testLogger } from '../support/logger';
import { MemoryEstate } from '../support/memory-estate';
import { startTestWorker, testClient, type TestWorker } from '../support/temporal';

const TOKENS = {
  ingest: 'e2e-ingest-token-0123456789',
  responder: 'e2e-responder-token-0123456789',
  alice: 'e2e-alice-approver-0123456789',
  bob: 'e2e-bob-approver-0123456789',
};
const auth = loadAuthConfig(
  {
    QUELL_API_TOKENS: JSON.stringify({
      [TOKENS.ingest]: { subject: 'siem-e2e', roles: ['ingest'] },
      [TOKENS.responder]: { subject: 'rita', roles: ['responder'] },
      [TOKENS.alice]: { subject: 'alice', roles: ['approver'] },
      [TOKENS.bob]: { subject: 'bob', roles: ['approver'] },
    }),
  },
  { production: false },
);
const as = (token: string) => ({ Authorization: `Bearer ${token}` });

/** A sample alert with its identifying values made unique, so every test run opens its own incidents. */
async function uniqueSample(format: keyof typeof SAMPLE_FILES): Promise<string> {
  const tag = randomUUID().slice(0, 8);
  const ip = (a: string) => `${a}.${randomInt(1, 254)}.${randomInt(1, 254)}`;
  const replacements: Record<string, string> = {
    'det-0001': `det-${tag}`,
    'ws-fin-042': `ws-fin-${tag}`,
    'j.doe': `j.doe.${tag}`,
    'ndr-finding-20261128-000417': `ndr-finding-${tag}`,
    'ws-eng-117': `ws-eng-${tag}`,
    '10.20.4.117': ip('10.20'),
    '5b1e8a7c9d2f4e3a8b6c0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c': `uuid-${tag}`,
    'm.chen': `m.chen.${tag}`,
    '7c2a1f0e9d8b6c54': `7c2a${tag}`,
    a41b93e07f5d2c18: `a41b${tag}`,
    'build-runner-07': `build-runner-${tag}`,
    'fs-share-02': `fs-share-${tag}`,
    '192.0.2.144': `192.0.2.${randomInt(1, 254)}`,
  };
  let text = await fs.readFile(path.join(SAMPLES_DIR, SAMPLE_FILES[format]), 'utf8');
  for (const [from, to] of Object.entries(replacements)) text = text.split(from).join(to);
  return text;
}

describe('the API end to end: real HTTP handling, a real worker, the real Temporal dev server', () => {
  let worker: TestWorker;
  let client: Client;
  let app: ReturnType<typeof createApp>;

  beforeAll(async () => {
    worker = await startTestWorker({ activityDeps: { connectors: new MemoryEstate().connectors() } });
    client = await testClient();
    const logger = testLogger();
    const playbooks = await loadPlaybooks(path.resolve(__dirname, '../../playbooks'));
    app = createApp({
      client,
      incidents: new IncidentService(client, worker.taskQueue, playbooks),
      taskQueue: worker.taskQueue,
      logger,
      auth,
    });
  });
  afterAll(async () => {
    await worker?.stop();
    await client?.connection.close();
  });

  it.each([
    ['ocsf', 'c2-traffic'],
    ['elastic', 'compromised-account'],
    ['generic', 'ransomware-host'],
  ] as const)(
    'ingests a %s alert (detected from the body) into an incident under the %s playbook',
    async (format, playbook) => {
      const res = await request(app)
        .post('/api/v1/alerts')
        .set(as(TOKENS.ingest))
        .type('json')
        .send(await uniqueSample(format))
        .expect(202);
      const state = await request(app)
        .get(`/api/v1/incidents/${res.body.incidentId}`)
        .set(as(TOKENS.responder))
        .expect(200);
      expect(state.body.playbook.id).toBe(playbook);
      expect(state.body.alerts.recent[0]).toMatchObject({ raisedBy: 'siem-e2e' });
    },
  );

  it('ingests an Alertmanager batch: one incident per alert, each under its playbook', async () => {
    const res = await request(app)
      .post('/api/v1/alerts?format=alertmanager')
      .set(as(TOKENS.ingest))
      .type('json')
      .send(await uniqueSample('alertmanager'))
      .expect(202);
    expect(res.body.items).toHaveLength(2);
    const playbooks = await Promise.all(
      res.body.items.map(
        async (i: { incidentId: string }) =>
          (await request(app).get(`/api/v1/incidents/${i.incidentId}`).set(as(TOKENS.responder)).expect(200))
            .body.playbook.id,
      ),
    );
    expect(playbooks.sort()).toEqual(['c2-traffic', 'ransomware-host']);
  });

  it('a concurrent burst of the same alert over HTTP opens one incident and records it once', async () => {
    const body = await uniqueSample('generic');
    const answers = await Promise.all(
      Array.from({ length: 30 }, () =>
        request(app).post('/api/v1/alerts').set(as(TOKENS.ingest)).type('json').send(body),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(30).fill(202));
    expect(new Set(answers.map((a) => a.body.incidentId)).size).toBe(1);
    expect(answers.filter((a) => !a.body.deduplicated)).toHaveLength(1);
    const state = await request(app)
      .get(`/api/v1/incidents/${answers[0]!.body.incidentId}`)
      .set(as(TOKENS.responder))
      .expect(200);
    expect(state.body.alerts).toMatchObject({ count: 1, deduplicated: 29 });
  });

  it('answers every approval refusal with its status and a problem document', async () => {
    // Critical ransomware: the account disable waits for one approver (ransomware-host playbook).
    const posted = await request(app)
      .post('/api/v1/alerts')
      .set(as(TOKENS.ingest))
      .type('json')
      .send(await uniqueSample('generic'))
      .expect(202);
    const id: string = posted.body.incidentId;
    let approvalId = '';
    for (let i = 0; i < 100 && !approvalId; i++) {
      const s = await request(app).get(`/api/v1/incidents/${id}`).set(as(TOKENS.responder)).expect(200);
      approvalId = s.body.approvals.find((a: { state: string }) => a.state === 'pending')?.approvalId ?? '';
      if (!approvalId) await new Promise((r) => setTimeout(r, 100));
    }
    const decide = (token: string, body: object, approval = approvalId) =>
      request(app).post(`/api/v1/incidents/${id}/approvals/${approval}`).set(as(token)).send(body);
    const problem = (res: request.Response, status: number, type?: RegExp) => {
      expect(res.status).toBe(status);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      if (type) expect(res.body.type).toMatch(type);
    };
    // Not an approver: refused (and recorded) by the incident itself.
    problem(await decide(TOKENS.responder, { decision: 'approve' }), 403, /not-an-approver/);
    problem(await decide(TOKENS.alice, { decision: 'approve', approver: 'ceo' }), 400, /validation/); // smuggled field
    problem(await decide(TOKENS.alice, { decision: 'maybe' }), 400, /validation/);
    problem(await decide(TOKENS.alice, { decision: 'approve' }, 'apr-404'), 404, /approval-not-found/);
    const unknownIncident = await request(app)
      .post('/api/v1/incidents/INC-0000000000000000-000000/approvals/apr-1')
      .set(as(TOKENS.alice))
      .send({ decision: 'approve' });
    problem(unknownIncident, 404);
    const approved = await decide(TOKENS.alice, { decision: 'approve', comment: 'ok' }).expect(200);
    expect(approved.body).toMatchObject({
      approvalId,
      state: 'approved',
      decisions: [expect.objectContaining({ decider: 'alice' })],
    });
    problem(await decide(TOKENS.bob, { decision: 'reject' }), 409, /approval-already-decided/);
  });

  it('answers 503 with Retry-After when Temporal is down, and starts nothing', async () => {
    // A server of its own, stopped before the request: the shared one keeps serving the other tests.
    const runDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-503-'));
    const { TEMPORAL_ADDRESS: _a, ...env } = process.env;
    const server = await provisionTemporal(
      loadConfig({ ...env, QUELL_DATA_DIR: runDir, TEMPORAL_CLI_PATH: requireEnv(TEST_ENV.cliPath) }),
      {
        embeddedOverrides: {
          port: 0,
          headless: true,
          dbFile: null,
          logFile: path.join(runDir, 'temporal.log'),
        },
      },
    );
    const downClient = await connectClient(server, { maxAttempts: 5 }); // as src/runtime.ts connects the API
    const playbooks = await loadPlaybooks(path.resolve(__dirname, '../../playbooks'));
    const downApp = createApp({
      client: downClient,
      incidents: new IncidentService(downClient, 'nowhere', playbooks),
      taskQueue: 'nowhere',
      logger: testLogger(),
      auth,
    });
    await server.stop();
    try {
      const res = await request(downApp)
        .post('/api/v1/alerts')
        .set(as(TOKENS.ingest))
        .type('json')
        .send(await uniqueSample('generic'));
      expect(res.status).toBe(503);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      const ready = await request(downApp).get('/readyz');
      expect(ready.status).toBe(503);
    } finally {
      await downClient.connection.close();
      await fs.rm(runDir, { recursive: true, force: true });
    }
  }, 90_000);
});
