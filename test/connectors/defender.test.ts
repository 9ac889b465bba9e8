import { DefenderEdr, stateFromActions } from '../../src/connectors/edr/defender';
import { LAB_CREDENTIALS } from '../../src/connectors/lab';
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
  uniqueHost,
  useLab,
} from './support';

const ctl = useLab();

function mde(
  lab: RunningLab = ctl.lab,
  opts: { timeoutMs?: number; clientSecret?: string; now?: () => number } = {},
) {
  const { tenantId, clientId, clientSecret } = LAB_CREDENTIALS.azure;
  return new DefenderEdr({
    baseUrl: `${lab.url}/defender`,
    tokenUrl: `${lab.url}/azuread/{tenant}/oauth2/v2.0/token`,
    tenantId,
    clientId,
    clientSecret: opts.clientSecret ?? clientSecret,
    allowList: labAllowList(lab),
    timeoutMs: opts.timeoutMs ?? 2_000,
    ...(opts.now ? { now: opts.now } : {}),
  });
}

describe('Defender for Endpoint connector against the lab', () => {
  it('isolates a machine with a comment naming the incident', async () => {
    const host = uniqueHost();
    const ctx = actionCtx(undefined, 'ransomware beacon');
    const edr = mde();
    const res = await edr.isolateHost(host, ctx);
    expect(res.alreadyInState).toBe(false);
    expect(res.vendorRef).toMatch(/^[0-9a-f-]{36}$/);
    expect(await edr.getHostState(host)).toBe('contained');
    const [entry, ...rest] = ctl.lab.store.ledger({ target: host });
    expect(rest).toHaveLength(0);
    expect(entry).toMatchObject({
      vendor: 'defender',
      effect: 'contain',
      vendorAction: 'isolate',
      vendorRef: res.vendorRef,
    });
    expect(entry!.comment).toBe(`Quell incident ${ctx.incidentId}: ransomware beacon`);
    const action = ctl.lab.store.machineActions().find((a) => a.id === res.vendorRef)!;
    expect(action).toMatchObject({ type: 'Isolate', scope: 'Full' });
  });

  it('treats a repeated isolate as already in state (one effect), and releases', async () => {
    const host = uniqueHost();
    const edr = mde();
    await edr.isolateHost(host, actionCtx());
    expect((await edr.isolateHost(host, actionCtx())).alreadyInState).toBe(true);
    expect(ctl.lab.store.ledger({ target: host })).toHaveLength(1);
    expect((await edr.releaseHost(host, actionCtx())).alreadyInState).toBe(false);
    expect(await edr.getHostState(host)).toBe('normal');
    expect((await edr.releaseHost(host, actionCtx())).alreadyInState).toBe(true);
    expect(ctl.lab.store.ledger({ target: host }).map((e) => e.vendorAction)).toEqual([
      'isolate',
      'unisolate',
    ]);
  });

  it('treats 400 "Action is already in progress" as already in state', async () => {
    ctl.lab.store.addFault({
      match: { vendor: 'defender', pathPattern: '/isolate$', method: 'POST' },
      fault: 'in_progress',
      times: 1,
    });
    const res = await mde().isolateHost(uniqueHost(), actionCtx());
    expect(res.alreadyInState).toBe(true);
  });

  it('follows asynchronous actions: pending is in state, the opposite action waits (transient)', async () => {
    const lab = await startTestLab({ containmentDelayMs: 400 });
    try {
      const edr = mde(lab);
      const host = uniqueHost();
      await edr.isolateHost(host, actionCtx());
      expect(await edr.getHostState(host)).toBe('containment_pending');
      expect((await edr.isolateHost(host, actionCtx())).alreadyInState).toBe(true);
      await expectConnectorError(edr.releaseHost(host, actionCtx()), 'transient');
      await new Promise((r) => setTimeout(r, 450));
      expect(await edr.getHostState(host)).toBe('contained');
      expect((await edr.releaseHost(host, actionCtx())).alreadyInState).toBe(false);
      expect(await edr.getHostState(host)).toBe('lift_containment_pending');
      expect(lab.store.ledger({ target: host }).map((e) => e.effect)).toEqual(['contain', 'release']);
    } finally {
      await lab.stop();
    }
  });

  it('finds machines reported by FQDN, and answers not found for unknown names', async () => {
    const lab = await startTestLab({ autoProvision: false });
    try {
      lab.store.addHost('ws-fqdn-01.corp.lab');
      const edr = mde(lab);
      expect((await edr.isolateHost('ws-fqdn-01', actionCtx())).alreadyInState).toBe(false);
      expect(lab.store.ledger({ target: 'ws-fqdn-01.corp.lab' })).toHaveLength(1);
      await expectConnectorError(
        edr.isolateHost('ws-missing', actionCtx()),
        'not_found',
        ERROR_NAMES.not_found,
      );
    } finally {
      await lab.stop();
    }
  });

  it('maps wrong client credentials to ConnectorAuthError', async () => {
    await expectConnectorError(
      mde(ctl.lab, { clientSecret: 'nope' }).getHostState(uniqueHost()),
      'auth',
      ERROR_NAMES.auth,
    );
  });

  it('refreshes an expired token once (auth_expired) and gives up on a persistent 401', async () => {
    const edr = mde();
    const host = uniqueHost();
    await edr.getHostState(host);
    const issued = ctl.lab.store.tokensIssued().defender;
    ctl.lab.store.addFault({
      match: { vendor: 'defender', pathPattern: '/isolate$' },
      fault: 'auth_expired',
      times: 1,
    });
    expect((await edr.isolateHost(host, actionCtx())).alreadyInState).toBe(false);
    expect(ctl.lab.store.tokensIssued().defender).toBe(issued + 1);
    ctl.lab.store.addFault({ match: { vendor: 'defender' }, fault: 'auth_expired' });
    await expectConnectorError(edr.getHostState(host), 'auth', ERROR_NAMES.auth);
  });

  it('refreshes the token before it expires', async () => {
    let now = Date.now();
    const edr = mde(ctl.lab, { now: () => now });
    await edr.getHostState(uniqueHost());
    const issued = ctl.lab.store.tokensIssued().defender;
    now += 1790 * 1000;
    await edr.getHostState(uniqueHost());
    expect(ctl.lab.store.tokensIssued().defender).toBe(issued + 1);
  });

  describe('error mapping', () => {
    faultMatrix(
      () => ctl.lab,
      'defender',
      (timeoutMs) => mde(ctl.lab, { timeoutMs }).isolateHost(uniqueHost(), actionCtx()),
      { pathPattern: '/isolate$' },
    );
  });
});

describe('Defender contract details', () => {
  it('derives the state from the latest live Isolate/Unisolate action by creation time', () => {
    const a = (type: string, status: string, created: number) => ({
      id: `${created}`,
      type,
      status,
      created,
    });
    expect(stateFromActions([])).toBe('normal');
    expect(stateFromActions([a('Isolate', 'Succeeded', 1)])).toBe('contained');
    expect(stateFromActions([a('Isolate', 'Pending', 1)])).toBe('containment_pending');
    expect(stateFromActions([a('Isolate', 'InProgress', 1)])).toBe('containment_pending');
    expect(stateFromActions([a('Isolate', 'Succeeded', 1), a('Unisolate', 'Pending', 2)])).toBe(
      'lift_containment_pending',
    );
    // Completed out of order: the later request still decides.
    expect(stateFromActions([a('Unisolate', 'Succeeded', 2), a('Isolate', 'Succeeded', 3)])).toBe(
      'contained',
    );
    // Failed and cancelled actions changed nothing; other action types are ignored.
    expect(
      stateFromActions([
        a('Isolate', 'Succeeded', 1),
        a('Unisolate', 'Failed', 2),
        a('RunAntiVirusScan', 'Pending', 3),
      ]),
    ).toBe('contained');
    expect(stateFromActions([a('Isolate', 'Cancelled', 5)])).toBe('normal');
  });

  it('maps a token endpoint refusal (400 unauthorized_client) to ConnectorAuthError', async () => {
    const server = await startContractServer((_req, res) =>
      json(res, 400, {
        error: 'unauthorized_client',
        error_description: 'AADSTS700016: Application not found',
      }),
    );
    try {
      const edr = new DefenderEdr({
        baseUrl: server.url,
        tokenUrl: `${server.url}/{tenant}/oauth2/v2.0/token`,
        tenantId: 't',
        clientId: 'app',
        clientSecret: 'SUPERSECRET',
        allowList: [server.url],
      });
      const err = await expectConnectorError(edr.getHostState('ws-1'), 'auth', ERROR_NAMES.auth);
      expect(err.message).toMatch(/unauthorized_client/);
      expect(err.message).not.toContain('SUPERSECRET');
    } finally {
      await server.stop();
    }
  });

  it('sends the documented requests and honours an HTTP-date Retry-After', async () => {
    const retryAt = new Date(Date.now() + 30_000).toUTCString();
    const server = await startContractServer((req, res) => {
      if (req.url.endsWith('/oauth2/v2.0/token'))
        return json(res, 200, { access_token: 'tok', expires_in: 3599 });
      if (req.url.startsWith('/api/machines?'))
        return json(res, 200, { value: [{ id: 'm1', computerDnsName: 'ws-9' }] });
      if (req.url.startsWith('/api/machineactions')) return json(res, 200, { value: [] });
      if (req.url === '/api/machines/m1/isolate')
        return json(res, 429, { error: { code: 'TooManyRequests' } }, { 'retry-after': retryAt });
      json(res, 404, {});
    });
    try {
      const edr = new DefenderEdr({
        baseUrl: server.url,
        tokenUrl: `${server.url}/{tenant}/oauth2/v2.0/token`,
        tenantId: 'contoso',
        clientId: 'app',
        clientSecret: 'secret',
        allowList: [server.url],
      });
      const err = await expectConnectorError(
        edr.isolateHost('ws-9', actionCtx('INC-7', 'why')),
        'rate_limited',
      );
      expect(err.details.retryAfterMs).toBeGreaterThan(25_000);
      expect(err.details.retryAfterMs).toBeLessThanOrEqual(30_000);
      const token = server.requests[0]!;
      expect(token.url).toBe('/contoso/oauth2/v2.0/token');
      const form = new URLSearchParams(token.body);
      expect(form.get('grant_type')).toBe('client_credentials');
      expect(form.get('scope')).toBe('https://api.securitycenter.microsoft.com/.default');
      const lookup = new URL(server.requests[1]!.url, server.url);
      expect(lookup.searchParams.get('$filter')).toBe("computerDnsName eq 'ws-9'");
      expect(server.requests[1]!.url).not.toContain('+');
      const actions = new URL(server.requests[2]!.url, server.url);
      expect(actions.searchParams.get('$filter')).toBe("machineId eq 'm1'");
      const isolate = server.requests[3]!;
      expect(isolate.headers.authorization).toBe('Bearer tok');
      expect(JSON.parse(isolate.body)).toEqual({
        Comment: 'Quell incident INC-7: why',
        IsolationType: 'Full',
      });
    } finally {
      await server.stop();
    }
  });
});
