import type { IncidentEnrichment } from '../../src/domain/enrichment';
import { parsePlaybook, PlaybookError } from '../../src/playbooks/loader';
import { evaluateSeverity } from '../../src/playbooks/policy';

const head = 'id: intel-pb\nname: Intel\nversion: 1\ndefault: true\n';
const scope = { hosts: ['ws-1'], accounts: [], ips: ['203.0.113.66'], domains: [] };

function withRules(rules: string, enrichment = 'enrichment: { timeout: 2s, kinds: [ip, domain] }\n') {
  return parsePlaybook(`${head}${enrichment}severity:\n  rules:\n${rules}`, 'intel.yaml').playbook;
}

function enriched(findings: IncidentEnrichment['indicators'][number]['findings']) {
  return {
    indicators: [{ kind: 'ip' as const, indicator: '203.0.113.66', findings, errors: [] }],
  };
}

const abuse = (confidence: number, found = true) => ({
  source: 'abuseipdb' as const,
  indicator: '203.0.113.66',
  kind: 'ip' as const,
  found,
  confidence,
  totalReports: found ? 10 : 0,
});

describe('playbook enrichment section', () => {
  it('is absent unless written (existing playbooks are unchanged)', () => {
    expect(parsePlaybook(head, 'p.yaml').playbook.enrichment).toBeUndefined();
  });

  it('parses the timeout as a duration, with defaults', () => {
    const pb = parsePlaybook(`${head}enrichment: { timeout: 3s }\n`, 'p.yaml').playbook;
    expect(pb.enrichment).toEqual({ timeout: 3_000, kinds: ['ip', 'domain', 'file'], concurrency: 4 });
  });

  it('refuses unknown kinds and timeouts out of range', () => {
    expect(() => parsePlaybook(`${head}enrichment: { kinds: [url] }\n`, 'p.yaml')).toThrow(PlaybookError);
    expect(() => parsePlaybook(`${head}enrichment: { timeout: 1h }\n`, 'p.yaml')).toThrow(
      /between 100ms and 5m/,
    );
  });
});

describe('enrichment severity conditions', () => {
  it('parses the comparison form at load into plain data', () => {
    const pb = withRules(`    - { when: { enrichment: 'abuseipdb.confidence >= 90' }, atLeast: high }\n`);
    expect(pb.severity.rules[0]!.when.enrichment).toEqual({
      source: 'abuseipdb',
      field: 'confidence',
      atLeast: 90,
    });
    const le = withRules(`    - { when: { enrichment: 'virustotal.reputation <= -10' }, atLeast: medium }\n`);
    expect(le.severity.rules[0]!.when.enrichment).toEqual({
      source: 'virustotal',
      field: 'reputation',
      atMost: -10,
    });
  });

  it('accepts the object form', () => {
    const pb = withRules(
      `    - { when: { enrichment: { source: virustotal, field: malicious, atLeast: 5 } }, atLeast: critical }\n`,
    );
    expect(pb.severity.rules[0]!.when.enrichment).toEqual({
      source: 'virustotal',
      field: 'malicious',
      atLeast: 5,
    });
  });

  it.each([
    [`'abuseipdb.confidence > 90'`, /invalid enrichment comparison/],
    [`'abuseipdb.confidence >= 90; process.exit()'`, /invalid enrichment comparison/],
    [`'shodan.ports >= 1'`, /unknown enrichment source "shodan"/],
    [
      `'abuseipdb.countryCode >= 1'`,
      /unknown abuseipdb field "countryCode" \(one of confidence, totalReports\)/,
    ],
    [`{ source: abuseipdb, field: confidence }`, /exactly one of atLeast, atMost/],
    [`{ source: abuseipdb, field: confidence, atLeast: 1, atMost: 2 }`, /exactly one of atLeast, atMost/],
  ])('refuses %s with a clear message', (condition, message) => {
    expect(() => withRules(`    - { when: { enrichment: ${condition} }, atLeast: high }\n`)).toThrow(message);
  });

  it('needs the enrichment section', () => {
    expect(() =>
      withRules(`    - { when: { enrichment: 'abuseipdb.confidence >= 90' }, atLeast: high }\n`, ''),
    ).toThrow(/needs the playbook's enrichment section/);
  });

  it('raises severity only when a finding meets the threshold', () => {
    const pb = withRules(`    - { when: { enrichment: 'abuseipdb.confidence >= 90' }, atLeast: high }\n`);
    expect(evaluateSeverity(pb, 'low', scope)).toBe('low'); // not looked up yet
    expect(evaluateSeverity(pb, 'low', scope, enriched([abuse(100)]))).toBe('high');
    expect(evaluateSeverity(pb, 'low', scope, enriched([abuse(89)]))).toBe('low');
    expect(evaluateSeverity(pb, 'low', scope, enriched([abuse(100, false)]))).toBe('low');
    expect(evaluateSeverity(pb, 'critical', scope, enriched([abuse(100)]))).toBe('critical');
    expect(evaluateSeverity(pb, 'low', scope, { indicators: [] })).toBe('low');
  });

  it('combines with the other conditions of the rule', () => {
    const pb = withRules(
      `    - { when: { hostPatterns: ['db-*'], enrichment: 'abuseipdb.confidence >= 90' }, atLeast: critical }\n`,
    );
    expect(evaluateSeverity(pb, 'low', scope, enriched([abuse(100)]))).toBe('low');
    expect(evaluateSeverity(pb, 'low', { ...scope, hosts: ['db-1'] }, enriched([abuse(100)]))).toBe(
      'critical',
    );
  });
});
