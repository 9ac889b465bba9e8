import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { startLabServer, type RunningLab } from '../../src/connectors/lab';
import { LAB_SEED_INDICATORS } from '../../src/connectors/lab/estate/indicators';
import { createConnectors } from '../../src/connectors/config';
import { buildReport, renderReportMarkdown } from '../../src/audit/report';
import { startHarness, testPlaybookYaml, type Harness } from '../support/incident-harness';

const TIMEOUT_MS = 2_000;

// isolate_host is `never` at low severity and `approve` at high: an approval request proves that the
// enrichment raised severity before containment was planned.
// A file hash most engines flag raises it to critical, where isolate_host runs at once.
const playbook = testPlaybookYaml(`enrichment: { timeout: ${TIMEOUT_MS}ms, kinds: [ip, domain, file] }
severity:
  rules:
    - { description: known-bad address, when: { enrichment: 'abuseipdb.confidence >= 90' }, atLeast: high }
    - { description: known malware, when: { enrichment: 'virustotal.malicious >= 40' }, atLeast: critical }`);

describe('threat-intelligence enrichment in identification (lab estate, VirusTotal and AbuseIPDB contracts)', () => {
  let lab: RunningLab;
  let dataDir: string;
  let h: Harness;
  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-enrich-'));
    lab = await startLabServer({ port: 0 });
    // A long HTTP timeout, so a hanging source hangs past the playbook's enrichment timeout.
    const connectors = createConnectors({ QUELL_HTTP_TIMEOUT_MS: '30000' }, { dataDir, labUrl: lab.url });
    h = await startHarness({ connectors, playbookYaml: playbook });
  });
  afterEach(() => lab.store.clearFaults());
  afterAll(async () => {
    await h?.stop();
    await lab?.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it("raises severity from the lab's known-bad IP before containment, and records the findings", async () => {
    const host = `ws-intel-${randomUUID().slice(0, 8)}`;
    const { incidentId } = await h.ingest({
      severity: 'low',
      title: 'Beacon to <b>c2</b> | from `ws`',
      hosts: [host],
      ips: [LAB_SEED_INDICATORS.badIp, '10.1.2.3'],
      domains: [LAB_SEED_INDICATORS.badDomain],
    });
    const s = await h.until(incidentId, (x) => x.approvals.length > 0, 'approval of isolate_host at high');
    expect(s.severity).toBe('high');
    expect(s.approvals[0]!.request).toMatchObject({ action: 'isolate_host', target: host, severity: 'high' });
    const e = s.enrichment!;
    expect(e).toMatchObject({ timedOut: false, configured: true, skippedInternal: ['10.1.2.3'] });
    expect(e.indicators.map((i) => i.indicator).sort()).toEqual(
      [LAB_SEED_INDICATORS.badDomain, LAB_SEED_INDICATORS.badIp].sort(),
    );
    const ip = e.indicators.find((i) => i.kind === 'ip')!;
    expect(ip.findings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ source: 'abuseipdb', found: true, confidence: 100 }),
        expect.objectContaining({ source: 'virustotal', found: true }),
      ]),
    );
    expect(s.notes.some((n) => /raised the severity from low to high/.test(n.text))).toBe(true);

    // The report lists the indicators and verdicts.
    const md = renderReportMarkdown(buildReport(s, []));
    expect(md).toContain('## Threat intelligence');
    expect(md).toContain('abuseipdb: confidence 100');
    expect(buildReport(s, []).enrichment?.indicators).toHaveLength(2);
  });

  it('goes on to containment within the timeout when the sources hang', async () => {
    lab.store.addFault({ match: { vendor: 'abuseipdb' }, fault: 'timeout', holdMs: 20_000, times: 5 });
    lab.store.addFault({ match: { vendor: 'virustotal' }, fault: 'timeout', holdMs: 20_000, times: 5 });
    const host = `ws-hang-${randomUUID().slice(0, 8)}`;
    const ingested = Date.now();
    const { incidentId } = await h.ingest({ severity: 'critical', hosts: [host], ips: ['198.51.100.201'] });
    const s = await h.until(incidentId, (x) => x.actions.length > 0, 'containment planned');
    const e = s.enrichment!;
    expect(e.timedOut).toBe(true);
    expect(e.indicators).toEqual([]);
    // Planned when the workflow stopped waiting, at the timeout (workflow time), not when the sources answered.
    const planned = Date.parse(s.actions[0]!.createdAt);
    expect(planned - Date.parse(e.startedAt)).toBeLessThan(TIMEOUT_MS + 1_000);
    expect(Date.now() - ingested).toBeLessThan(15_000);
    expect(s.notes.some((n) => /did not answer within 2000 ms/.test(n.text))).toBe(true);
    expect(s.severity).toBe('critical');
  });

  it('records a rate-limited source and keeps the other answer', async () => {
    lab.store.addFault({ match: { vendor: 'abuseipdb' }, fault: '429', retryAfterSeconds: 60, times: 5 });
    const host = `ws-429-${randomUUID().slice(0, 8)}`;
    const { incidentId } = await h.ingest({
      severity: 'low',
      hosts: [host],
      ips: [LAB_SEED_INDICATORS.whitelistedIp],
    });
    const s = await h.until(
      incidentId,
      (x) => x.enrichment !== undefined && x.phase !== 'identification',
      'enriched',
    );
    const [ip] = s.enrichment!.indicators;
    expect(s.enrichment!.timedOut).toBe(false);
    expect(ip!.errors).toEqual([expect.objectContaining({ source: 'abuseipdb', type: 'rate_limited' })]);
    expect(ip!.findings.map((f) => f.source)).toEqual(['virustotal']);
    expect(s.severity).toBe('low');
  });

  it("looks the alert's file hashes up (by SHA-1, the lab knows the file's aliases) and raises severity on a known implant", async () => {
    const host = `ws-file-${randomUUID().slice(0, 8)}`;
    const rule = `implant.${host}`;
    const { incidentId } = await h.ingest({
      severity: 'low',
      rule,
      hosts: [host],
      accounts: [],
      files: [LAB_SEED_INDICATORS.badSha1, LAB_SEED_INDICATORS.cleanSha256],
    });
    const s = await h.until(incidentId, (x) => x.actions.length > 0, 'isolate_host planned at critical');
    expect(s.severity).toBe('critical');
    expect(s.scope.files).toEqual([LAB_SEED_INDICATORS.badSha1, LAB_SEED_INDICATORS.cleanSha256]);
    expect(s.actions.map((a) => [a.kind, a.target])).toEqual([['isolate_host', host]]);
    const files = s.enrichment!.indicators;
    expect(files.map((i) => [i.kind, i.indicator])).toEqual([
      ['file', LAB_SEED_INDICATORS.badSha1],
      ['file', LAB_SEED_INDICATORS.cleanSha256],
    ]);
    expect(files[0]!.findings).toEqual([
      expect.objectContaining({ source: 'virustotal', kind: 'file', found: true, malicious: 58 }),
    ]);
    expect(files[1]!.findings).toEqual([
      expect.objectContaining({ source: 'virustotal', found: true, malicious: 0 }),
    ]);
    expect(renderReportMarkdown(buildReport(s, []))).toContain(LAB_SEED_INDICATORS.badSha1);

    // A later alert naming another hash joins the scope without planning anything (no action targets a hash).
    const joined = await h.ingest({
      severity: 'low',
      rule,
      hosts: [host],
      accounts: [],
      files: [LAB_SEED_INDICATORS.badMd5],
    });
    expect(joined.incidentId).toBe(incidentId);
    const later = await h.until(incidentId, (x) => x.alerts.count === 2, 'second alert recorded');
    expect(later.scope.files).toEqual([
      LAB_SEED_INDICATORS.badSha1,
      LAB_SEED_INDICATORS.cleanSha256,
      LAB_SEED_INDICATORS.badMd5,
    ]);
    expect(later.actions).toHaveLength(1);
  });

  it('looks up the indicators a later alert adds, and their findings raise severity and re-policy the pending approval', async () => {
    const host = `ws-later-${randomUUID().slice(0, 8)}`;
    const rule = `beacon.${host}`;
    const { incidentId } = await h.ingest({
      severity: 'medium',
      rule,
      hosts: [host],
      accounts: [],
      ips: [LAB_SEED_INDICATORS.cleanIp],
    });
    const first = await h.until(
      incidentId,
      (x) => x.approvals.length > 0,
      'isolate_host awaits two approvers',
    );
    expect(first.severity).toBe('medium');
    expect(first.approvals[0]).toMatchObject({ policy: 'two_person', requiredApprovers: 2 });

    const joined = await h.ingest({
      severity: 'low',
      rule,
      hosts: [host],
      accounts: [],
      ips: [LAB_SEED_INDICATORS.badIp, '10.9.8.7'],
    });
    expect(joined.incidentId).toBe(incidentId);
    const s = await h.until(incidentId, (x) => x.severity === 'high', 'raised by the later lookup');
    const e = s.enrichment!;
    expect(e.indicators.map((i) => i.indicator)).toEqual([
      LAB_SEED_INDICATORS.cleanIp,
      LAB_SEED_INDICATORS.badIp,
    ]);
    expect(e.later).toEqual([expect.objectContaining({ indicators: 1 })]);
    expect(e.asked).toEqual([`ip:${LAB_SEED_INDICATORS.cleanIp}`, `ip:${LAB_SEED_INDICATORS.badIp}`]);
    expect(e.skippedInternal).toEqual(['10.9.8.7']);
    expect(s.approvals[0]).toMatchObject({ state: 'pending', policy: 'approve', requiredApprovers: 1 });
    expect(
      s.notes.some((n) =>
        /Threat intelligence on a later alert raised the severity from medium to high/.test(n.text),
      ),
    ).toBe(true);

    // A redelivery or an alert naming only what was asked already looks nothing up again.
    await h.ingest({ severity: 'low', rule, hosts: [host], accounts: [], ips: [LAB_SEED_INDICATORS.badIp] });
    const again = await h.until(incidentId, (x) => x.alerts.count === 3, 'third alert');
    expect(again.enrichment!.later).toHaveLength(1);
    expect(again.enrichment!.asked).toHaveLength(2); // set before a lookup starts: none did
  });
});
