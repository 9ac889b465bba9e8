import { AbuseIpdbIntel } from '../../src/connectors/intel/abuseipdb';
import { LAB_CREDENTIALS, LAB_SEED_INDICATORS, type RunningLab } from '../../src/connectors/lab';
import {
  ERROR_NAMES,
  expectConnectorError,
  faultMatrix,
  json,
  labAllowList,
  startContractServer,
  useLab,
} from './support';

const ctl = useLab();
const seed = LAB_SEED_INDICATORS;

function abuse(
  lab: RunningLab = ctl.lab,
  opts: { timeoutMs?: number; apiKey?: string; maxAgeInDays?: number } = {},
) {
  return new AbuseIpdbIntel({
    baseUrl: `${lab.url}/abuseipdb`,
    apiKey: opts.apiKey ?? LAB_CREDENTIALS.abuseipdb.apiKey,
    allowList: labAllowList(lab),
    timeoutMs: opts.timeoutMs ?? 2_000,
    ...(opts.maxAgeInDays ? { maxAgeInDays: opts.maxAgeInDays } : {}),
  });
}

const callsSince = (before: number) => ctl.lab.store.calls({ vendor: 'abuseipdb' }).slice(before);

describe('AbuseIPDB connector against the lab', () => {
  it('reports the confidence and reports of a known-bad address', async () => {
    const finding = await abuse().lookup('ip', seed.badIp);
    expect(finding).toEqual({
      source: 'abuseipdb',
      indicator: seed.badIp,
      kind: 'ip',
      found: true,
      confidence: 100,
      totalReports: 812,
      countryCode: 'NL',
      isWhitelisted: false,
      lastReportedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$/) as unknown,
    });
  });

  it('answers a clean or never reported address as not found, and keeps whitelisting', async () => {
    expect(await abuse().lookup('ip', seed.cleanIp)).toEqual({
      source: 'abuseipdb',
      indicator: seed.cleanIp,
      kind: 'ip',
      found: false,
      confidence: 0,
      totalReports: 0,
      countryCode: 'US',
      isWhitelisted: false,
    });
    expect(await abuse().lookup('ip', '198.51.100.250')).toMatchObject({ found: false, confidence: 0 });
    expect(await abuse().lookup('ip', seed.whitelistedIp)).toMatchObject({
      found: true,
      confidence: 0,
      totalReports: 3,
      isWhitelisted: true,
    });
  });

  it('calls /api/v2/check with the address and window in the query and the key in Key', async () => {
    const before = ctl.lab.store.calls({ vendor: 'abuseipdb' }).length;
    await abuse(ctl.lab, { maxAgeInDays: 30 }).lookup('ip', '2001:DB8:0:0::1');
    expect(callsSince(before).map((c) => `${c.method} ${c.url} ${c.status}`)).toEqual([
      'GET /abuseipdb/api/v2/check?ipAddress=2001%3Adb8%3A%3A1&maxAgeInDays=30 200',
    ]);
    const server = await startContractServer((_req, res) =>
      json(res, 200, { data: { abuseConfidenceScore: 0, totalReports: 0 } }),
    );
    try {
      const intel = new AbuseIpdbIntel({ baseUrl: server.url, apiKey: 'key-1', allowList: [server.url] });
      await intel.lookup('ip', '192.0.2.1');
      expect(server.requests[0]!.url).toBe('/api/v2/check?ipAddress=192.0.2.1&maxAgeInDays=90');
      expect(server.requests[0]!.headers.key).toBe('key-1');
      expect(server.requests[0]!.headers.accept).toBe('application/json');
    } finally {
      await server.stop();
    }
  });

  it('sees indicators added through the lab store', async () => {
    ctl.lab.store.addIndicator({
      kind: 'ip',
      value: '192.0.2.200',
      abuseipdb: { abuseConfidenceScore: 64, totalReports: 9, lastReportedAt: '2026-11-30T08:00:00+00:00' },
    });
    expect(await abuse().lookup('ip', '192.0.2.200')).toMatchObject({
      found: true,
      confidence: 64,
      totalReports: 9,
      lastReportedAt: '2026-11-30T08:00:00+00:00',
    });
  });

  it('supports IP addresses only, and refuses a bad one before any call', async () => {
    const intel = abuse();
    expect(['ip', 'domain', 'file'].map((k) => intel.supports(k as 'ip'))).toEqual([true, false, false]);
    const before = ctl.lab.store.calls({ vendor: 'abuseipdb' }).length;
    await expectConnectorError(intel.lookup('domain', seed.badDomain), 'permanent');
    for (const bad of ['203.0.113.0/24', '203.0.113.66&maxAgeInDays=1', 'not-an-ip', '']) {
      await expectConnectorError(intel.lookup('ip', bad), 'permanent', ERROR_NAMES.permanent);
    }
    expect(callsSince(before)).toEqual([]);
  });

  it("maps a wrong key (401) to ConnectorAuthError, naming AbuseIPDB's detail", async () => {
    const err = await expectConnectorError(
      abuse(ctl.lab, { apiKey: 'nope' }).lookup('ip', seed.badIp),
      'auth',
    );
    expect(err.message).toMatch(/HTTP 401: Authentication failed/);
    ctl.lab.store.addFault({ match: { vendor: 'abuseipdb' }, fault: 'auth_expired', times: 1 });
    await expectConnectorError(abuse().lookup('ip', seed.badIp), 'auth', ERROR_NAMES.auth);
  });

  it('lets only a country code and a timestamp through from the vendor text', async () => {
    const server = await startContractServer((_req, res) =>
      json(res, 200, {
        data: {
          abuseConfidenceScore: 10,
          totalReports: 1,
          countryCode: '<script>',
          lastReportedAt: '*bold* <@here>',
          isWhitelisted: 'yes',
        },
      }),
    );
    try {
      const intel = new AbuseIpdbIntel({ baseUrl: server.url, apiKey: 'k', allowList: [server.url] });
      expect(await intel.lookup('ip', seed.badIp)).toEqual({
        source: 'abuseipdb',
        indicator: seed.badIp,
        kind: 'ip',
        found: true,
        confidence: 10,
        totalReports: 1,
      });
    } finally {
      await server.stop();
    }
  });

  it('maps a refused parameter (422) to PermanentConnectorError naming it', async () => {
    const server = await startContractServer((_req, res) =>
      json(res, 422, {
        errors: [
          {
            detail: 'The max age in days must be between 1 and 365.',
            status: 422,
            source: { parameter: 'maxAgeInDays' },
          },
        ],
      }),
    );
    try {
      const intel = new AbuseIpdbIntel({ baseUrl: server.url, apiKey: 'k', allowList: [server.url] });
      const err = await expectConnectorError(intel.lookup('ip', seed.badIp), 'permanent');
      expect(err.message).toMatch(
        /HTTP 422: The max age in days must be between 1 and 365\. \(maxAgeInDays\)/,
      );
    } finally {
      await server.stop();
    }
  });

  it('without Retry-After, waits until X-RateLimit-Reset (the daily quota)', async () => {
    const now = Date.parse('2026-12-01T09:00:00Z');
    const server = await startContractServer((_req, res) =>
      json(
        res,
        429,
        { errors: [{ detail: 'Daily rate limit exceeded', status: 429 }] },
        {
          'x-ratelimit-limit': '1000',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': String(now / 1000 + 3_600),
        },
      ),
    );
    try {
      const intel = new AbuseIpdbIntel({
        baseUrl: server.url,
        apiKey: 'k',
        allowList: [server.url],
        now: () => now,
      });
      const err = await expectConnectorError(intel.lookup('ip', seed.badIp), 'rate_limited');
      expect(err.details.retryAfterMs).toBe(3_600_000);
    } finally {
      await server.stop();
    }
  });

  it('the lab answers a 429 with Retry-After and the X-RateLimit-* headers', async () => {
    ctl.lab.store.addFault({ match: { vendor: 'abuseipdb' }, fault: '429', retryAfterSeconds: 42, times: 1 });
    const res = await fetch(`${ctl.lab.url}/abuseipdb/api/v2/check?ipAddress=${seed.badIp}`, {
      headers: { key: LAB_CREDENTIALS.abuseipdb.apiKey, accept: 'application/json' },
    });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('42');
    expect(res.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(Number(res.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
    expect(await res.json()).toEqual({ errors: [{ detail: expect.any(String) as unknown, status: 429 }] });
  });

  it('the lab refuses a malformed address or window with 422 naming the parameter', async () => {
    const get = async (query: string) => {
      const res = await fetch(`${ctl.lab.url}/abuseipdb/api/v2/check?${query}`, {
        headers: { key: LAB_CREDENTIALS.abuseipdb.apiKey },
      });
      return {
        status: res.status,
        body: (await res.json()) as { errors: { source?: { parameter: string } }[] },
      };
    };
    const bad = await get('ipAddress=nope');
    expect(bad.status).toBe(422);
    expect(bad.body.errors[0]!.source).toEqual({ parameter: 'ipAddress' });
    const window = await get(`ipAddress=${seed.badIp}&maxAgeInDays=400`);
    expect(window.status).toBe(422);
    expect(window.body.errors[0]!.source).toEqual({ parameter: 'maxAgeInDays' });
  });

  describe('lab faults', () => {
    faultMatrix(
      () => ctl.lab,
      'abuseipdb',
      (timeoutMs) => abuse(ctl.lab, { timeoutMs }).lookup('ip', seed.badIp),
    );
  });
});
