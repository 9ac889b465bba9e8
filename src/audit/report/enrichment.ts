/** Threat-intelligence enrichment: the indicators identification looked up and each source's verdict. */
import type { EnrichedIndicator, IntelFinding } from '../../domain/enrichment';
import { code, md } from './escape';
import type { IncidentReport } from './types';

/** One source's verdict in a line: vendor strings (country codes, links) are escaped where rendered. */
export function verdictOf(f: IntelFinding): string {
  if (!f.found) return `${f.source}: not known`;
  if (f.source === 'abuseipdb')
    return (
      `abuseipdb: confidence ${f.confidence}, ${f.totalReports} report${f.totalReports === 1 ? '' : 's'}` +
      (f.countryCode ? `, ${f.countryCode}` : '') +
      (f.isWhitelisted ? ', whitelisted' : '')
    );
  return (
    `virustotal: ${f.malicious} malicious, ${f.suspicious} suspicious of ${f.malicious + f.suspicious + f.harmless + f.undetected} engines` +
    (f.reputation !== undefined ? `, reputation ${f.reputation}` : '')
  );
}

function indicatorRow(i: EnrichedIndicator): string {
  const verdicts = i.findings.map((f) => md(verdictOf(f))).join('; ') || '-';
  const errors = i.errors.map((e) => `${md(e.source)}: ${md(e.type)}`).join('; ') || '-';
  return `| ${md(i.kind)} | ${code(i.indicator)} | ${verdicts} | ${errors} |`;
}

/** The section, only for incidents whose playbook enriches (other reports are unchanged). */
export function enrichmentMarkdown(r: IncidentReport): string[] {
  const e = r.enrichment;
  if (!e) return [];
  const status = e.timedOut
    ? `timed out after ${e.timeoutMs} ms (containment went on without it)`
    : e.failure
      ? `failed (${md(e.failure.type)}): containment went on without it`
      : !e.configured
        ? 'no threat intelligence configured: nothing looked up'
        : `answered by ${e.sources.map((s) => md(s)).join(', ') || 'no source'}`;
  return [
    '## Threat intelligence',
    '',
    `Looked up ${md(e.startedAt)}: ${status}.` +
      (e.skippedInternal.length
        ? ` Internal addresses not looked up: ${e.skippedInternal.map((ip) => code(ip)).join(', ')}.`
        : ''),
    '',
    '| Kind | Indicator | Verdicts | Errors |',
    '|---|---|---|---|',
    ...e.indicators.map(indicatorRow),
    ...(e.indicators.length ? [] : ['| - | | | |']),
    '',
  ];
}
