import { enrichmentMarkdown, verdictOf } from '../../src/audit/report/enrichment';
import { notificationsMarkdown } from '../../src/audit/report/notifications';
import type { IncidentReport } from '../../src/audit/report';
import type { IncidentEnrichment } from '../../src/domain/enrichment';

const enrichment: IncidentEnrichment = {
  startedAt: '2026-12-02T00:00:00.000Z',
  at: '2026-12-02T00:00:01.000Z',
  timeoutMs: 10_000,
  timedOut: false,
  configured: true,
  sources: ['virustotal', 'abuseipdb'],
  skippedInternal: ['10.0.0.1'],
  indicators: [
    {
      kind: 'domain',
      indicator: 'evil|<script>`x`.example',
      findings: [
        {
          source: 'virustotal',
          indicator: 'evil|<script>`x`.example',
          kind: 'domain',
          found: true,
          malicious: 3,
          suspicious: 1,
          harmless: 10,
          undetected: 6,
          reputation: -5,
        },
      ],
      errors: [{ source: 'abuseipdb|x', type: 'rate_limited', message: 'HTTP 429' }],
    },
    {
      kind: 'ip',
      indicator: '203.0.113.66',
      findings: [
        {
          source: 'abuseipdb',
          indicator: '203.0.113.66',
          kind: 'ip',
          found: true,
          confidence: 100,
          totalReports: 812,
          countryCode: 'N|L<b>',
        },
      ],
      errors: [],
    },
  ],
};

const render = (e?: IncidentEnrichment) =>
  enrichmentMarkdown({ enrichment: e } as unknown as IncidentReport).join('\n');

describe('report: threat-intelligence section', () => {
  it('is absent for incidents whose playbook does not enrich', () => {
    expect(render(undefined)).toBe('');
  });

  it('lists indicators and verdicts, escaping vendor and alert text', () => {
    const md = render(enrichment);
    expect(md).toContain('## Threat intelligence');
    expect(md).toContain('answered by virustotal, abuseipdb');
    expect(md).toContain('3 malicious, 1 suspicious of 20 engines, reputation -5');
    expect(md).toContain('abuseipdb: confidence 100, 812 reports');
    // Alert text only inside a code span (literal there), vendor text escaped.
    expect(md).toContain('| ``evil\\|<script>`x`.example`` |');
    expect(md).not.toContain('<b>');
    // Every table row keeps its four columns: no pipe from the data splits a cell.
    const rows = md.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| Kind'));
    for (const row of rows) expect(row.split(/(?<!\\)\|/).length).toBe(6);
  });

  it('says when the lookups timed out', () => {
    expect(render({ ...enrichment, timedOut: true, indicators: [] })).toContain(
      'timed out after 10000 ms (containment went on without it)',
    );
    expect(verdictOf({ ...enrichment.indicators[1]!.findings[0]!, found: false })).toBe(
      'abuseipdb: not known',
    );
  });
});

describe('the report names the incident ticket', () => {
  const base = { notifications: { total: 2, failed: 0, byRoute: { soc: 2 } } } as unknown as IncidentReport;
  it('shows the system, the ticket and its status, escaping what the vendor gave', () => {
    const lines = notificationsMarkdown({
      ...base,
      ticket: {
        system: 'jira',
        status: 'closed',
        key: 'SOC-7',
        displayId: 'SOC-7',
        url: 'https://acme.atlassian.net/browse/SOC-7',
        openedAt: '2026-12-02T00:00:00.000Z',
        closedAt: '2026-12-02T01:00:00.000Z',
        synced: ['phase:containment', 'approval:apr-1'],
        lastError: 'comment refused: <b>|x|</b>',
      },
    }).join('\n');
    expect(lines).toContain('Ticket: jira SOC-7');
    expect(lines).toContain('2 update(s) sent');
    expect(lines).not.toContain('<b>');
    expect(lines).not.toContain('|x|');
  });
  it('says when no ticket system was configured, and nothing for incidents without ticket sync', () => {
    expect(
      notificationsMarkdown({
        ...base,
        ticket: { system: 'none', status: 'not_configured', synced: [] },
      }).join('\n'),
    ).toContain('Ticket: no ticket system was configured on the worker.');
    expect(notificationsMarkdown(base).join('\n')).not.toContain('Ticket');
  });
});
