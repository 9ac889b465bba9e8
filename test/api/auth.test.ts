import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import request from 'supertest';
import type { Client } from '@temporalio/client';
import {
  AuthConfig,
  constantTimeEqual,
  demoTokenBanner,
  loadAuthConfig,
  parseSignatureHeader,
  signatureHeader,
  signBody,
} from '../../src/api/auth';
import { ApiMetrics } from '../../src/api/metrics';
import { apiRoutes } from '../../src/api/routes';
import { ConfigError } from '../../src/config';
import { ROLES, type Role } from '../../src/domain/incident';
import { FakeIncidents, INCIDENT_ID } from './support/fake-incidents';
import { SIGNING, SUBJECTS, TOKENS, bearer, testApp, type TokenName } from './support/harness';
import { sample } from './support/samples';

const LONG = (c: string) => c.repeat(40);

describe('constantTimeEqual', () => {
  it('compares by value, whatever the lengths and types', () => {
    expect(constantTimeEqual('abc', 'abc')).toBe(true);
    expect(constantTimeEqual('abc', 'abd')).toBe(false);
    expect(constantTimeEqual('abc', 'abcd')).toBe(false);
    expect(constantTimeEqual('', '')).toBe(true);
    expect(constantTimeEqual(Buffer.from('xyz'), 'xyz')).toBe(true);
  });
});

describe('AuthConfig.authenticate', () => {
  const auth = new AuthConfig({
    tokens: {
      [LONG('a')]: { subject: 'first', roles: ['responder'] },
      [LONG('b')]: { subject: 'last', roles: ['approver', 'approver'] },
    },
  });

  it('finds any configured token and returns a copy of its identity', () => {
    expect(auth.authenticate(LONG('a'))).toEqual({ subject: 'first', roles: ['responder'] });
    expect(auth.authenticate(LONG('b'))).toEqual({ subject: 'last', roles: ['approver'] });
    auth.authenticate(LONG('a'))!.roles.push('admin');
    expect(auth.authenticate(LONG('a'))!.roles).toEqual(['responder']);
  });

  it('rejects prefixes, extensions and case changes', () => {
    for (const t of [LONG('a').slice(1), `${LONG('a')}a`, LONG('A'), '', ' ']) {
      expect(auth.authenticate(t)).toBeUndefined();
    }
  });

  it('never reveals tokens or secrets when logged or serialized', () => {
    const withSecrets = new AuthConfig({
      tokens: { [LONG('t')]: { subject: 's', roles: ['admin'] } },
      signingSecrets: { src: ['super-secret-value-1234567890'] },
      demoTokens: {
        ingest: 'demo-i',
        responder: 'demo-r',
        approver: 'demo-a',
        auditor: 'demo-u',
        admin: 'demo-x',
      },
    });
    for (const text of [JSON.stringify(withSecrets), inspect(withSecrets, { depth: 10, showHidden: true })]) {
      expect(text).not.toContain(LONG('t'));
      expect(text).not.toContain('super-secret-value');
      expect(text).not.toContain('demo-x');
    }
    expect(JSON.parse(JSON.stringify(withSecrets))).toEqual({
      tokens: 1,
      subjects: ['s'],
      signingSources: ['src'],
      signatureToleranceSeconds: 300,
      demo: true,
    });
  });
});

describe('loadAuthConfig', () => {
  const tokensJson = (token: string, extra: object = {}) =>
    JSON.stringify({ [token]: { subject: 'alice', roles: ['responder'], ...extra } });

  it('refuses to start in production without tokens', () => {
    expect(() => loadAuthConfig({}, { production: true })).toThrow(ConfigError);
    expect(() => loadAuthConfig({}, { production: true })).toThrow(/QUELL_API_TOKENS.*production/s);
    expect(() => loadAuthConfig({ QUELL_API_TOKENS: '{}' }, { production: true })).toThrow(/No API tokens/);
  });

  it('generates DEMO tokens only outside production, one per role plus a second approver, new each time', () => {
    const a = loadAuthConfig({}, { production: false });
    const b = loadAuthConfig({}, { production: false });
    expect(Object.keys(a.demoTokens!).sort()).toEqual([...ROLES, 'approver-2'].sort());
    expect(a.authenticate(a.demoTokens!['approver-2']!)).toEqual({
      subject: 'demo-approver-2',
      roles: ['approver'],
    });
    for (const role of ROLES) {
      const token = a.demoTokens![role]!;
      expect(token).toMatch(new RegExp(`^quell-demo-${role}-`));
      expect(a.authenticate(token)).toEqual({ subject: `demo-${role}`, roles: [role] });
      expect(token).not.toBe(b.demoTokens![role]);
      expect(b.authenticate(token)).toBeUndefined();
    }
    const banner = demoTokenBanner(a);
    expect(banner[0]).toMatch(/DEMO/);
    expect(banner.join('\n')).toContain(a.demoTokens!.admin!);
  });

  it('uses configured tokens (no demo tokens) when given, in any mode', () => {
    for (const production of [false, true]) {
      const auth = loadAuthConfig({ QUELL_API_TOKENS: tokensJson(LONG('x')) }, { production });
      expect(auth.demoTokens).toBeUndefined();
      expect(demoTokenBanner(auth)).toEqual([]);
      expect(auth.authenticate(LONG('x'))).toEqual({ subject: 'alice', roles: ['responder'] });
    }
  });

  it('reads QUELL_API_TOKENS_FILE, and refuses both sources at once or an unreadable file', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'quell-auth-'));
    const file = path.join(dir, 'tokens.json');
    writeFileSync(file, tokensJson(LONG('f')));
    expect(
      loadAuthConfig({ QUELL_API_TOKENS_FILE: file }, { production: true }).authenticate(LONG('f')),
    ).toEqual({
      subject: 'alice',
      roles: ['responder'],
    });
    expect(() =>
      loadAuthConfig(
        { QUELL_API_TOKENS_FILE: file, QUELL_API_TOKENS: tokensJson(LONG('x')) },
        { production: false },
      ),
    ).toThrow(/not both/);
    expect(() =>
      loadAuthConfig({ QUELL_API_TOKENS_FILE: path.join(dir, 'nope') }, { production: false }),
    ).toThrow(/cannot read/);
  });

  it('explains invalid configuration without ever quoting a token', () => {
    const token = 'secret-token-value-0123456789';
    const attempts: [Record<string, string>, RegExp][] = [
      [{ QUELL_API_TOKENS: `{"${token}": ` }, /not valid JSON/],
      [{ QUELL_API_TOKENS: tokensJson(token, { roles: ['root'] }) }, /<token #1>\.roles\.0/],
      [{ QUELL_API_TOKENS: tokensJson(token, { roles: [] }) }, /at least one role/],
      [{ QUELL_API_TOKENS: tokensJson(token, { approver: 'x' }) }, /approver/],
      [{ QUELL_API_TOKENS: tokensJson(token, { subject: 'source:edr' }) }, /reserved/],
      [{ QUELL_API_TOKENS: tokensJson('short') }, /at least 16/],
      [{ QUELL_API_TOKENS: tokensJson('has space in it 0123456789') }, /may contain only/],
    ];
    for (const [env, message] of attempts) {
      let error: unknown;
      try {
        loadAuthConfig(env, { production: false });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain(token);
    }
  });

  it('needs 32-character tokens and secrets in production', () => {
    expect(() =>
      loadAuthConfig({ QUELL_API_TOKENS: tokensJson('t'.repeat(20)) }, { production: true }),
    ).toThrow(/at least 32/);
    expect(() =>
      loadAuthConfig(
        {
          QUELL_API_TOKENS: tokensJson(LONG('t')),
          QUELL_INGEST_SIGNING_SECRETS: '{"edr": ["s".repeat(20)]}',
        },
        { production: true },
      ),
    ).toThrow(ConfigError);
  });

  it('reads signing secrets (one or several per source) and validates source names', () => {
    const auth = loadAuthConfig(
      {
        QUELL_API_TOKENS: tokensJson(LONG('x')),
        QUELL_INGEST_SIGNING_SECRETS: JSON.stringify({
          edr: 'secret-one-0123456789',
          ndr: ['a'.repeat(16), 'b'.repeat(16)],
        }),
      },
      { production: false },
    );
    expect(auth.signingSources.sort()).toEqual(['edr', 'ndr']);
    const body = Buffer.from('{}');
    expect(auth.verifySignature('ndr', signatureHeader('b'.repeat(16), body), body).ok).toBe(true);
    expect(() =>
      loadAuthConfig(
        { QUELL_INGEST_SIGNING_SECRETS: '{"bad name": ["0123456789abcdef"]}' },
        { production: false },
      ),
    ).toThrow(/source names/);
  });
});

describe('signature header parsing', () => {
  const hex = 'ab'.repeat(32);
  it('parses t and one or more v1 values, ignoring other schemes', () => {
    expect(parseSignatureHeader(`t=1700000000,v1=${hex}`)?.timestamp).toBe(1700000000);
    expect(parseSignatureHeader(`t=1, v0=zz, v1=${hex}, v1=${'cd'.repeat(32)}`)?.signatures).toHaveLength(2);
  });
  it.each([
    [''],
    ['t=1'],
    [`v1=${hex}`],
    [`t=abc,v1=${hex}`],
    [`t=1,t=2,v1=${hex}`],
    ['t=1,v1=short'],
    [`t=1,v1=${hex},garbage`],
    [`t=1,${Array.from({ length: 20 }, () => `v1=${hex}`).join(',')}`],
  ])('rejects %j', (header) => {
    expect(parseSignatureHeader(header)).toBeUndefined();
  });
  it('signs t + "." + body', () => {
    expect(signBody('k', 5, 'body')).toBe(createHmac('sha256', 'k').update('5.body').digest('hex'));
  });
});

describe('authentication and roles on every route', () => {
  const { app, incidents } = testApp({
    audit: {
      timeline: async () => ({ events: [] }),
      history: async () => ({ events: [] }),
      report: async () => ({}),
      bundle: async () => ({ fileName: 'x.audit-bundle.json', bundle: {} }),
      evidence: async (incidentId) => ({ incidentId, items: [] }),
    },
  });
  const P = `/api/v1/incidents/${INCIDENT_ID}`;
  const READ: TokenName[] = ['responder', 'approver', 'auditor', 'admin', 'responderApprover'];
  const RESPOND: TokenName[] = ['responder', 'admin', 'responderApprover'];
  // Decisions reach the incident for anyone who may read it: the workflow itself refuses callers without the
  // approver role (admin included) and records the attempt (test/integration/refused-decisions.test.ts).
  const DECIDE: TokenName[] = READ;
  const AUDIT: TokenName[] = ['auditor', 'admin'];
  const cases: { op: string; method: 'get' | 'post'; path: string; body?: object; allowed: TokenName[] }[] = [
    {
      op: 'ingestAlert',
      method: 'post',
      path: '/api/v1/alerts',
      body: sample('generic'),
      allowed: ['ingest', 'admin'],
    },
    {
      op: 'ingestAlertBatch',
      method: 'post',
      path: '/api/v1/alerts/batch',
      body: [sample('generic')],
      allowed: ['ingest', 'admin'],
    },
    {
      op: 'me',
      method: 'get',
      path: '/api/v1/me',
      allowed: ['ingest', 'responder', 'approver', 'auditor', 'admin', 'responderApprover'],
    },
    { op: 'listIncidents', method: 'get', path: '/api/v1/incidents', allowed: READ },
    { op: 'getIncident', method: 'get', path: P, allowed: READ },
    {
      op: 'decideApproval',
      method: 'post',
      path: `${P}/approvals/apr-1`,
      body: { decision: 'approve' },
      allowed: DECIDE,
    },
    { op: 'retryAction', method: 'post', path: `${P}/actions/act-1/retry`, body: {}, allowed: RESPOND },
    { op: 'skipAction', method: 'post', path: `${P}/actions/act-1/skip`, body: {}, allowed: RESPOND },
    {
      op: 'completeChecklistItem',
      method: 'post',
      path: `${P}/checklist/reimage`,
      body: {},
      allowed: RESPOND,
    },
    { op: 'addNote', method: 'post', path: `${P}/notes`, body: { text: 'hi' }, allowed: RESPOND },
    {
      op: 'closeIncident',
      method: 'post',
      path: `${P}/close`,
      body: { resolution: 'resolved' },
      allowed: DECIDE,
    },
    { op: 'incidentTimeline', method: 'get', path: `${P}/timeline`, allowed: AUDIT },
    { op: 'incidentHistory', method: 'get', path: `${P}/history`, allowed: AUDIT },
    { op: 'incidentReport', method: 'get', path: `${P}/report`, allowed: AUDIT },
    { op: 'incidentAuditBundle', method: 'get', path: `${P}/bundle`, allowed: AUDIT },
    {
      op: 'incidentEvidence',
      method: 'get',
      path: `${P}/evidence`,
      allowed: ['responder', 'auditor', 'admin', 'responderApprover'],
    },
    // The Temporal codec server: plaintext of payloads for those who may read incidents' contents.
    {
      op: 'codecDecode',
      method: 'post',
      path: '/api/v1/codec/decode',
      body: { payloads: [] },
      allowed: ['responder', 'auditor', 'admin', 'responderApprover'],
    },
    {
      op: 'codecEncode',
      method: 'post',
      path: '/api/v1/codec/encode',
      body: { payloads: [] },
      allowed: ['responder', 'auditor', 'admin', 'responderApprover'],
    },
  ];

  it('covers every authenticated route in the route table', () => {
    const routes = apiRoutes({
      client: {} as Client,
      taskQueue: 'q',
      incidents: new FakeIncidents(),
      metrics: new ApiMetrics(new FakeIncidents(), { defaultMetrics: false }),
      openApi: () => ({}),
    });
    // Token-authenticated routes; Slack's signed interactions route has its own tests
    // (test/integration/slack-approvals.test.ts, test/unit/slack-approvals.test.ts).
    const authenticated = routes
      .filter((r) => r.auth !== 'public' && r.auth !== 'slack')
      .map((r) => r.operationId);
    expect(cases.map((c) => c.op).sort()).toEqual(authenticated.sort());
    expect(routes.filter((r) => r.auth === 'slack').map((r) => r.operationId)).toEqual(['slackInteraction']);
    for (const r of routes.filter((x) => x.auth === 'public')) {
      expect(['health', 'readiness', 'metrics', 'openapi', 'signInOptions']).toContain(r.operationId);
    }
  });

  const send = (c: (typeof cases)[number], auth?: string) => {
    let req = request(app)[c.method](c.path);
    if (auth !== undefined) req = req.set('Authorization', auth);
    return c.body ? req.send(c.body) : req;
  };

  it.each(cases.map((c) => [c.op, c] as const))('%s: 401 without or with a bad token', async (_op, c) => {
    incidents.reset();
    const missing = await send(c);
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toMatch(/^Bearer realm="quell"/);
    expect(missing.headers['content-type']).toMatch(/application\/problem\+json/);
    const bad = await send(c, 'Bearer not-a-configured-token-0000');
    expect(bad.status).toBe(401);
    expect(bad.headers['www-authenticate']).toBe('Bearer realm="quell", error="invalid_token"');
    for (const malformed of ['Basic dXNlcjpwYXNz', 'Bearer', `Bearer ${TOKENS.admin} extra`, TOKENS.admin]) {
      expect((await send(c, malformed)).status).toBe(401);
    }
    expect(incidents.calls).toEqual([]);
  });

  it.each(cases.map((c) => [c.op, c] as const))('%s: only the allowed roles pass', async (_op, c) => {
    for (const name of Object.keys(TOKENS) as TokenName[]) {
      incidents.reset();
      const res = await send(c, bearer(name));
      if (c.allowed.includes(name)) {
        expect([200, 201, 202]).toContain(res.status);
      } else {
        expect({ name, status: res.status }).toEqual({ name, status: 403 });
        expect(res.body).toMatchObject({ status: 403, title: 'Forbidden' });
        expect(incidents.calls).toEqual([]);
      }
    }
  });

  it('passes the verified identity, never one from the body', async () => {
    incidents.reset();
    const smuggled = await request(app)
      .post(`${P}/approvals/apr-1`)
      .set('Authorization', bearer('approver'))
      .send({ decision: 'approve', approver: 'mallory', actor: { subject: 'mallory', roles: ['admin'] } });
    expect(smuggled.status).toBe(400);
    expect(smuggled.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['actor', 'approver']);
    expect(incidents.calls).toEqual([]);

    await request(app)
      .post(`${P}/approvals/apr-1`)
      .set('Authorization', bearer('approver'))
      .send({ decision: 'reject', comment: 'not convinced' })
      .expect(200);
    expect(incidents.callsOf('decideApproval')).toEqual([
      [INCIDENT_ID, 'apr-1', 'reject', 'not convinced', { subject: SUBJECTS.approver, roles: ['approver'] }],
    ]);
  });

  it('an ingest token cannot read or decide anything', async () => {
    const roles: Role[] = ['ingest'];
    expect(roles).toHaveLength(1);
    await request(app).get('/api/v1/incidents').set('Authorization', bearer('ingest')).expect(403);
    await request(app)
      .post(`${P}/close`)
      .set('Authorization', bearer('ingest'))
      .send({ resolution: 'resolved' })
      .expect(403);
  });

  it('public routes need no token', async () => {
    await request(app).get('/healthz').expect(200);
    await request(app).get('/metrics').expect(200);
    await request(app).get('/api/v1/openapi.json').expect(200);
  });

  it('the signing secrets of one source do not sign for another', () => {
    expect(SIGNING.secrets).not.toContain(SIGNING.otherSecret);
  });
});
