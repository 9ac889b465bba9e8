import { buildThreatIntel, resolveConnectorsConfig } from '../../src/connectors/config';
import { AbuseIpdbIntel } from '../../src/connectors/intel/abuseipdb';
import { IntelCache } from '../../src/connectors/intel/cache';
import { createThreatIntel } from '../../src/connectors/intel/fanout';
import type { ThreatIntelSource } from '../../src/connectors/intel/types';
import { VirusTotalIntel } from '../../src/connectors/intel/virustotal';
import { LAB_CREDENTIALS, LAB_SEED_INDICATORS } from '../../src/connectors/lab';
import { expectConnectorError, labAllowList, useLab } from './support';

const ctl = useLab();
const seed = LAB_SEED_INDICATORS;

function sources(): ThreatIntelSource[] {
  const common = { allowList: labAllowList(ctl.lab), timeoutMs: 2_000 };
  return [
    new VirusTotalIntel({
      baseUrl: `${ctl.lab.url}/virustotal`,
      apiKey: LAB_CREDENTIALS.virustotal.apiKey,
      ...common,
    }),
    new AbuseIpdbIntel({
      baseUrl: `${ctl.lab.url}/abuseipdb`,
      apiKey: LAB_CREDENTIALS.abuseipdb.apiKey,
      ...common,
    }),
  ];
}

/** Vendor calls the lab has answered for one indicator (any source). */
const callsFor = (indicator: string) =>
  ctl.lab.store.calls({ pathIncludes: encodeURIComponent(indicator) }).length;

/** An address no other test looks up, known to both lab sources. */
let n = 0;
function freshIp(): string {
  n += 1;
  const ip = `192.0.2.${100 + n}`;
  ctl.lab.store.addIndicator({
    kind: 'ip',
    value: ip,
    virustotal: { malicious: n },
    abuseipdb: { abuseConfidenceScore: 50, totalReports: n },
  });
  return ip;
}

describe('threat intelligence fan-out', () => {
  it('asks every source that supports the kind, in parallel, and names them', async () => {
    const intel = createThreatIntel(sources());
    expect(intel.sources).toEqual(['virustotal', 'abuseipdb']);
    const ip = await intel.lookup('ip', ` ${seed.badIp} `);
    expect(ip.indicator).toBe(seed.badIp);
    expect(ip.errors).toEqual([]);
    expect(ip.findings.map((f) => [f.source, f.found])).toEqual([
      ['virustotal', true],
      ['abuseipdb', true],
    ]);
    const file = await intel.lookup('file', seed.badSha256);
    expect(file.findings.map((f) => f.source)).toEqual(['virustotal']);
  });

  it("keeps the other sources' findings when one fails, with the failure typed", async () => {
    ctl.lab.store.addFault({ match: { vendor: 'abuseipdb' }, fault: '429', retryAfterSeconds: 9, times: 1 });
    const res = await createThreatIntel(sources()).lookup('ip', seed.badIp);
    expect(res.findings.map((f) => f.source)).toEqual(['virustotal']);
    expect(res.errors).toEqual([
      expect.objectContaining({ source: 'abuseipdb', type: 'rate_limited', retryAfterMs: 9_000 }),
    ]);
    ctl.lab.store.addFault({ match: { vendor: 'virustotal' }, fault: '5xx', times: 1 });
    const again = await createThreatIntel(sources()).lookup('ip', seed.badIp);
    expect(again.findings.map((f) => f.source)).toEqual(['abuseipdb']);
    expect(again.errors).toMatchObject([{ source: 'virustotal', type: 'transient' }]);
  });

  it('reports a source that throws something other than a connector error as permanent', async () => {
    const broken: ThreatIntelSource = {
      vendor: 'virustotal',
      supports: () => true,
      lookup: () => Promise.reject(new TypeError('boom')),
    };
    const res = await createThreatIntel([broken, sources()[1]!]).lookup('ip', seed.cleanIp);
    expect(res.errors).toEqual([{ source: 'virustotal', type: 'permanent', message: 'virustotal: boom' }]);
    expect(res.findings).toHaveLength(1);
  });

  it('refuses an invalid indicator before any source is called', async () => {
    const before = ctl.lab.store.calls().length;
    await expectConnectorError(createThreatIntel(sources()).lookup('domain', 'x.example/../y'), 'permanent');
    await expectConnectorError(createThreatIntel(sources()).lookup('ip', '1.2.3.4; rm -rf'), 'permanent');
    await expectConnectorError(
      createThreatIntel(sources()).lookup('url' as 'ip', 'https://x.example/'),
      'permanent',
    );
    expect(ctl.lab.store.calls()).toHaveLength(before);
  });
});

describe('threat intelligence cache', () => {
  let clock = Date.parse('2026-12-01T09:00:00Z');
  const now = () => clock;

  it('answers a repeated lookup from the cache until the TTL runs out', async () => {
    const cache = new IntelCache({ ttlMs: 60_000, now });
    const intel = createThreatIntel(sources(), { cache });
    const ip = freshIp();
    const first = await intel.lookup('ip', ip);
    expect(callsFor(ip)).toBe(2);
    clock += 59_000;
    const second = await intel.lookup('ip', ip);
    expect(second).toEqual(first);
    expect(callsFor(ip)).toBe(2);
    expect(cache.stats()).toMatchObject({ hits: 2, misses: 2, size: 2 });
    clock += 1_000;
    await intel.lookup('ip', ip);
    expect(callsFor(ip)).toBe(4);
    expect(cache.stats()).toMatchObject({ hits: 2, misses: 4 });
  });

  it('keys by source, kind and normalized indicator', async () => {
    const cache = new IntelCache({ ttlMs: 60_000, now });
    const intel = createThreatIntel(sources(), { cache });
    await intel.lookup('domain', 'C2-BEACON.example.');
    await intel.lookup('domain', 'c2-beacon.example');
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1, size: 1 });
    await intel.lookup('file', seed.badSha256.toUpperCase());
    await intel.lookup('file', seed.badSha256);
    expect(cache.stats()).toMatchObject({ hits: 2, misses: 2, size: 2 });
  });

  it('caches "not known" findings, never errors', async () => {
    const cache = new IntelCache({ ttlMs: 60_000, now });
    const intel = createThreatIntel(sources(), { cache });
    const unknown = `unknown-${Date.now()}.example`;
    expect((await intel.lookup('domain', unknown)).findings).toMatchObject([{ found: false }]);
    await intel.lookup('domain', unknown);
    expect(callsFor(unknown)).toBe(1);

    const ip = freshIp();
    ctl.lab.store.addFault({
      match: { vendor: 'virustotal', pathPattern: ip.replace(/\./g, '\\.') },
      fault: '5xx',
      times: 1,
    });
    const failed = await intel.lookup('ip', ip);
    expect(failed.errors).toMatchObject([{ source: 'virustotal', type: 'transient' }]);
    const retried = await intel.lookup('ip', ip);
    expect(retried.errors).toEqual([]);
    expect(retried.findings.map((f) => f.source)).toEqual(['virustotal', 'abuseipdb']);
    // AbuseIPDB answered the first time and came from the cache the second; VirusTotal was asked twice.
    expect(ctl.lab.store.calls({ vendor: 'virustotal', pathIncludes: ip })).toHaveLength(2);
    expect(ctl.lab.store.calls({ vendor: 'abuseipdb', pathIncludes: ip })).toHaveLength(1);
  });

  it('lets concurrent lookups of one key share one vendor call', async () => {
    const cache = new IntelCache({ ttlMs: 60_000, now });
    const intel = createThreatIntel(sources(), { cache });
    const ip = freshIp();
    ctl.lab.store.addFault({
      match: { pathPattern: ip.replace(/\./g, '\\.') },
      fault: 'slow_response',
      holdMs: 150,
    });
    const results = await Promise.all([
      intel.lookup('ip', ip),
      intel.lookup('ip', ip),
      intel.lookup('ip', ip),
    ]);
    expect(callsFor(ip)).toBe(2);
    expect(cache.stats()).toMatchObject({ misses: 2, joined: 4 });
    expect(results[1]).toEqual(results[0]);
    // Each caller gets its own copy: changing one finding changes nothing cached.
    (results[0].findings[0] as { malicious: number }).malicious = 999;
    expect((await intel.lookup('ip', ip)).findings[0]).not.toMatchObject({ malicious: 999 });
  });

  it('shares a failing in-flight call too, and forgets it', async () => {
    const cache = new IntelCache({ ttlMs: 60_000, now });
    const intel = createThreatIntel(sources(), { cache });
    const ip = freshIp();
    ctl.lab.store.addFault({
      match: { vendor: 'virustotal', pathPattern: ip.replace(/\./g, '\\.') },
      fault: '5xx',
      times: 1,
    });
    const [a, b] = await Promise.all([intel.lookup('ip', ip), intel.lookup('ip', ip)]);
    expect(a.errors).toMatchObject([{ source: 'virustotal' }]);
    expect(b.errors).toMatchObject([{ source: 'virustotal' }]);
    expect(ctl.lab.store.calls({ vendor: 'virustotal', pathIncludes: ip })).toHaveLength(1);
    expect((await intel.lookup('ip', ip)).errors).toEqual([]);
  });

  it('drops the least recently used findings beyond its size', async () => {
    const cache = new IntelCache({ ttlMs: 60_000, maxEntries: 2, now });
    const [vt] = sources();
    const intel = createThreatIntel([vt!], { cache });
    const [a, b, c] = [freshIp(), freshIp(), freshIp()];
    await intel.lookup('ip', a);
    await intel.lookup('ip', b);
    await intel.lookup('ip', a); // a is now the most recently used
    await intel.lookup('ip', c); // b goes
    expect(cache.stats()).toMatchObject({ size: 2, hits: 1, misses: 3 });
    await intel.lookup('ip', a);
    expect(cache.stats()).toMatchObject({ hits: 2, misses: 3 });
    await intel.lookup('ip', b);
    expect(cache.stats()).toMatchObject({ hits: 2, misses: 4 });
  });

  it('with a TTL of 0 keeps nothing', async () => {
    const cache = new IntelCache({ ttlMs: 0, now });
    const intel = createThreatIntel(sources(), { cache });
    const ip = freshIp();
    await intel.lookup('ip', ip);
    await intel.lookup('ip', ip);
    expect(callsFor(ip)).toBe(4);
    expect(cache.stats().size).toBe(0);
  });
});

describe('threat intelligence from configuration', () => {
  const opts = () => ({ dataDir: '/tmp/quell-intel-test', labUrl: ctl.lab.url });

  it('defaults to both sources in the lab, cached', async () => {
    const cfg = resolveConnectorsConfig({}, opts());
    const intel = buildThreatIntel(cfg, { allowList: cfg.allowList, timeoutMs: 2_000 })!;
    expect(intel.sources).toEqual(['virustotal', 'abuseipdb']);
    const ip = freshIp();
    const res = await intel.lookup('ip', ip);
    expect(res.findings.map((f) => [f.source, f.found])).toEqual([
      ['virustotal', true],
      ['abuseipdb', true],
    ]);
    await intel.lookup('ip', ip);
    expect(callsFor(ip)).toBe(2);
  });

  it('builds nothing for QUELL_INTEL=none', () => {
    const cfg = resolveConnectorsConfig({ QUELL_INTEL: 'none' }, opts());
    expect(buildThreatIntel(cfg, { allowList: cfg.allowList, timeoutMs: 2_000 })).toBeUndefined();
  });
});
