import type { AddressInfo } from 'node:net';
import express from 'express';
import { CloudflareFirewall } from '../../src/connectors/firewall/cloudflare';
import { LAB_CREDENTIALS, LabStore, createLabRouter } from '../../src/connectors/lab';
import {
  ERROR_NAMES,
  actionCtx,
  expectConnectorError,
  faultMatrix,
  json,
  labAllowList,
  startContractServer,
  useLab,
} from './support';

const ctl = useLab();
let octet = 0;
/** A fresh TEST-NET-3 address per test. */
function freshIp(): string {
  octet += 1;
  return `203.0.113.${octet}`;
}

function cf(opts: { timeoutMs?: number; apiToken?: string; accountScope?: boolean } = {}) {
  return new CloudflareFirewall({
    baseUrl: `${ctl.lab.url}/cloudflare`,
    apiToken: opts.apiToken ?? LAB_CREDENTIALS.cloudflare.apiToken,
    ...(opts.accountScope ? { accountId: 'acct-1' } : { zoneId: LAB_CREDENTIALS.cloudflare.zoneId }),
    allowList: labAllowList(ctl.lab),
    timeoutMs: opts.timeoutMs ?? 2_000,
  });
}

describe('Cloudflare IP Access Rules connector against the lab', () => {
  it('blocks an IP with notes naming the incident; a repeat is already in state', async () => {
    const ip = freshIp();
    const ctx = actionCtx(undefined, 'C2 beacon');
    const fw = cf();
    const first = await fw.blockIp(ip, ctx);
    expect(first.alreadyInState).toBe(false);
    expect(first.vendorRef).toMatch(/^[0-9a-f]{32}$/);
    expect(await fw.getIpState(ip)).toBe('blocked');
    const again = await fw.blockIp(ip, ctx);
    expect(again).toEqual({ alreadyInState: true, vendorRef: first.vendorRef });
    const ledger = ctl.lab.store.ledger({ target: ip });
    expect(ledger).toHaveLength(1);
    expect(ledger[0]).toMatchObject({
      vendor: 'cloudflare',
      effect: 'block',
      comment: `Quell ${ctx.incidentId} C2 beacon`,
    });
    const rule = ctl.lab.store.accessRules().find((r) => r.id === first.vendorRef)!;
    expect(rule).toMatchObject({
      mode: 'block',
      configuration: { target: 'ip', value: ip },
      scope: { type: 'zone', id: 'lab-zone' },
    });
  });

  it('unblocks by finding the rule by value and deleting it; a repeat is already in state', async () => {
    const ip = freshIp();
    const fw = cf();
    await fw.blockIp(ip, actionCtx());
    expect((await fw.unblockIp(ip, actionCtx())).alreadyInState).toBe(false);
    expect(await fw.getIpState(ip)).toBe('allowed');
    expect((await fw.unblockIp(ip, actionCtx())).alreadyInState).toBe(true);
    expect(ctl.lab.store.ledger({ target: ip }).map((e) => e.effect)).toEqual(['block', 'unblock']);
  });

  it('uses ip_range for CIDR ranges and ip6 for IPv6, normalizing values', async () => {
    const fw = cf();
    const range = await fw.blockIp('198.51.100.77/24', actionCtx());
    expect(ctl.lab.store.accessRules().find((r) => r.id === range.vendorRef)!.configuration).toEqual({
      target: 'ip_range',
      value: '198.51.100.0/24',
    });
    const v6 = await fw.blockIp('2001:DB8:0:0:0:0:0:42', actionCtx());
    expect(ctl.lab.store.accessRules().find((r) => r.id === v6.vendorRef)!.configuration).toEqual({
      target: 'ip6',
      value: '2001:db8::42',
    });
    expect((await fw.blockIp('2001:db8::42', actionCtx())).alreadyInState).toBe(true);
    // Cloudflare only takes /16 and /24 IPv4 ranges: its 400 is permanent.
    await expectConnectorError(fw.blockIp('10.20.0.0/20', actionCtx()), 'permanent', ERROR_NAMES.permanent);
  });

  it('treats the duplicate-configuration answer as already blocked', async () => {
    const store = new LabStore();
    const app = express();
    // Another actor creates the same rule between our look-up and our POST: the lab answers its duplicate error.
    app.use(express.json());
    app.use((req, _res, next) => {
      if (req.method === 'POST' && req.path.endsWith('/access_rules/rules')) {
        const value = (req.body as { configuration: { value: string } }).configuration.value;
        store.addAccessRule(
          {
            scope: { type: 'zone', id: 'z' },
            mode: 'block',
            configuration: { target: 'ip', value },
            notes: 'Quell other worker',
          },
          { call: 'test' },
        );
      }
      next();
    });
    app.use(createLabRouter(store));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const fw = new CloudflareFirewall({
        baseUrl: `${url}/cloudflare`,
        apiToken: LAB_CREDENTIALS.cloudflare.apiToken,
        zoneId: 'z',
        allowList: [url],
      });
      const res = await fw.blockIp('192.0.2.10', actionCtx());
      expect(res.alreadyInState).toBe(true);
      expect(store.calls({ vendor: 'cloudflare', method: 'POST' })[0]!.status).toBe(400);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('maps the duplicate answer without a block rule behind it to ConflictError', async () => {
    ctl.lab.store.addFault({
      match: { vendor: 'cloudflare', method: 'POST' },
      fault: 'in_progress',
      times: 1,
    });
    await expectConnectorError(cf().blockIp(freshIp(), actionCtx()), 'conflict', ERROR_NAMES.conflict);
  });

  it('does not turn an allow rule into a block, nor remove blocks Quell did not create', async () => {
    const allowed = freshIp();
    ctl.lab.store.addAccessRule(
      {
        scope: { type: 'zone', id: 'lab-zone' },
        mode: 'whitelist',
        configuration: { target: 'ip', value: allowed },
        notes: 'office',
      },
      { call: 'test' },
    );
    await expectConnectorError(cf().blockIp(allowed, actionCtx()), 'conflict');
    const manual = freshIp();
    ctl.lab.store.addAccessRule(
      {
        scope: { type: 'zone', id: 'lab-zone' },
        mode: 'block',
        configuration: { target: 'ip', value: manual },
        notes: 'blocked by hand',
      },
      { call: 'test' },
    );
    await expectConnectorError(cf().unblockIp(manual, actionCtx()), 'conflict');
    expect(await cf().getIpState(manual)).toBe('blocked');
  });

  it('works with account-level rules', async () => {
    const ip = freshIp();
    const fw = cf({ accountScope: true });
    await fw.blockIp(ip, actionCtx());
    expect(await fw.getIpState(ip)).toBe('blocked');
    expect(await cf().getIpState(ip)).toBe('allowed'); // the zone's rules are separate
    expect(
      ctl.lab.store.accessRules({ type: 'account', id: 'acct-1' }).map((r) => r.configuration.value),
    ).toContain(ip);
  });

  it('without a Gateway account, refuses domains and invalid addresses with PermanentConnectorError, without a call', async () => {
    const before = ctl.lab.store.calls({ vendor: 'cloudflare' }).length;
    const fw = cf();
    await expectConnectorError(
      fw.blockDomain('evil.example', actionCtx()),
      'permanent',
      ERROR_NAMES.permanent,
    );
    await expectConnectorError(fw.unblockDomain('evil.example', actionCtx()), 'permanent');
    await expectConnectorError(fw.getDomainState('evil.example'), 'permanent');
    await expectConnectorError(fw.blockIp('999.1.1.1', actionCtx()), 'permanent');
    await expectConnectorError(fw.blockIp('10.0.0.1/33', actionCtx()), 'permanent');
    expect(ctl.lab.store.calls({ vendor: 'cloudflare' }).length).toBe(before);
  });

  it('blocks domains with a Gateway DNS policy when a Gateway account is configured', async () => {
    const fw = new CloudflareFirewall({
      baseUrl: `${ctl.lab.url}/cloudflare`,
      apiToken: LAB_CREDENTIALS.cloudflare.apiToken,
      zoneId: LAB_CREDENTIALS.cloudflare.zoneId,
      gatewayAccountId: 'gw-acct',
      allowList: labAllowList(ctl.lab),
    });
    const ctx = actionCtx(undefined, 'C2 domain');
    expect(await fw.getDomainState('Bad-C2.example.')).toBe('allowed');
    const first = await fw.blockDomain('Bad-C2.example.', ctx);
    expect(first.alreadyInState).toBe(false);
    expect((await fw.blockDomain('bad-c2.example', ctx)).alreadyInState).toBe(true);
    expect(await fw.getDomainState('bad-c2.example')).toBe('blocked');
    const [rule, ...others] = ctl.lab.store.gatewayRules('gw-acct');
    expect(others).toHaveLength(0);
    expect(rule).toMatchObject({
      id: first.vendorRef,
      name: 'Quell block bad-c2.example',
      action: 'block',
      enabled: true,
      filters: ['dns'],
      traffic: 'any(dns.domains[*] == "bad-c2.example")',
      description: `Quell ${ctx.incidentId} C2 domain`,
    });
    expect(ctl.lab.store.ledger({ target: 'bad-c2.example' })).toEqual([
      expect.objectContaining({
        effect: 'block',
        vendorAction: 'create Gateway DNS rule',
        incidentId: ctx.incidentId,
      }),
    ]);
    expect((await fw.unblockDomain('bad-c2.example', actionCtx())).alreadyInState).toBe(false);
    expect(await fw.getDomainState('bad-c2.example')).toBe('allowed');
    expect((await fw.unblockDomain('bad-c2.example', actionCtx())).alreadyInState).toBe(true);
    expect(ctl.lab.store.ledger({ target: 'bad-c2.example' }).map((e) => e.effect)).toEqual([
      'block',
      'unblock',
    ]);
    // Domains cannot smuggle anything into the traffic expression.
    const before = ctl.lab.store.calls({ vendor: 'cloudflare' }).length;
    await expectConnectorError(
      fw.blockDomain('x.example") or any(dns.domains[*] == "y', actionCtx()),
      'permanent',
    );
    await expectConnectorError(fw.blockDomain('-bad-.example', actionCtx()), 'permanent');
    expect(ctl.lab.store.calls({ vendor: 'cloudflare' }).length).toBe(before);
    // Gateway errors map like the rest.
    ctl.lab.store.addFault({
      match: { vendor: 'cloudflare', pathPattern: '/gateway/rules' },
      fault: '429',
      retryAfterSeconds: 3,
      times: 1,
    });
    const rl = await expectConnectorError(fw.blockDomain('other.example', actionCtx()), 'rate_limited');
    expect(rl.details.retryAfterMs).toBe(3_000);
  });

  it('maps a bad token to ConnectorAuthError, and an expired one too', async () => {
    await expectConnectorError(cf({ apiToken: 'nope' }).getIpState(freshIp()), 'auth', ERROR_NAMES.auth);
    ctl.lab.store.addFault({ match: { vendor: 'cloudflare' }, fault: 'auth_expired', times: 1 });
    await expectConnectorError(cf().getIpState(freshIp()), 'auth', ERROR_NAMES.auth);
  });

  it('treats a rule already gone at DELETE (404) as removed', async () => {
    const ip = freshIp();
    await cf().blockIp(ip, actionCtx());
    ctl.lab.store.addFault({ match: { vendor: 'cloudflare', method: 'DELETE' }, fault: '4xx', times: 1 });
    await expectConnectorError(cf().unblockIp(ip, actionCtx()), 'permanent');
    const rule = ctl.lab.store.accessRules().find((r) => r.configuration.value === ip)!;
    const server = await startContractServer((req, res) => {
      if (req.method === 'GET') {
        return json(res, 200, {
          success: true,
          errors: [],
          result: [
            { id: rule.id, mode: 'block', notes: 'Quell x', configuration: { target: 'ip', value: ip } },
          ],
          result_info: { page: 1, total_pages: 1 },
        });
      }
      json(res, 404, { success: false, errors: [{ code: 7003, message: 'Could not route' }] });
    });
    try {
      const fw = new CloudflareFirewall({
        baseUrl: server.url,
        apiToken: 't',
        zoneId: 'z',
        allowList: [server.url],
      });
      expect((await fw.unblockIp(ip, actionCtx())).alreadyInState).toBe(false);
      const list = new URL(server.requests[0]!.url, server.url);
      expect(list.pathname).toBe('/client/v4/zones/z/firewall/access_rules/rules');
      expect(list.searchParams.get('configuration.value')).toBe(ip);
      expect(server.requests[0]!.headers.authorization).toBe('Bearer t');
    } finally {
      await server.stop();
    }
  });

  it('maps success:false with Cloudflare authentication codes to ConnectorAuthError whatever the status', async () => {
    const server = await startContractServer((_req, res) =>
      json(res, 400, {
        success: false,
        errors: [{ code: 9109, message: 'Invalid access token' }],
        result: null,
      }),
    );
    try {
      const fw = new CloudflareFirewall({
        baseUrl: server.url,
        apiToken: 't',
        accountId: 'a',
        allowList: [server.url],
      });
      await expectConnectorError(fw.getIpState('192.0.2.1'), 'auth');
      expect(server.requests[0]!.url).toMatch(/^\/client\/v4\/accounts\/a\/firewall\/access_rules\/rules\?/);
    } finally {
      await server.stop();
    }
  });

  describe('error mapping', () => {
    faultMatrix(
      () => ctl.lab,
      'cloudflare',
      (timeoutMs) => cf({ timeoutMs }).blockIp(freshIp(), actionCtx()),
      { pathPattern: '/access_rules/rules' },
    );
  });
});
