import { GraphIdentity } from '../../src/connectors/identity/graph';
import { LAB_CREDENTIALS, LAB_DOMAIN } from '../../src/connectors/lab';
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

function graph(lab: RunningLab = ctl.lab, opts: { timeoutMs?: number; clientSecret?: string } = {}) {
  const { tenantId, clientId, clientSecret } = LAB_CREDENTIALS.azure;
  return new GraphIdentity({
    baseUrl: `${lab.url}/graph`,
    tokenUrl: `${lab.url}/azuread/{tenant}/oauth2/v2.0/token`,
    tenantId,
    clientId,
    clientSecret: opts.clientSecret ?? clientSecret,
    allowList: labAllowList(lab),
    timeoutMs: opts.timeoutMs ?? 2_000,
  });
}

const upn = (login: string) => `${login}@${LAB_DOMAIN}`;

describe('Microsoft Graph connector against the lab', () => {
  it('disables an account once; a repeat is already in state; enable reverses it', async () => {
    const login = uniqueAccount();
    const idp = graph();
    const ctx = actionCtx();
    const first = await idp.disableAccount(upn(login), ctx);
    expect(first.alreadyInState).toBe(false);
    expect(first.vendorRef).toMatch(/^[0-9a-f-]{36}$/);
    expect(await idp.getAccountState(upn(login))).toBe('disabled');
    expect((await idp.disableAccount(upn(login), ctx)).alreadyInState).toBe(true);
    expect(ctl.lab.store.ledger({ target: login })).toEqual([
      expect.objectContaining({
        vendor: 'graph',
        effect: 'disable',
        vendorAction: 'accountEnabled=false',
        incidentId: ctx.incidentId,
      }),
    ]);
    expect((await idp.enableAccount(upn(login), actionCtx())).alreadyInState).toBe(false);
    expect((await idp.enableAccount(upn(login), actionCtx())).alreadyInState).toBe(true);
    expect(ctl.lab.store.ledger({ target: login }).map((e) => e.effect)).toEqual(['disable', 'enable']);
    expect(
      ctl.lab.store
        .calls({ vendor: 'graph', method: 'PATCH' })
        .filter((c) => c.url.includes(first.vendorRef!)),
    ).toHaveLength(2);
  });

  it('revokes sign-in sessions', async () => {
    const login = uniqueAccount();
    expect((await graph().revokeSessions(upn(login), actionCtx())).alreadyInState).toBe(false);
    expect(ctl.lab.store.ledger({ target: login, effect: 'revoke_sessions' })[0]!.call).toMatch(
      /^POST \/graph\/v1\.0\/users\/[0-9a-f-]{36}\/revokeSignInSessions$/,
    );
  });

  it('answers TargetNotFoundError for an unknown user', async () => {
    const lab = await startTestLab({ autoProvision: false });
    try {
      await expectConnectorError(
        graph(lab).disableAccount(upn('ghost'), actionCtx()),
        'not_found',
        ERROR_NAMES.not_found,
      );
    } finally {
      await lab.stop();
    }
  });

  it('maps wrong client credentials to ConnectorAuthError', async () => {
    await expectConnectorError(
      graph(ctl.lab, { clientSecret: 'x' }).getAccountState(upn('j.doe')),
      'auth',
      ERROR_NAMES.auth,
    );
  });

  it('refreshes an expired token once, and gives up on a persistent 401', async () => {
    const idp = graph();
    const login = uniqueAccount();
    await idp.getAccountState(upn(login));
    const issued = ctl.lab.store.tokensIssued().graph;
    ctl.lab.store.addFault({ match: { vendor: 'graph', method: 'PATCH' }, fault: 'auth_expired', times: 1 });
    expect((await idp.disableAccount(upn(login), actionCtx())).alreadyInState).toBe(false);
    expect(ctl.lab.store.tokensIssued().graph).toBe(issued + 1);
    ctl.lab.store.addFault({ match: { vendor: 'graph' }, fault: 'auth_expired' });
    await expectConnectorError(idp.getAccountState(upn(login)), 'auth', ERROR_NAMES.auth);
  });

  it('maps a 409 to ConflictError', async () => {
    ctl.lab.store.addFault({ match: { vendor: 'graph', method: 'PATCH' }, fault: 'in_progress', times: 1 });
    await expectConnectorError(
      graph().disableAccount(upn(uniqueAccount()), actionCtx()),
      'conflict',
      ERROR_NAMES.conflict,
    );
  });

  describe('error mapping', () => {
    faultMatrix(
      () => ctl.lab,
      'graph',
      (timeoutMs) => graph(ctl.lab, { timeoutMs }).disableAccount(upn(uniqueAccount()), actionCtx()),
      { pathPattern: '^/graph/v1\\.0/users/[^/]+$' },
    );
  });
});

describe('Microsoft Graph contract details', () => {
  it('selects id and accountEnabled, PATCHes by object id, and asks for the Graph scope', async () => {
    const server = await startContractServer((req, res) => {
      if (req.url.endsWith('/token')) return json(res, 200, { access_token: 'g', expires_in: 3599 });
      if (req.method === 'GET') return json(res, 200, { id: 'obj-1', accountEnabled: true });
      if (req.method === 'PATCH') return void res.writeHead(204).end();
      json(res, 404, {});
    });
    try {
      const idp = new GraphIdentity({
        baseUrl: server.url,
        tokenUrl: `${server.url}/{tenant}/token`,
        tenantId: 't1',
        clientId: 'c',
        clientSecret: 's',
        allowList: [server.url],
      });
      await idp.disableAccount('x.y@contoso.com', actionCtx());
      expect(new URLSearchParams(server.requests[0]!.body).get('scope')).toBe(
        'https://graph.microsoft.com/.default',
      );
      const get = new URL(server.requests[1]!.url, server.url);
      expect(get.pathname).toBe('/v1.0/users/x.y%40contoso.com');
      expect(get.searchParams.get('$select')).toBe('id,accountEnabled');
      expect(server.requests[2]).toMatchObject({ method: 'PATCH', url: '/v1.0/users/obj-1' });
      expect(JSON.parse(server.requests[2]!.body)).toEqual({ accountEnabled: false });
    } finally {
      await server.stop();
    }
  });
});
