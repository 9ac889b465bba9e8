import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import express from 'express';
import request from 'supertest';
import { CrowdStrikeEdr } from '../../src/connectors/edr/crowdstrike';
import {
  LAB_CREDENTIALS,
  LAB_SEED_ACCOUNTS,
  LAB_SEED_HOSTS,
  LabStore,
  createLabRouter,
} from '../../src/connectors/lab';
import { actionCtx, labAllowList, startTestLab, uniqueHost } from './support';

function app(store = new LabStore()) {
  const a = express();
  a.use(createLabRouter(store));
  return { app: a, store };
}

describe('lab estate control plane', () => {
  it('shows the seeded estate in GET /lab/state', async () => {
    const { app: a } = app();
    const res = await request(a).get('/lab/state').expect(200);
    const body = res.body as {
      hosts: { name: string; deviceId: string; status: string }[];
      accounts: { login: string; status: string }[];
      blocked: unknown[];
      messages: { slack: unknown[]; pagerduty: unknown[] };
    };
    expect(body.hosts.map((h) => h.name)).toEqual(LAB_SEED_HOSTS.map((h) => h.name));
    expect(body.hosts.every((h) => /^[0-9a-f]{32}$/.test(h.deviceId) && h.status === 'normal')).toBe(true);
    expect(body.accounts.map((x) => x.login)).toEqual([...LAB_SEED_ACCOUNTS]);
    expect(body.accounts.every((x) => x.status === 'ACTIVE')).toBe(true);
    expect(body.blocked).toEqual([]);
    expect(body.messages).toMatchObject({ slack: [], pagerduty: [] });
    await request(a).get('/lab').expect(200);
    await request(a).get('/lab/health').expect(200, { ok: true });
  });

  it('keeps device IDs stable and provisions unknown hosts on first lookup', () => {
    const a = new LabStore();
    const b = new LabStore();
    expect(a.findHost('ws-fin-042')!.deviceId).toBe(b.findHost('ws-fin-042')!.deviceId);
    expect(a.findHost('new-host-1')!.status).toBe('normal');
    expect(new LabStore({ autoProvision: false }).findHost('new-host-1')).toBeUndefined();
    expect(a.findHost('bad name!')).toBeUndefined();
  });

  it('manages fault rules over HTTP: add, list, validate, delete', async () => {
    const { app: a, store } = app();
    const created = await request(a)
      .post('/lab/faults')
      .send({
        match: { vendor: 'okta', method: 'GET', pathPattern: '/users/' },
        fault: '429',
        retryAfterSeconds: 2,
        times: 2,
      })
      .expect(201);
    const id = (created.body as { rules: { id: string }[] }).rules[0]!.id;
    await request(a)
      .post('/lab/faults')
      .send([
        { fault: '5xx', match: { vendor: 'slack' } },
        { fault: 'timeout', holdMs: 10 },
      ])
      .expect(201);
    expect(
      ((await request(a).get('/lab/faults').expect(200)).body as { rules: unknown[] }).rules,
    ).toHaveLength(3);
    await request(a).post('/lab/faults').send({ fault: 'gremlins' }).expect(400);
    await request(a)
      .post('/lab/faults')
      .send({ fault: '5xx', match: { vendor: 'nope' } })
      .expect(400);
    await request(a)
      .post('/lab/faults')
      .send({ fault: '5xx', match: { pathPattern: '(' } })
      .expect(400);
    await request(a).post('/lab/faults').send({ fault: '5xx', probability: 2 }).expect(400);
    await request(a).post('/lab/faults').send({ fault: '5xx', times: 0 }).expect(400);
    await request(a).delete(`/lab/faults/${id}`).expect(204);
    await request(a).delete(`/lab/faults/${id}`).expect(404);
    await request(a).delete('/lab/faults').expect(204);
    expect(store.faults()).toEqual([]);
  });

  it('applies faults by vendor, method and path, `times` times, and `probability` 0 never', async () => {
    const { app: a, store } = app();
    const auth = `SSWS ${LAB_CREDENTIALS.okta.apiToken}`;
    store.addFault({
      match: { vendor: 'okta', method: 'GET', pathPattern: '/users/j\\.doe' },
      fault: '5xx',
      times: 2,
    });
    store.addFault({
      match: { vendor: 'okta', pathPattern: '/users/a\\.smith' },
      fault: '5xx',
      probability: 0,
    });
    await request(a).get('/okta/api/v1/users/j.doe').set('authorization', auth).expect(503);
    await request(a).get('/okta/api/v1/users/a.smith').set('authorization', auth).expect(200);
    await request(a).get('/okta/api/v1/users/j.doe').set('authorization', auth).expect(503);
    await request(a).get('/okta/api/v1/users/j.doe').set('authorization', auth).expect(200);
    expect(store.faults()).toHaveLength(1); // the exhausted rule is gone
    const calls = store.calls({ vendor: 'okta' });
    expect(calls.map((c) => [c.status, c.fault ?? null])).toEqual([
      [503, '5xx'],
      [200, null],
      [503, '5xx'],
      [200, null],
    ]);
    // Answers use the vendor's error shape.
    store.addFault({ match: { vendor: 'okta' }, fault: '429', times: 1, retryAfterSeconds: 5 });
    const limited = await request(a).get('/okta/api/v1/users/j.doe').set('authorization', auth).expect(429);
    expect(limited.body).toMatchObject({ errorCode: 'E0000047' });
    expect(Number(limited.headers['x-rate-limit-reset'])).toBeGreaterThan(Date.now() / 1000);
    store.addFault({ match: { vendor: 'crowdstrike' }, fault: '429', times: 1, retryAfterSeconds: 5 });
    const cs = await request(a).post('/crowdstrike/oauth2/token').type('form').send({}).expect(429);
    expect(cs.headers['retry-after']).toBe('5');
    expect(cs.body).toMatchObject({ errors: [{ code: 429 }] });
  });

  it('holds a timed-out request until the client gives up, then answers 504 if still there', async () => {
    const { app: a, store } = app();
    store.addFault({ match: { vendor: 'pagerduty' }, fault: 'timeout', holdMs: 100, times: 1 });
    const started = Date.now();
    await request(a).post('/pagerduty/v2/enqueue').send({}).expect(504);
    expect(Date.now() - started).toBeGreaterThanOrEqual(95);
  });

  it('records each containment effect exactly once in the ledger (GET /lab/ledger)', async () => {
    const lab = await startTestLab();
    try {
      const edr = new CrowdStrikeEdr({
        baseUrl: `${lab.url}/crowdstrike`,
        ...LAB_CREDENTIALS.crowdstrike,
        allowList: labAllowList(lab),
      });
      const host = uniqueHost();
      const ctx = actionCtx('INC-LEDGER', 'lab ledger');
      await Promise.all([edr.isolateHost(host, ctx), edr.isolateHost(host, ctx)]);
      await edr.isolateHost(host, ctx);
      const res = await fetch(`${lab.url}/lab/ledger?target=${host}`);
      const { entries } = (await res.json()) as {
        entries: { effect: string; incidentId: string; at: string; call: string }[];
      };
      expect(entries).toHaveLength(1);
      expect(entries[0]).toMatchObject({ effect: 'contain', incidentId: 'INC-LEDGER' });
      expect(Number.isNaN(Date.parse(entries[0]!.at))).toBe(false);
      const state = (await (await fetch(`${lab.url}/lab/state`)).json()) as {
        hosts: { name: string; status: string }[];
      };
      expect(state.hosts.find((h) => h.name === host)!.status).toBe('contained');
      const calls = (await (await fetch(`${lab.url}/lab/calls?vendor=crowdstrike&method=POST`)).json()) as {
        calls: unknown[];
      };
      expect(calls.calls.length).toBeGreaterThanOrEqual(2); // token + one action
    } finally {
      await lab.stop();
    }
  });

  it('persists the estate to <dataDir>/lab/state.json and loads it on restart', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-lab-'));
    try {
      const lab = await startTestLab({ dataDir });
      const host = uniqueHost();
      const edr = new CrowdStrikeEdr({
        baseUrl: `${lab.url}/crowdstrike`,
        ...LAB_CREDENTIALS.crowdstrike,
        allowList: labAllowList(lab),
      });
      await edr.isolateHost(host, actionCtx('INC-P'));
      lab.store.addMessage({ kind: 'slack-webhook', channel: 'soc', text: 'persist me' });
      await lab.stop();
      const file = JSON.parse(await fs.readFile(path.join(dataDir, 'lab', 'state.json'), 'utf8')) as {
        version: number;
      };
      expect(file.version).toBe(1);
      expect((await fs.readdir(path.join(dataDir, 'lab'))).filter((n) => n.includes('.tmp-'))).toEqual([]);

      const again = await startTestLab({ dataDir, port: Number(new URL(lab.url).port) });
      try {
        expect(again.store.findHost(host, false)!.status).toBe('contained');
        expect(again.store.ledger({ target: host })).toHaveLength(1);
        expect(again.store.messages().map((m) => m.text)).toContain('persist me');
        // Tokens are not persisted: the connector's cached token is refused once, and it refreshes.
        expect((await edr.isolateHost(host, actionCtx())).alreadyInState).toBe(true);
        expect(again.store.calls({ vendor: 'crowdstrike' }).map((c) => c.status)).toEqual([
          401, 201, 200, 200,
        ]);
      } finally {
        await again.stop();
      }
    } finally {
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });

  it('accepts lab hosts and account states over HTTP, and serves logs', async () => {
    const { app: a, store } = app();
    await request(a).post('/lab/hosts').send({ name: 'srv-new-01', platform: 'Linux' }).expect(201);
    await request(a).post('/lab/hosts').send({ name: 'bad name' }).expect(400);
    expect(store.findHost('srv-new-01', false)!.platform).toBe('Linux');
    await request(a).post('/lab/accounts/j.doe/status').send({ status: 'LOCKED_OUT' }).expect(200);
    await request(a).post('/lab/accounts/j.doe/status').send({ status: 'ASLEEP' }).expect(400);
    expect(store.findAccount('j.doe')!.status).toBe('LOCKED_OUT');
    const logs = await request(a)
      .get('/lab/logs/dc-01?from=2026-11-28T09:00:00Z&to=2026-11-28T09:02:00Z')
      .expect(200);
    expect(logs.text.trim().split('\n')).toHaveLength(3);
    await request(a).get('/lab/logs/dc-01?from=x&to=y').expect(400);
  });

  it("speaks the vendors' auth rules", async () => {
    const { app: a } = app();
    await request(a).get('/okta/api/v1/users/j.doe').set('authorization', 'Bearer x').expect(401);
    await request(a).get('/crowdstrike/devices/queries/devices/v1?filter=hostname:%27dc-01%27').expect(401);
    await request(a)
      .get('/cloudflare/client/v4/zones/z/firewall/access_rules/rules')
      .set('authorization', 'Bearer x')
      .expect(403);
    const slack = await request(a)
      .post('/slack/api/chat.postMessage')
      .send({ channel: 'soc', text: 'x' })
      .expect(200);
    expect(slack.body).toEqual({ ok: false, error: 'not_authed' });
    await request(a)
      .post('/azuread/lab-tenant/oauth2/v2.0/token')
      .type('form')
      .send({
        grant_type: 'client_credentials',
        client_id: 'lab-azure-app',
        client_secret: 'lab-azure-secret',
        scope: 'x',
      })
      .expect(400);
    await request(a).post('/pagerduty/v2/enqueue').send({ event_action: 'trigger' }).expect(400);
  });
});
