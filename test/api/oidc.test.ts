import { createServer } from 'node:net';
import request from 'supertest';
import { AuthConfig, loadAuthConfig } from '../../src/api/auth';
import { OidcVerifier, loadOidcSettings, looksLikeJwt, type OidcSettings } from '../../src/api/oidc';
import { ConfigError } from '../../src/config';
import { INCIDENT_ID } from './support/fake-incidents';
import { SUBJECTS, TOKENS, bearer, testApp, testAuth } from './support/harness';
import { LocalIssuer, unsignedToken } from './support/oidc-issuer';
import { sample } from './support/samples';

const P = `/api/v1/incidents/${INCIDENT_ID}`;
const ROLE_MAP: OidcSettings['roleMap'] = {
  'soc-responders': ['responder'],
  'soc-approvers': ['approver'],
  'soc-auditors': ['auditor'],
  'siem-forwarders': ['ingest'],
};
/** A static token that happens to look like a JWT: it must still take the static path. */
const DOTTED_STATIC = 'svc.forwarder-static.0123456789abcdef';

function settings(issuer: LocalIssuer, extra: Partial<OidcSettings> = {}): OidcSettings {
  return {
    issuer: issuer.url,
    audience: ['quell-api'],
    rolesClaim: 'groups',
    subjectClaim: 'sub',
    roleMap: ROLE_MAP,
    clockToleranceSeconds: 60,
    scopes: 'openid',
    ...extra,
  };
}

/** The harness's static tokens plus a dotted one, and this issuer's JWTs. */
function authWith(verifier: OidcVerifier): AuthConfig {
  const statics = testAuth();
  return new AuthConfig({
    tokens: {
      ...Object.fromEntries(
        Object.entries(TOKENS).map(([name, token]) => [
          token,
          statics.authenticate(token) ?? { subject: name, roles: [] },
        ]),
      ),
      [DOTTED_STATIC]: { subject: 'static-forwarder', roles: ['ingest'] },
    },
    oidc: verifier,
  });
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let issuer: LocalIssuer;
beforeAll(async () => {
  issuer = await LocalIssuer.start();
  await issuer.addKey('key-1', 'ES256');
});
afterAll(() => issuer.close());

describe('bearer JWTs from an OpenID Connect issuer', () => {
  let t: ReturnType<typeof testApp>;
  beforeAll(() => {
    t = testApp({ auth: authWith(new OidcVerifier(settings(issuer))) });
  });
  beforeEach(() => t.incidents.reset());
  const token = (claims: Record<string, unknown>, opts = {}) => issuer.sign(claims, opts);

  it('lets a mapped group reach its routes as the token subject, with the mapped roles', async () => {
    const responder = await token({ sub: 'erin', groups: ['soc-responders', 'all-staff'] });
    await request(t.app).get('/api/v1/incidents').set('Authorization', `Bearer ${responder}`).expect(200);
    await request(t.app)
      .post(`${P}/notes`)
      .set('Authorization', `Bearer ${responder}`)
      .send({ text: 'isolating' })
      .expect(201);
    expect(t.incidents.callsOf('addNote')).toEqual([
      [INCIDENT_ID, 'isolating', 'note', { subject: 'erin', roles: ['responder'] }],
    ]);

    const approver = await token({ sub: 'frank', groups: ['soc-approvers'] });
    await request(t.app)
      .post(`${P}/approvals/apr-1`)
      .set('Authorization', `Bearer ${approver}`)
      .send({ decision: 'approve' })
      .expect(200);
    expect(t.incidents.callsOf('decideApproval')).toEqual([
      [INCIDENT_ID, 'apr-1', 'approve', undefined, { subject: 'frank', roles: ['approver'] }],
    ]);
    // The approver group does not confer the responder role.
    await request(t.app)
      .post(`${P}/notes`)
      .set('Authorization', `Bearer ${approver}`)
      .send({ text: 'x' })
      .expect(403);
  });

  it('unions the roles of several groups and accepts a space-separated claim', async () => {
    const both = await token({ sub: 'gina', groups: 'soc-approvers soc-responders' });
    await request(t.app)
      .post(`${P}/approvals/apr-1`)
      .set('Authorization', `Bearer ${both}`)
      .send({ decision: 'reject', comment: 'no' })
      .expect(200);
    expect(t.incidents.callsOf('decideApproval')[0]![4]).toEqual({
      subject: 'gina',
      roles: ['responder', 'approver'],
    });
  });

  it('authenticates alert ingest with a JWT before the body is read, and refuses a bad one', async () => {
    const forwarder = await token({ sub: 'siem-client', groups: ['siem-forwarders'] });
    const ok = await request(t.app)
      .post('/api/v1/alerts')
      .set('Authorization', `Bearer ${forwarder}`)
      .send(sample('generic'));
    expect(ok.status).toBe(202);
    expect(t.incidents.callsOf('ingestAlert')[0]![1]).toBe('siem-client');

    t.incidents.reset();
    const expired = await token({ sub: 'siem-client', groups: ['siem-forwarders'] }, { expiresIn: -600 });
    const refused = await request(t.app)
      .post('/api/v1/alerts')
      .set('Authorization', `Bearer ${expired}`)
      .set('content-type', 'application/json')
      .send('{not json');
    expect(refused.status).toBe(401);
    expect(t.incidents.calls).toEqual([]);
  });

  it('answers 403 naming the roles needed when the groups map to no role', async () => {
    const outsider = await token({ sub: 'henry', groups: ['marketing'] });
    const res = await request(t.app).get('/api/v1/incidents').set('Authorization', `Bearer ${outsider}`);
    expect(res.status).toBe(403);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({
      status: 403,
      title: 'Forbidden',
      detail:
        'This operation needs one of the roles responder, approver, auditor, admin; henry has none ' +
        "(no group in the token's groups claim is mapped to a Quell role).",
    });
    const noClaim = await token({ sub: 'ivy' });
    const audit = await request(t.app).get(`${P}/timeline`).set('Authorization', `Bearer ${noClaim}`);
    expect(audit.status).toBe(403);
    expect(audit.body.detail).toMatch(/needs one of the roles auditor, admin; ivy has none/);
  });

  const refusals: [string, () => Promise<string>, RegExp][] = [
    [
      'expired beyond the skew',
      () => token({ sub: 'a', groups: ['soc-responders'] }, { expiresIn: -61 - 5 }),
      /has expired/,
    ],
    [
      'not yet valid beyond the skew',
      () => token({ sub: 'a', groups: ['soc-responders'] }, { notBefore: 120 }),
      /not valid yet/,
    ],
    [
      'for another audience',
      () => token({ sub: 'a', groups: ['soc-responders'] }, { audience: 'other-app' }),
      /not meant for this API \(audience must include quell-api\)/,
    ],
    [
      'from another issuer',
      () => token({ sub: 'a', groups: ['soc-responders'] }, { issuer: 'https://evil.example' }),
      /not from the configured issuer http:\/\/127\.0\.0\.1:\d+/,
    ],
    [
      'without exp',
      () => token({ sub: 'a', groups: ['soc-responders'] }, { expiresIn: null }),
      /no "exp" claim/,
    ],
    ['without a subject', () => token({ groups: ['soc-responders'] }), /"sub" claim is not a usable subject/],
    [
      'with a reserved subject',
      () => token({ sub: 'source:edr-lab', groups: ['siem-forwarders'] }),
      /reserved for signed alert sources/,
    ],
    [
      'signed with an unpublished key',
      async () => {
        await issuer.addKey('rogue', 'ES256', false);
        return token({ sub: 'a', groups: ['soc-responders'] }, { kid: 'rogue' });
      },
      /key the issuer does not publish/,
    ],
    [
      'signed by another key under a published key ID',
      async () => {
        const jose = issuer.jose;
        const { privateKey } = await jose.generateKeyPair('ES256');
        return new jose.SignJWT({ sub: 'a', groups: ['soc-responders'] })
          .setProtectedHeader({ alg: 'ES256', kid: 'key-1' })
          .setIssuer(issuer.url)
          .setAudience('quell-api')
          .setExpirationTime('5m')
          .sign(privateKey);
      },
      /signature does not verify/,
    ],
    [
      'with alg none',
      async () =>
        unsignedToken({
          sub: 'a',
          groups: ['soc-responders'],
          iss: issuer.url,
          aud: 'quell-api',
          exp: Math.floor(Date.now() / 1000) + 300,
        }),
      /signing algorithm is not accepted \(accepted: RS256, ES256, EdDSA, Ed25519\)/,
    ],
    [
      'HS256 keyed with the issuer public key',
      async () => {
        const jose = issuer.jose;
        const publicKey = await jose.importJWK(issuer.publicJwk('key-1'), 'ES256');
        if (publicKey instanceof Uint8Array) throw new Error('expected an EC public key');
        const spki = await jose.exportSPKI(publicKey);
        return new jose.SignJWT({ sub: 'a', groups: ['soc-responders'] })
          .setProtectedHeader({ alg: 'HS256', kid: 'key-1' })
          .setIssuer(issuer.url)
          .setAudience('quell-api')
          .setExpirationTime('5m')
          .sign(new TextEncoder().encode(spki));
      },
      /signing algorithm is not accepted/,
    ],
    ['that is JWT-shaped garbage', async () => 'abc.def.ghi', /not a valid signed JWT/],
  ];

  it.each(refusals)('refuses a token %s with a 401 problem saying why', async (_what, make, detail) => {
    const jwt = await make();
    expect(looksLikeJwt(jwt)).toBe(true);
    const res = await request(t.app).get('/api/v1/incidents').set('Authorization', `Bearer ${jwt}`);
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 401, title: 'Unauthorized' });
    expect(res.body.detail).toMatch(/^Invalid bearer token: /);
    expect(res.body.detail).toMatch(detail);
    const challenge = res.headers['www-authenticate'] as string;
    expect(challenge).toMatch(/^Bearer realm="quell", error="invalid_token", error_description="[^"\\]+"$/);
    // RFC 6750 allows no double quotes in error_description: the same sentence without them.
    expect(challenge).toContain(
      `error_description="${(res.body.detail as string).replace('Invalid bearer token: ', '').replaceAll('"', '')}"`,
    );
    expect(t.incidents.calls).toEqual([]);
    // The log says why, never the token.
    expect(t.log.text()).not.toContain(jwt);
  });

  it('accepts tokens within the clock skew on either side', async () => {
    for (const opts of [{ expiresIn: -30 }, { notBefore: 30 }]) {
      const jwt = await token({ sub: 'a', groups: ['soc-responders'] }, opts);
      await request(t.app).get('/api/v1/incidents').set('Authorization', `Bearer ${jwt}`).expect(200);
    }
  });

  it('keeps static tokens working beside JWTs, including JWT-shaped ones', async () => {
    await request(t.app).get('/api/v1/incidents').set('Authorization', bearer('responder')).expect(200);
    await request(t.app)
      .post(`${P}/approvals/apr-1`)
      .set('Authorization', bearer('approver'))
      .send({ decision: 'approve' })
      .expect(200);
    expect(t.incidents.callsOf('decideApproval')[0]![4]).toEqual({
      subject: SUBJECTS.approver,
      roles: ['approver'],
    });
    expect(looksLikeJwt(DOTTED_STATIC)).toBe(true);
    await request(t.app)
      .post('/api/v1/alerts')
      .set('Authorization', `Bearer ${DOTTED_STATIC}`)
      .send(sample('generic'))
      .expect(202);
    expect(t.incidents.callsOf('ingestAlert')[0]![1]).toBe('static-forwarder');
    // An unknown static token keeps its old answer.
    const bad = await request(t.app)
      .get('/api/v1/incidents')
      .set('Authorization', 'Bearer not-a-configured-token-0000');
    expect(bad.status).toBe(401);
    expect(bad.headers['www-authenticate']).toBe('Bearer realm="quell", error="invalid_token"');
    expect(bad.body.detail).toBe('Invalid bearer token.');
  });

  it('reads the subject from the configured claim and roles from a nested claim', async () => {
    const app = testApp({
      auth: authWith(
        new OidcVerifier(
          settings(issuer, { subjectClaim: 'preferred_username', rolesClaim: 'realm_access.roles' }),
        ),
      ),
    });
    const jwt = await token({
      sub: '8c1f0e52-opaque',
      preferred_username: 'jane',
      realm_access: { roles: ['soc-approvers'] },
    });
    await request(app.app)
      .post(`${P}/approvals/apr-1`)
      .set('Authorization', `Bearer ${jwt}`)
      .send({ decision: 'approve' })
      .expect(200);
    expect(app.incidents.callsOf('decideApproval')[0]![4]).toEqual({ subject: 'jane', roles: ['approver'] });
  });
});

describe('the issuer key set', () => {
  it('discovers the JWKS once, picks up a rotated-in key, and refuses the old key once it is gone', async () => {
    const rotating = await LocalIssuer.start();
    try {
      await rotating.addKey('old', 'RS256');
      const verifier = new OidcVerifier(settings(rotating), { jwksCooldownMs: 0 });
      const { app } = testApp({ auth: authWith(verifier) });
      const get = async (jwt: string) =>
        request(app).get('/api/v1/incidents').set('Authorization', `Bearer ${jwt}`);
      const claims = { sub: 'kim', groups: ['soc-responders'] };

      const oldToken = await rotating.sign(claims, { kid: 'old' });
      expect((await get(oldToken)).status).toBe(200);
      expect((await get(oldToken)).status).toBe(200);
      expect([rotating.discoveryFetches, rotating.jwksFetches]).toEqual([1, 1]);

      // The issuer switches to a new key and stops publishing the old one.
      await rotating.addKey('new', 'EdDSA', false);
      rotating.publish('new');
      // Until the set is re-read, the cached old key still verifies (jose re-reads on an unknown key ID, or
      // after the cache age, 10 minutes by default).
      expect((await get(oldToken)).status).toBe(200);
      expect(rotating.jwksFetches).toBe(1);

      const newToken = await rotating.sign(claims, { kid: 'new' });
      expect((await get(newToken)).status).toBe(200);
      expect(rotating.jwksFetches).toBe(2);

      const refused = await get(oldToken);
      expect(refused.status).toBe(401);
      expect(refused.body.detail).toMatch(/key the issuer does not publish/);
      expect((await get(newToken)).status).toBe(200);
      expect(rotating.discoveryFetches).toBe(1);
    } finally {
      await rotating.close();
    }
  });

  it('fetches discovery and keys once for a burst of first requests', async () => {
    const fresh = await LocalIssuer.start();
    try {
      await fresh.addKey('k1', 'RS256');
      const { app } = testApp({ auth: authWith(new OidcVerifier(settings(fresh))) });
      const jwt = await fresh.sign({ sub: 'mia', groups: ['soc-auditors'] });
      const answers = await Promise.all(
        Array.from({ length: 20 }, () =>
          request(app).get(`${P}/timeline`).set('Authorization', `Bearer ${jwt}`),
        ),
      );
      // No audit operations in this app: 501 means the auditor got past authentication and the role check.
      expect(answers.map((a) => a.status)).toEqual(Array(20).fill(501));
      expect([fresh.discoveryFetches, fresh.jwksFetches]).toEqual([1, 1]);
    } finally {
      await fresh.close();
    }
  });

  it('re-reads the keys for an unknown key ID at most once per cooldown', async () => {
    const rotating = await LocalIssuer.start();
    try {
      await rotating.addKey('k1');
      const verifier = new OidcVerifier(settings(rotating, { jwksUrl: rotating.jwksUrl }), {
        jwksCooldownMs: 60_000,
      });
      const { app } = testApp({ auth: authWith(verifier) });
      const get = async (jwt: string) =>
        request(app).get('/api/v1/incidents').set('Authorization', `Bearer ${jwt}`);
      const claims = { sub: 'kim', groups: ['soc-responders'] };
      expect((await get(await rotating.sign(claims, { kid: 'k1' }))).status).toBe(200);
      // An explicit JWKS URL needs no discovery.
      expect([rotating.discoveryFetches, rotating.jwksFetches]).toEqual([0, 1]);

      await rotating.addKey('k2');
      const early = await get(await rotating.sign(claims, { kid: 'k2' }));
      expect(early.status).toBe(401);
      expect(rotating.jwksFetches).toBe(1);
    } finally {
      await rotating.close();
    }
  });

  it('answers 503 with Retry-After when the issuer cannot be reached, and recovers when it is back', async () => {
    const flaky = await LocalIssuer.start();
    try {
      await flaky.addKey('k1');
      const { app } = testApp({ auth: authWith(new OidcVerifier(settings(flaky), { jwksCooldownMs: 0 })) });
      const jwt = await flaky.sign({ sub: 'lee', groups: ['soc-responders'] });

      flaky.failing = true;
      const down = await request(app).get('/api/v1/incidents').set('Authorization', `Bearer ${jwt}`);
      expect(down.status).toBe(503);
      expect(down.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(down.headers['retry-after']).toBe('5');
      expect(down.body).toMatchObject({ status: 503, title: 'Identity provider unavailable' });
      expect(down.body.detail).toMatch(/discovery document .*openid-configuration: HTTP 500\. Retry later\./);
      // Static tokens do not depend on the issuer.
      await request(app).get('/api/v1/incidents').set('Authorization', bearer('responder')).expect(200);

      flaky.failing = false;
      await request(app).get('/api/v1/incidents').set('Authorization', `Bearer ${jwt}`).expect(200);
    } finally {
      await flaky.close();
    }
  });

  it('re-reads the keys after their cache age, and does not trust stale keys while the issuer is down', async () => {
    const flaky = await LocalIssuer.start();
    try {
      await flaky.addKey('k1');
      const verifier = new OidcVerifier(settings(flaky), { jwksCacheMaxAgeMs: 100 });
      const { app } = testApp({ auth: authWith(verifier) });
      const jwt = await flaky.sign({ sub: 'lee', groups: ['soc-responders'] });
      const get = () => request(app).get('/api/v1/incidents').set('Authorization', `Bearer ${jwt}`);
      expect((await get()).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect((await get()).status).toBe(200);
      expect(flaky.jwksFetches).toBe(2);
      await new Promise((resolve) => setTimeout(resolve, 150));
      flaky.failing = true;
      const down = await get();
      expect(down.status).toBe(503);
      expect(down.body.detail).toMatch(/signing keys from http:\/\/127\.0\.0\.1:\d+\/jwks/);
    } finally {
      await flaky.close();
    }
  });

  it('answers 503 when the key set cannot be fetched (connection refused)', async () => {
    const port = await closedPort();
    const verifier = new OidcVerifier({
      ...settings(issuer),
      jwksUrl: `http://127.0.0.1:${port}/jwks`,
    });
    const { app } = testApp({ auth: authWith(verifier) });
    const jwt = await issuer.sign({ sub: 'lee', groups: ['soc-responders'] });
    const res = await request(app).get('/api/v1/incidents').set('Authorization', `Bearer ${jwt}`);
    expect(res.status).toBe(503);
    expect(res.body.detail).toBe(
      `Cannot fetch the identity provider's signing keys from http://127.0.0.1:${port}/jwks: ECONNREFUSED. Retry later.`,
    );
  });

  it('refuses a discovery document that names another issuer (503: misconfigured, not the caller)', async () => {
    const verifier = new OidcVerifier(settings(issuer, { issuer: `${issuer.url}/` }));
    const { app } = testApp({ auth: authWith(verifier) });
    const jwt = await issuer.sign({ sub: 'lee', groups: ['soc-responders'] }, { issuer: `${issuer.url}/` });
    const res = await request(app).get('/api/v1/incidents').set('Authorization', `Bearer ${jwt}`);
    expect(res.status).toBe(503);
    expect(res.body.detail).toMatch(
      /names issuer http:\/\/127\.0\.0\.1:\d+, not http:\/\/127\.0\.0\.1:\d+\//,
    );
  });
});

describe('the console sign-in options (GET /api/v1/auth/config)', () => {
  it('answers without authentication: tokens only, until a client ID is configured', async () => {
    const tokensOnly = testApp();
    await request(tokensOnly.app).get('/api/v1/auth/config').expect(200, { token: true });
    const noClient = testApp({ auth: authWith(new OidcVerifier(settings(issuer))) });
    await request(noClient.app).get('/api/v1/auth/config').expect(200, { token: true });
  });

  it('names the endpoints from discovery and the token the console sends as its bearer', async () => {
    const withClient = (audience: string[]) =>
      testApp({
        auth: authWith(new OidcVerifier(settings(issuer, { audience, clientId: 'quell-console' }))),
      });
    const res = await request(withClient(['quell-api']).app)
      .get('/api/v1/auth/config')
      .expect(200);
    expect(res.body).toEqual({
      token: true,
      oidc: {
        issuer: issuer.url,
        clientId: 'quell-console',
        authorizationEndpoint: `${issuer.url}/authorize`,
        tokenEndpoint: `${issuer.url}/token`,
        scope: 'openid',
        bearer: 'access_token',
      },
    });
    // When the API accepts tokens issued to the console itself, the ID token is the bearer.
    const both = await request(withClient(['quell-api', 'quell-console']).app).get('/api/v1/auth/config');
    expect(both.body.oidc.bearer).toBe('id_token');
  });

  it('answers 503 while the issuer is down, and reads discovery again once it is back', async () => {
    const t = testApp({
      auth: authWith(new OidcVerifier(settings(issuer, { clientId: 'quell-console' }))),
    });
    issuer.failing = true;
    try {
      const res = await request(t.app).get('/api/v1/auth/config').expect(503);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.body.type).toMatch(/identity-provider-unavailable$/);
      expect(res.headers['retry-after']).toBeDefined();
    } finally {
      issuer.failing = false;
    }
    await request(t.app).get('/api/v1/auth/config').expect(200);
  });
});

describe('loadOidcSettings', () => {
  const base = {
    QUELL_OIDC_ISSUER: 'https://login.example.com/realms/soc',
    QUELL_OIDC_AUDIENCE: 'quell-api',
    QUELL_OIDC_ROLE_MAP: JSON.stringify({ 'soc-approvers': ['approver'] }),
  };

  it('is off without an issuer, and fills in the defaults', () => {
    expect(loadOidcSettings({}, { production: true })).toBeUndefined();
    expect(loadOidcSettings(base, { production: true })).toEqual({
      issuer: 'https://login.example.com/realms/soc',
      audience: ['quell-api'],
      rolesClaim: 'groups',
      subjectClaim: 'sub',
      roleMap: { 'soc-approvers': ['approver'] },
      clockToleranceSeconds: 60,
      scopes: 'openid profile',
    });
    expect(
      loadOidcSettings(
        { ...base, QUELL_OIDC_CLIENT_ID: 'quell-console', QUELL_OIDC_SCOPES: 'email groups' },
        { production: true },
      ),
    ).toMatchObject({ clientId: 'quell-console', scopes: 'openid email groups' });
    expect(() =>
      loadOidcSettings({ ...base, QUELL_OIDC_SCOPES: 'openid "groups"' }, { production: true }),
    ).toThrow(/QUELL_OIDC_SCOPES: must be scope names separated by spaces/);
    expect(
      loadOidcSettings(
        {
          ...base,
          QUELL_OIDC_AUDIENCE: 'quell-api, quell-console',
          QUELL_OIDC_JWKS_URL: 'https://login.example.com/keys',
          QUELL_OIDC_ROLES_CLAIM: 'realm_access.roles',
          QUELL_OIDC_SUBJECT_CLAIM: 'preferred_username',
          QUELL_OIDC_CLOCK_TOLERANCE_S: '0',
        },
        { production: true },
      ),
    ).toMatchObject({
      audience: ['quell-api', 'quell-console'],
      jwksUrl: 'https://login.example.com/keys',
      rolesClaim: 'realm_access.roles',
      subjectClaim: 'preferred_username',
      clockToleranceSeconds: 0,
    });
  });

  it.each([
    [
      'QUELL_OIDC_AUDIENCE unset',
      { QUELL_OIDC_AUDIENCE: undefined },
      /QUELL_OIDC_AUDIENCE: required with QUELL_OIDC_ISSUER/,
    ],
    ['QUELL_OIDC_ROLE_MAP unset', { QUELL_OIDC_ROLE_MAP: undefined }, /QUELL_OIDC_ROLE_MAP: required/],
    [
      'QUELL_OIDC_ROLE_MAP not JSON',
      { QUELL_OIDC_ROLE_MAP: '{"a": ' },
      /QUELL_OIDC_ROLE_MAP: is not valid JSON/,
    ],
    ['QUELL_OIDC_ROLE_MAP={}', { QUELL_OIDC_ROLE_MAP: '{}' }, /QUELL_OIDC_ROLE_MAP: maps no group to a role/],
    [
      'QUELL_OIDC_ROLE_MAP with an unknown role',
      { QUELL_OIDC_ROLE_MAP: '{"soc": ["superuser"]}' },
      /QUELL_OIDC_ROLE_MAP\.soc\.0: /,
    ],
    [
      'QUELL_OIDC_ROLE_MAP with no roles',
      { QUELL_OIDC_ROLE_MAP: '{"soc": []}' },
      /QUELL_OIDC_ROLE_MAP\.soc: needs at least one role/,
    ],
    [
      'QUELL_OIDC_CLOCK_TOLERANCE_S=301',
      { QUELL_OIDC_CLOCK_TOLERANCE_S: '301' },
      /QUELL_OIDC_CLOCK_TOLERANCE_S: /,
    ],
    [
      'QUELL_OIDC_CLOCK_TOLERANCE_S=-1',
      { QUELL_OIDC_CLOCK_TOLERANCE_S: '-1' },
      /QUELL_OIDC_CLOCK_TOLERANCE_S: /,
    ],
    [
      'QUELL_OIDC_CLOCK_TOLERANCE_S=soon',
      { QUELL_OIDC_CLOCK_TOLERANCE_S: 'soon' },
      /QUELL_OIDC_CLOCK_TOLERANCE_S: /,
    ],
    [
      'QUELL_OIDC_ISSUER=login.example.com',
      { QUELL_OIDC_ISSUER: 'login.example.com' },
      /QUELL_OIDC_ISSUER: must be an http\(s\) URL/,
    ],
    [
      'QUELL_OIDC_ISSUER=http://login.example.com',
      { QUELL_OIDC_ISSUER: 'http://login.example.com' },
      /QUELL_OIDC_ISSUER: must be https in production/,
    ],
    [
      'QUELL_OIDC_JWKS_URL=http://login.example.com/keys',
      { QUELL_OIDC_JWKS_URL: 'http://login.example.com/keys' },
      /QUELL_OIDC_JWKS_URL: must be https/,
    ],
  ])('refuses %s with a ConfigError naming the variable', (_label, change, message) => {
    const env: Record<string, string | undefined> = { ...base, ...change };
    expect(() => loadOidcSettings(env, { production: true })).toThrow(ConfigError);
    expect(() => loadOidcSettings(env, { production: true })).toThrow(message);
  });

  it('allows a plain-http issuer outside production or on loopback', () => {
    expect(
      loadOidcSettings({ ...base, QUELL_OIDC_ISSUER: 'http://idp.lab:8080' }, { production: false }),
    ).toMatchObject({ issuer: 'http://idp.lab:8080' });
    expect(
      loadOidcSettings({ ...base, QUELL_OIDC_ISSUER: 'http://127.0.0.1:8080' }, { production: true }),
    ).toMatchObject({ issuer: 'http://127.0.0.1:8080' });
  });

  it('refuses OIDC settings without an issuer', () => {
    expect(() => loadOidcSettings({ QUELL_OIDC_AUDIENCE: 'quell-api' }, { production: false })).toThrow(
      /QUELL_OIDC_AUDIENCE set without QUELL_OIDC_ISSUER/,
    );
  });

  it('lets production start with OIDC and no static tokens, and never logs secrets', () => {
    const auth = loadAuthConfig(base, { production: true });
    expect(auth.tokenCount).toBe(0);
    expect(auth.demoTokens).toBeUndefined();
    expect(auth.oidc?.settings.issuer).toBe(base.QUELL_OIDC_ISSUER);
    expect(JSON.parse(JSON.stringify(auth))).toMatchObject({
      tokens: 0,
      oidc: { issuer: base.QUELL_OIDC_ISSUER, audience: ['quell-api'], groups: ['soc-approvers'] },
    });
    expect(() => loadAuthConfig({}, { production: true })).toThrow(/or an OpenID Connect issuer/);
  });
});
