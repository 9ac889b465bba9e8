/**
 * What the incident learned from outside: the threat-intelligence findings of identification (the playbook's
 * `enrichment` section) and the ticket the incident is mirrored to. Every string here comes from an alert or a
 * vendor, so it is rendered as preact text nodes only, and addresses become links only by {@link httpUrl}.
 */
import { h, type ComponentChildren } from 'preact';
import type {
  AbuseIpdbFinding,
  EnrichedIndicator,
  IncidentEnrichment,
  IntelFinding,
  VirusTotalFinding,
} from '../../domain/enrichment';
import type { IncidentTicket } from '../../domain/incident';
import { when } from './format';
import { httpUrl } from './links';

/** `text` as a link to `href` when that is an http(s) URL, else `fallback` as plain text. */
function safeLink(href: string | undefined, text: string, fallback: ComponentChildren = text) {
  const url = httpUrl(href);
  return url ? h('a', { href: url, rel: 'noopener noreferrer', target: '_blank' }, text) : fallback;
}

function plural(n: number, one: string): string {
  return `${n} ${one}${n === 1 ? '' : 's'}`;
}

function virusTotalVerdict(f: VirusTotalFinding) {
  if (!f.found) return h('li', { 'data-source': 'virustotal' }, 'VirusTotal: not seen');
  return h(
    'li',
    { 'data-source': 'virustotal', class: f.malicious > 0 ? 'bad' : '' },
    `VirusTotal: ${f.malicious} malicious, ${f.suspicious} suspicious, ${f.harmless} harmless, ` +
      `${f.undetected} undetected` +
      (f.reputation !== undefined ? `; reputation ${f.reputation}` : ''),
    f.link ? [' · ', safeLink(f.link, 'report', h('code', { class: 'hash' }, f.link))] : null,
  );
}

function abuseIpdbVerdict(f: AbuseIpdbFinding) {
  const where = f.countryCode ? `, ${f.countryCode}` : '';
  const whitelisted = f.isWhitelisted ? ', whitelisted' : '';
  if (!f.found)
    return h('li', { 'data-source': 'abuseipdb' }, `AbuseIPDB: not reported${where}${whitelisted}`);
  return h(
    'li',
    { 'data-source': 'abuseipdb', class: f.confidence >= 50 && !f.isWhitelisted ? 'bad' : '' },
    `AbuseIPDB: confidence ${f.confidence}%, ${plural(f.totalReports, 'report')}${where}${whitelisted}`,
    f.lastReportedAt ? `, last ${when(f.lastReportedAt)}` : '',
  );
}

function verdict(f: IntelFinding) {
  if (f.source === 'virustotal') return virusTotalVerdict(f);
  if (f.source === 'abuseipdb') return abuseIpdbVerdict(f);
  // A source this console does not know yet: say at least whether it knew the indicator.
  const other = f as { source: string; found: boolean };
  return h('li', null, `${other.source}: ${other.found ? 'found' : 'not seen'}`);
}

function IndicatorRow({ indicator: i }: { indicator: EnrichedIndicator }) {
  return h(
    'tr',
    { 'data-indicator': i.indicator },
    h('td', { 'data-label': 'Kind' }, i.kind === 'file' ? 'file hash' : i.kind),
    h('td', { 'data-label': 'Indicator' }, h('code', { class: 'hash' }, i.indicator)),
    h(
      'td',
      { 'data-label': 'Verdicts' },
      i.findings.length ? h('ul', { class: 'verdicts' }, ...i.findings.map(verdict)) : '—',
    ),
    h(
      'td',
      { 'data-label': 'Errors' },
      i.errors.length
        ? h(
            'ul',
            { class: 'verdicts' },
            ...i.errors.map((e) =>
              h(
                'li',
                { class: 'error', title: e.message },
                `${e.source}: ${e.type}`,
                e.retryAfterMs !== undefined ? ` (retry after ${Math.ceil(e.retryAfterMs / 1000)} s)` : '',
              ),
            ),
          )
        : '—',
    ),
  );
}

/** How the lookups went, in a line: answered, timed out, failed, or nothing configured. */
function status(e: IncidentEnrichment) {
  if (e.timedOut)
    return h(
      'p',
      { class: 'notice', 'data-testid': 'intel-status' },
      `The lookups timed out after ${e.timeoutMs} ms: containment went on without them.`,
    );
  if (e.failure)
    return h(
      'p',
      { class: 'notice', 'data-testid': 'intel-status' },
      `The lookups failed (${e.failure.type}: ${e.failure.message}): containment went on without them.`,
    );
  if (!e.configured)
    return h(
      'p',
      { class: 'hint', 'data-testid': 'intel-status' },
      'No threat intelligence is configured on the worker: nothing was looked up.',
    );
  return h(
    'p',
    { class: 'hint', 'data-testid': 'intel-status' },
    `Looked up ${when(e.startedAt)} in ${e.sources.join(', ') || 'no source'}.`,
  );
}

/** The "Threat intelligence" section's body (the page shows the section only when there is an enrichment). */
export function Enrichment({ enrichment: e }: { enrichment: IncidentEnrichment }) {
  return h(
    'div',
    null,
    status(e),
    e.skippedInternal.length
      ? h(
          'p',
          { class: 'hint' },
          'Internal addresses not looked up: ',
          ...e.skippedInternal.flatMap((ip, n) => [n ? ', ' : '', h('code', { key: ip }, ip)]),
        )
      : null,
    e.indicators.length
      ? h(
          'table',
          { class: 'intel' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              ...['Kind', 'Indicator', 'Verdicts', 'Errors'].map((c) => h('th', { scope: 'col' }, c)),
            ),
          ),
          h(
            'tbody',
            null,
            ...e.indicators.map((i) => h(IndicatorRow, { key: `${i.kind}:${i.indicator}`, indicator: i })),
          ),
        )
      : e.configured && !e.timedOut && !e.failure
        ? h('p', null, 'No indicators to look up.')
        : null,
  );
}

/** "Ticket: SOC-42 (jira, open)", with the ticket a link when its address is http(s). */
export function TicketLine({ ticket: t }: { ticket: IncidentTicket }) {
  const body: ComponentChildren[] =
    t.status === 'not_configured'
      ? ['none: no ticket system is configured on the worker']
      : t.status === 'failed' && !t.key && !t.displayId
        ? [`opening it in ${t.system} failed`]
        : [
            safeLink(t.url, t.displayId ?? t.key ?? '(no ticket)'),
            ` (${t.system}, ${t.status === 'failed' ? 'failed: no more updates are sent' : t.status})`,
          ];
  return h(
    'p',
    { class: 'meta', 'data-testid': 'ticket' },
    'Ticket: ',
    ...body,
    t.lastError ? h('span', { class: 'error' }, ` · last error: ${t.lastError}`) : null,
  );
}
