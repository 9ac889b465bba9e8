import type { AddressInfo } from 'node:net';
import express from 'express';
import { OktaIdentity } from '../../src/connectors/identity/okta';
import { LAB_CREDENTIALS, LabStore, createLabRouter } from '../../src/connectors/lab';
import type { RunningLab } from '../../src/connectors/lab';
import {
  ERROR_NAMES,
  actionCtx,
  expectConnectorError,
  faultMatrix,
  json,
  labAllowList,
  startContractServer,
  startTestLab,
  uniqueAccount,
  useLab,
} from './support';

const ctl = useLab();

function okta(lab: RunningLab = ctl.lab, opts: { timeoutMs?: number; apiToken?: string } = {}) {
  return new OktaIdentity({
    baseUrl: `${lab.url}/okta`,
    apiToken: opts.apiToken ?? LAB_CREDENTIALS.okta.apiToken,
    allowList: labAllowList(lab),
    timeoutMs: opts.timeoutMs ?? 2_000,
  });
}

describe('Okta connector against the lab', () => {
  it('suspends an ACTIVE user once; a repeat is already in state', async () => {
    const login = uniqueAccount();
    const idp = okta();
    const ctx = actionCtx();
    expect(await idp.getAccountState(login)).toBe('active');
    const first = await idp.disableAccount(login, ctx);
    expect(first.alreadyInState).toBe(false);
    expect(first.vendorRef).toMatch(/^00u/);
    expect(await idp.getAccountState(login)).toBe('disabled');
    expect((await idp.disableAccount(login, ctx)).alreadyInState).toBe(true);
    const ledger = ctl.lab.store.ledger({ target: login });
    expect(ledger).toHaveLength(1);
    expect(ledger[0]).toMatchObject({
      vendor: 'okta',
      effect: 'disable',
      vendorAction: 'suspend',
      incidentId: ctx.incidentId,
    });
    // Okta's lifecycle call is non-idempotent: the repeat never reached it.
    expect(
      ctl.lab.store.calls({ vendor: 'okta', pathIncludes: `${first.vendorRef!}/lifecycle/suspend` }),
    ).toHaveLength(1);
  });

  it('unsuspends, and a repeat is already in state', async () => {
    const login = uniqueAccount();
    const idp = okta();
    await idp.disableAccount(login, actionCtx());
    expect((await idp.enableAccount(login, actionCtx())).alreadyInState).toBe(false);
    expect((await idp.enableAccount(login, actionCtx())).alreadyInState).toBe(true);
    expect(ctl.lab.store.ledger({ target: login }).map((e) => e.vendorAction)).toEqual([
      'suspend',
      'unsuspend',
    ]);
  });

  it('revokes sessions with oauthTokens=true', async () => {
    const login = uniqueAccount();
    const res = await okta().revokeSessions(login, actionCtx());
    expect(res.alreadyInState).toBe(false);
    const [entry] = ctl.lab.store.ledger({ target: login, effect: 'revoke_sessions' });
    expect(entry!.call).toMatch(/^DELETE \/okta\/api\/v1\/users\/00u[0-9a-f]+\/sessions\?oauthTokens=true$/);
  });

  it('finds seeded users by login short name', async () => {
    expect(await okta().getAccountState('svc-backup')).toBe('active');
  });

  it('refuses to suspend a user Okta cannot suspend (ConflictError), and to unsuspend a deprovisioned one', async () => {
    const locked = uniqueAccount();
    ctl.lab.store.setAccountStatus(locked, 'LOCKED_OUT');
    const err = await expectConnectorError(
      okta().disableAccount(locked, actionCtx()),
      'conflict',
      ERROR_NAMES.conflict,
    );
    expect(err.message).toMatch(/LOCKED_OUT/);
    const gone = uniqueAccount();
    ctl.lab.store.setAccountStatus(gone, 'DEPROVISIONED');
    expect((await okta().disableAccount(gone, actionCtx())).alreadyInState).toBe(true);
    await expectConnectorError(okta().enableAccount(gone, actionCtx()), 'conflict');
    expect(ctl.lab.store.ledger({ target: locked })).toHaveLength(0);
  });

  it('answers TargetNotFoundError for an unknown user', async () => {
    const lab = await startTestLab({ autoProvision: false });
    try {
      await expectConnectorError(
        okta(lab).disableAccount('nobody.here', actionCtx()),
        'not_found',
        ERROR_NAMES.not_found,
      );
    } finally {
      await lab.stop();
    }
  });

  it('maps a wrong API token to ConnectorAuthError, and an expired one too (no refresh for SSWS)', async () => {
    await expectConnectorError(
      okta(ctl.lab, { apiToken: 'bad' }).getAccountState('j.doe'),
      'auth',
      ERROR_NAMES.auth,
    );
    ctl.lab.store.addFault({ match: { vendor: 'okta' }, fault: 'auth_expired', times: 1 });
    await expectConnectorError(okta().getAccountState('j.doe'), 'auth', ERROR_NAMES.auth);
    expect(await okta().getAccountState('j.doe')).toBe('active');
  });

  it('sends SSWS authorization and the documented lifecycle requests', async () => {
    const server = await startContractServer((req, res) => {
      if (req.method === 'GET')
        return json(res, 200, { id: '00uABC', status: 'ACTIVE', profile: { login: 'x@y' } });
      if (req.method === 'POST') return json(res, 200, {});
      res.writeHead(204).end();
    });
    try {
      const idp = new OktaIdentity({ baseUrl: server.url, apiToken: 'tok-123', allowList: [server.url] });
      await idp.disableAccount('x@y', actionCtx('INC-9'));
      await idp.revokeSessions('x@y', actionCtx('INC-9'));
      expect(server.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
        'GET /api/v1/users/x%40y',
        'POST /api/v1/users/00uABC/lifecycle/suspend',
        'GET /api/v1/users/x%40y',
        'DELETE /api/v1/users/00uABC/sessions?oauthTokens=true',
      ]);
      expect(server.requests.every((r) => r.headers.authorization === 'SSWS tok-123')).toBe(true);
      expect(server.requests[1]!.headers['x-quell-incident']).toBe('INC-9');
    } finally {
      await server.stop();
    }
  });

  it('maps a 409 (lab in_progress) on the lifecycle call to ConflictError', async () => {
    ctl.lab.store.addFault({
      match: { vendor: 'okta', pathPattern: '/lifecycle/' },
      fault: 'in_progress',
      times: 1,
    });
    await expectConnectorError(okta().disableAccount(uniqueAccount(), actionCtx()), 'conflict');
  });

  describe('error mapping', () => {
    faultMatrix(
      () => ctl.lab,
      'okta',
      (timeoutMs) => okta(ctl.lab, { timeoutMs }).disableAccount(uniqueAccount(), actionCtx()),
      // Okta answers X-Rate-Limit-Reset (epoch seconds), so the delay is known to the second.
      { pathPattern: '/api/v1/users/[^/]+$', retryAfterToleranceMs: 1_000 },
    );
  });
});

describe('Okta connector when the user changes under it', () => {
  it('re-reads after a lifecycle 400: suspended by someone else in between is success', async () => {
    const store = new LabStore();
    const app = express();
    // A concurrent admin suspends the user just before our suspend lands; the lab then answers Okta's 400.
    app.use((req, _res, next) => {
      const m = /^\/okta\/api\/v1\/users\/([^/]+)\/lifecycle\/suspend$/.exec(req.path);
      if (m && req.method === 'POST') store.setAccountStatus(store.findAccount(m[1]!)!.login, 'SUSPENDED');
      next();
    });
    app.use(createLabRouter(store));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const idp = new OktaIdentity({
        baseUrl: `${url}/okta`,
        apiToken: LAB_CREDENTIALS.okta.apiToken,
        allowList: [url],
      });
      const res = await idp.disableAccount('a.smith', actionCtx());
      expect(res.alreadyInState).toBe(true);
      expect(store.calls({ vendor: 'okta', pathIncludes: '/lifecycle/suspend' })[0]!.status).toBe(400);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
