import { CrowdStrikeEdr } from '../../src/connectors/edr/crowdstrike';
import { LAB_CREDENTIALS } from '../../src/connectors/lab';
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

function falcon(
  opts: { timeoutMs?: number; clientSecret?: string; now?: () => number; baseUrl?: string } = {},
) {
  const { lab } = ctl;
  return new CrowdStrikeEdr({
    baseUrl: opts.baseUrl ?? `${lab.url}/crowdstrike`,
    clientId: LAB_CREDENTIALS.crowdstrike.clientId,
    clientSecret: opts.clientSecret ?? LAB_CREDENTIALS.crowdstrike.clientSecret,
    allowList: labAllowList(lab),
    timeoutMs: opts.timeoutMs ?? 2_000,
    ...(opts.now ? { now: opts.now } : {}),
  });
}

describe('CrowdStrike connector against the lab', () => {
  it('contains a host, records the incident, and reports the state', async () => {
    const host = uniqueHost();
    const ctx = actionCtx();
    const edr = falcon();
    const result = await edr.isolateHost(host, ctx);
    expect(result.alreadyInState).toBe(false);
    expect(result.vendorRef).toMatch(/^[0-9a-f]{32}$/);
    expect(await edr.getHostState(host)).toBe('contained');
    const ledger = ctl.lab.store.ledger({ target: host });
    expect(ledger).toHaveLength(1);
    expect(ledger[0]).toMatchObject({
      vendor: 'crowdstrike',
      effect: 'contain',
      vendorAction: 'contain',
      incidentId: ctx.incidentId,
    });
    expect(ledger[0]!.call).toMatch(
      /^POST \/crowdstrike\/devices\/entities\/devices-actions\/v2\?action_name=contain$/,
    );
  });

  it('treats a repeated isolate as already in state: one effect, one action call', async () => {
    const host = uniqueHost();
    const edr = falcon();
    const ctx = actionCtx();
    const actionCalls = () =>
      ctl.lab.store.calls({ vendor: 'crowdstrike', method: 'POST', pathIncludes: 'devices-actions' }).length;
    const before = actionCalls();
    await edr.isolateHost(host, ctx);
    const again = await edr.isolateHost(host, ctx);
    expect(again).toEqual({ alreadyInState: true, vendorRef: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(ctl.lab.store.ledger({ target: host, effect: 'contain' })).toHaveLength(1);
    expect(actionCalls() - before).toBe(1);
    // Concurrent repeats for one host are serialized and still apply a single effect.
    const host2 = uniqueHost();
    const results = await Promise.all([1, 2, 3].map(() => edr.isolateHost(host2, ctx)));
    expect(results.filter((r) => !r.alreadyInState)).toHaveLength(1);
    expect(ctl.lab.store.ledger({ target: host2 })).toHaveLength(1);
  });

  it('lifts containment, and a repeated lift is already in state', async () => {
    const host = uniqueHost();
    const edr = falcon();
    await edr.isolateHost(host, actionCtx());
    expect((await edr.releaseHost(host, actionCtx())).alreadyInState).toBe(false);
    expect(await edr.getHostState(host)).toBe('normal');
    expect((await edr.releaseHost(host, actionCtx())).alreadyInState).toBe(true);
    expect(ctl.lab.store.ledger({ target: host }).map((e) => e.effect)).toEqual(['contain', 'release']);
    expect(ctl.lab.store.ledger({ target: host })[1]!.vendorAction).toBe('lift_containment');
  });

  it('treats containment_pending as already in state (asynchronous containment)', async () => {
    const lab = await startTestLab({ containmentDelayMs: 400 });
    try {
      const edr = new CrowdStrikeEdr({
        baseUrl: `${lab.url}/crowdstrike`,
        ...LAB_CREDENTIALS.crowdstrike,
        allowList: labAllowList(lab),
      });
      const host = uniqueHost();
      expect((await edr.isolateHost(host, actionCtx())).alreadyInState).toBe(false);
      expect(await edr.getHostState(host)).toBe('containment_pending');
      expect((await edr.isolateHost(host, actionCtx())).alreadyInState).toBe(true);
      await new Promise((r) => setTimeout(r, 450));
      expect(await edr.getHostState(host)).toBe('contained');
      expect(lab.store.ledger({ target: host })).toHaveLength(1);
    } finally {
      await lab.stop();
    }
  });

  it('answers TargetNotFoundError for an unknown host (no auto-provisioning)', async () => {
    const lab = await startTestLab({ autoProvision: false });
    try {
      const edr = new CrowdStrikeEdr({
        baseUrl: `${lab.url}/crowdstrike`,
        ...LAB_CREDENTIALS.crowdstrike,
        allowList: labAllowList(lab),
      });
      await expectConnectorError(
        edr.isolateHost('no-such-host', actionCtx()),
        'not_found',
        ERROR_NAMES.not_found,
      );
      // Seeded hosts are there.
      expect(await edr.getHostState('ws-fin-042')).toBe('normal');
    } finally {
      await lab.stop();
    }
  });

  it('refuses host names that could break out of the FQL quotes, before any call', async () => {
    const before = ctl.lab.store.calls({ vendor: 'crowdstrike' }).length;
    await expectConnectorError(falcon().isolateHost("x' OR hostname:'*", actionCtx()), 'permanent');
    expect(ctl.lab.store.calls({ vendor: 'crowdstrike' }).length).toBe(before);
  });

  it('maps wrong client credentials to ConnectorAuthError', async () => {
    await expectConnectorError(
      falcon({ clientSecret: 'wrong' }).getHostState(uniqueHost()),
      'auth',
      ERROR_NAMES.auth,
    );
  });

  it('refreshes an expired token once and succeeds (auth_expired fault)', async () => {
    const edr = falcon();
    const host = uniqueHost();
    await edr.getHostState(host);
    const issued = ctl.lab.store.tokensIssued().crowdstrike;
    ctl.lab.store.addFault({
      match: { vendor: 'crowdstrike', pathPattern: 'devices-actions' },
      fault: 'auth_expired',
      times: 1,
    });
    expect((await edr.isolateHost(host, actionCtx())).alreadyInState).toBe(false);
    expect(ctl.lab.store.tokensIssued().crowdstrike).toBe(issued + 1);
    expect(ctl.lab.store.ledger({ target: host })).toHaveLength(1);
  });

  it('gives up with ConnectorAuthError when the token is refused again after a refresh', async () => {
    const edr = falcon();
    ctl.lab.store.addFault({
      match: { vendor: 'crowdstrike', pathPattern: '/devices/' },
      fault: 'auth_expired',
    });
    const err = await expectConnectorError(edr.getHostState(uniqueHost()), 'auth', ERROR_NAMES.auth);
    expect(err.message).toMatch(/after a token refresh/);
  });

  it('refreshes the token before it expires', async () => {
    let now = Date.now();
    const edr = falcon({ now: () => now });
    const unauthorized = () =>
      ctl.lab.store.calls({ vendor: 'crowdstrike' }).filter((c) => c.status === 401).length;
    const refused = unauthorized();
    await edr.getHostState(uniqueHost());
    const issued = ctl.lab.store.tokensIssued().crowdstrike;
    await edr.getHostState(uniqueHost());
    expect(ctl.lab.store.tokensIssued().crowdstrike).toBe(issued);
    now += (1800 - 30) * 1000; // within the refresh margin of the lab's 1800 s tokens
    await edr.getHostState(uniqueHost());
    expect(ctl.lab.store.tokensIssued().crowdstrike).toBe(issued + 1);
    expect(unauthorized()).toBe(refused);
  });

  it('maps a 409 that does not lead to the desired state to ConflictError', async () => {
    ctl.lab.store.addFault({
      match: { vendor: 'crowdstrike', pathPattern: 'devices-actions' },
      fault: 'in_progress',
      times: 1,
    });
    await expectConnectorError(
      falcon().isolateHost(uniqueHost(), actionCtx()),
      'conflict',
      ERROR_NAMES.conflict,
    );
  });

  describe('error mapping', () => {
    faultMatrix(
      () => ctl.lab,
      'crowdstrike',
      (timeoutMs) => falcon({ timeoutMs }).isolateHost(uniqueHost(), actionCtx()),
      { pathPattern: 'devices-actions' },
    );
  });
});

describe('CrowdStrike connector against a contract server', () => {
  it('refuses to guess when a hostname matches several devices', async () => {
    const server = await startContractServer((req, res) => {
      if (req.url.startsWith('/oauth2/token')) return json(res, 201, { access_token: 't', expires_in: 1799 });
      if (req.url.startsWith('/devices/queries'))
        return json(res, 200, { resources: ['a'.repeat(32), 'b'.repeat(32)], errors: [] });
      json(res, 500, {});
    });
    try {
      const edr = new CrowdStrikeEdr({
        baseUrl: server.url,
        clientId: 'id',
        clientSecret: 's',
        allowList: [server.url],
      });
      const err = await expectConnectorError(edr.isolateHost('dup-host', actionCtx()), 'conflict');
      expect(err.message).toMatch(/2 devices/);
      // The token request is form-encoded client credentials.
      const tokenReq = server.requests.find((r) => r.url === '/oauth2/token')!;
      expect(tokenReq.headers['content-type']).toBe('application/x-www-form-urlencoded');
      expect(new URLSearchParams(tokenReq.body).get('client_id')).toBe('id');
      const query = new URL(
        server.requests.find((r) => r.url.startsWith('/devices/queries'))!.url,
        server.url,
      );
      expect(query.searchParams.get('filter')).toBe("hostname:'dup-host'");
    } finally {
      await server.stop();
    }
  });

  it('does not leave the allow-list: a base URL that is not on it is refused without a request', async () => {
    const server = await startContractServer((_req, res) => json(res, 200, {}));
    try {
      const edr = new CrowdStrikeEdr({
        baseUrl: server.url,
        clientId: 'id',
        clientSecret: 's',
        allowList: ['api.crowdstrike.com'],
      });
      const err = await expectConnectorError(edr.getHostState('ws-1'), 'permanent');
      expect(err.message).toMatch(/not on the outbound allow-list/);
      expect(server.requests).toHaveLength(0);
    } finally {
      await server.stop();
    }
  });
});
