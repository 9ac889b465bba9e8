import { VirusTotalIntel, VIRUSTOTAL_DEFAULT_RETRY_AFTER_MS } from '../../src/connectors/intel/virustotal';
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

function vt(lab: RunningLab = ctl.lab, opts: { timeoutMs?: number; apiKey?: string } = {}) {
  return new VirusTotalIntel({
    baseUrl: `${lab.url}/virustotal`,
    apiKey: opts.apiKey ?? LAB_CREDENTIALS.virustotal.apiKey,
    allowList: labAllowList(lab),
    timeoutMs: opts.timeoutMs ?? 2_000,
  });
}

const callsSince = (before: number) => ctl.lab.store.calls({ vendor: 'virustotal' }).slice(before);

describe('VirusTotal connector against the lab', () => {
  it('reports the last analysis and reputation of a known-bad IP, domain and file', async () => {
    const intel = vt();
    expect(await intel.lookup('ip', seed.badIp)).toEqual({
      source: 'virustotal',
      indicator: seed.badIp,
      kind: 'ip',
      found: true,
      malicious: 14,
      suspicious: 3,
      harmless: 52,
      undetected: 24,
      reputation: -38,
      link: `${ctl.lab.url}/virustotal/gui/ip-address/${seed.badIp}`,
    });
    const domain = await intel.lookup('domain', 'C2-Beacon.Example.');
    expect(domain).toMatchObject({ indicator: seed.badDomain, kind: 'domain', found: true, malicious: 9 });
    const file = await intel.lookup('file', seed.badSha256.toUpperCase());
    expect(file).toMatchObject({ indicator: seed.badSha256, found: true, malicious: 58, reputation: -87 });
    expect(file.link).toBe(`${ctl.lab.url}/virustotal/gui/file/${seed.badSha256}`);
  });

  it('finds a file by its MD5 and SHA-1 too, and a clean indicator as clean', async () => {
    const intel = vt();
    expect(await intel.lookup('file', seed.badMd5)).toMatchObject({ indicator: seed.badMd5, malicious: 58 });
    expect(await intel.lookup('file', seed.badSha1)).toMatchObject({ malicious: 58 });
    expect(await intel.lookup('domain', seed.cleanDomain)).toMatchObject({
      found: true,
      malicious: 0,
      suspicious: 0,
      harmless: 66,
    });
  });

  it('supports the three kinds and nothing else', () => {
    const intel = vt();
    expect(['ip', 'domain', 'file', 'toString', 'url'].map((k) => intel.supports(k as 'ip'))).toEqual([
      true,
      true,
      true,
      false,
      false,
    ]);
  });

  it('calls the v3 collection with the key in x-apikey, never in the URL', async () => {
    const before = ctl.lab.store.calls({ vendor: 'virustotal' }).length;
    await vt().lookup('ip', seed.cleanIp);
    await vt().lookup('domain', seed.cleanDomain);
    expect(callsSince(before).map((c) => `${c.method} ${c.url} ${c.status}`)).toEqual([
      `GET /virustotal/api/v3/ip_addresses/${seed.cleanIp} 200`,
      `GET /virustotal/api/v3/domains/${seed.cleanDomain} 200`,
    ]);
  });

  it('answers an indicator VirusTotal does not know (404 NotFoundError) as not found', async () => {
    const unknown = await vt().lookup('domain', 'never-seen.example');
    expect(unknown).toEqual({
      source: 'virustotal',
      indicator: 'never-seen.example',
      kind: 'domain',
      found: false,
      malicious: 0,
      suspicious: 0,
      harmless: 0,
      undetected: 0,
    });
  });

  it('sees indicators added through the lab control plane', async () => {
    const res = await fetch(`${ctl.lab.url}/lab/intel/indicators`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        kind: 'ip',
        value: '2001:db8::bad',
        virustotal: { malicious: 5, reputation: -3 },
      }),
    });
    expect(res.status).toBe(201);
    const finding = await vt().lookup('ip', '2001:0DB8:0000::0BAD');
    expect(finding).toMatchObject({ indicator: '2001:db8::bad', found: true, malicious: 5, reputation: -3 });
  });

  it.each([
    ['ip', '10.0.0.0/8'],
    ['ip', '203.0.113.66/../../users'],
    ['ip', 'fe80::1%eth0'],
    ['domain', 'evil.example/../../files/x'],
    ['domain', 'https://evil.example'],
    ['domain', 'localhost'],
    ['domain', '203.0.113.66'],
    ['file', 'abc123'],
    ['file', `${'a'.repeat(63)}g`],
  ] as const)('refuses the %s %j before any call', async (kind, value) => {
    const before = ctl.lab.store.calls({ vendor: 'virustotal' }).length;
    const err = await expectConnectorError(vt().lookup(kind, value), 'permanent', ERROR_NAMES.permanent);
    expect(err.message).toMatch(/^invalid /);
    expect(callsSince(before)).toEqual([]);
  });

  it('maps a missing or wrong key (401) to ConnectorAuthError', async () => {
    const err = await expectConnectorError(vt(ctl.lab, { apiKey: 'wrong' }).lookup('ip', seed.badIp), 'auth');
    expect(err.message).toMatch(/WrongCredentialsError/);
    expect(err.message).not.toContain('wrong');
    ctl.lab.store.addFault({ match: { vendor: 'virustotal' }, fault: 'auth_expired', times: 1 });
    await expectConnectorError(vt().lookup('ip', seed.badIp), 'auth', ERROR_NAMES.auth);
  });

  it('waits a minute after a 429 that names no delay (the public quota is per minute)', async () => {
    const server = await startContractServer((_req, res) =>
      json(res, 429, { error: { code: 'QuotaExceededError', message: 'Quota exceeded' } }),
    );
    try {
      const intel = new VirusTotalIntel({ baseUrl: server.url, apiKey: 'k', allowList: [server.url] });
      const err = await expectConnectorError(intel.lookup('ip', seed.badIp), 'rate_limited');
      expect(err.details.retryAfterMs).toBe(VIRUSTOTAL_DEFAULT_RETRY_AFTER_MS);
      expect(err.message).toMatch(/QuotaExceededError: Quota exceeded/);
      expect(server.requests[0]!.headers['x-apikey']).toBe('k');
    } finally {
      await server.stop();
    }
  });

  it('refuses an answer that is not a VirusTotal object', async () => {
    const server = await startContractServer((_req, res) => json(res, 200, { data: [] }));
    try {
      const intel = new VirusTotalIntel({ baseUrl: server.url, apiKey: 'k', allowList: [server.url] });
      await expectConnectorError(intel.lookup('file', seed.cleanSha256), 'permanent');
    } finally {
      await server.stop();
    }
  });

  it('refuses a base URL off the allow-list before any I/O', async () => {
    const intel = new VirusTotalIntel({ apiKey: 'k', allowList: ['127.0.0.1'] });
    const err = await expectConnectorError(intel.lookup('ip', seed.badIp), 'permanent');
    expect(err.message).toMatch(/not on the outbound allow-list/);
  });

  describe('lab faults', () => {
    faultMatrix(
      () => ctl.lab,
      'virustotal',
      (timeoutMs) => vt(ctl.lab, { timeoutMs }).lookup('ip', seed.badIp),
    );
  });
});
