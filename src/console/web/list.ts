/** The incident list: filters, paging by cursor, newest first, refreshed every few seconds. */
import { h } from 'preact';
import { useState } from 'preact/hooks';
import { PHASES, type Phase } from '../../domain/incident';
import type { IncidentListItem } from '../../incidents/types';
import { describeProblem, type Me } from './api';
import { age, useClock, useFocusOnShow, words } from './format';
import { usePolled } from './poll';

const SEVERITIES = ['critical', 'high', 'medium', 'low'] as const;
const POLL_MS = 3_000;

interface Filters {
  status: '' | 'open' | 'closed';
  severity: '' | (typeof SEVERITIES)[number];
  phase: '' | Phase;
  playbook: string;
}

function select(
  label: string,
  id: string,
  value: string,
  options: readonly string[],
  onChange: (v: string) => void,
) {
  return h(
    'label',
    { for: id },
    label,
    h(
      'select',
      { id, value, onChange: (e: Event) => onChange((e.target as HTMLSelectElement).value) },
      h('option', { value: '' }, 'any'),
      ...options.map((o) => h('option', { value: o }, words(o))),
    ),
  );
}

export function IncidentList(_props: { me: Me }) {
  const [filters, setFilters] = useState<Filters>({ status: '', severity: '', phase: '', playbook: '' });
  // Cursors of the pages before this one (the first page has none), so "Previous" can go back.
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const query = new URLSearchParams({ limit: '20' });
  for (const [k, v] of Object.entries(filters)) if (v) query.set(k, v as string);
  if (cursor) query.set('cursor', cursor);
  const list = usePolled<{ items: IncidentListItem[]; nextCursor?: string }>(
    `/api/v1/incidents?${query.toString()}`,
    POLL_MS,
  );
  const now = useClock();
  const heading = useFocusOnShow(true);
  const change = (key: keyof Filters) => (v: string) => {
    setCursors([]);
    setFilters({ ...filters, [key]: v });
  };
  const items = list.data?.items ?? [];
  return h(
    'main',
    { class: 'list' },
    h('h1', { ref: heading, tabIndex: -1 }, 'Incidents'),
    h(
      'form',
      { class: 'filters', 'aria-label': 'Filters', onSubmit: (e: Event) => e.preventDefault() },
      select('Status', 'f-status', filters.status, ['open', 'closed'], change('status')),
      select('Severity', 'f-severity', filters.severity, SEVERITIES, change('severity')),
      select('Phase', 'f-phase', filters.phase, PHASES, change('phase')),
      h(
        'label',
        { for: 'f-playbook' },
        'Playbook',
        h('input', {
          id: 'f-playbook',
          value: filters.playbook,
          placeholder: 'e.g. c2-traffic',
          onChange: (e: Event) => change('playbook')((e.target as HTMLInputElement).value.trim()),
        }),
      ),
    ),
    list.problem ? h('p', { class: 'error', role: 'alert' }, describeProblem(list.problem)) : null,
    h(
      'p',
      { class: 'hint', 'aria-live': 'polite' },
      list.data ? `${items.length} on this page; updates every ${POLL_MS / 1000} s.` : 'Loading…',
    ),
    h(
      'table',
      { class: 'incidents' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ...['Incident', 'Severity', 'Phase', 'Status', 'Approvals', 'Playbook', 'Hosts', 'Opened'].map(
            (c) => h('th', { scope: 'col' }, c),
          ),
        ),
      ),
      h(
        'tbody',
        null,
        ...items.map((i) =>
          h(
            'tr',
            { key: i.incidentId, 'data-incident': i.incidentId },
            h(
              'td',
              { 'data-label': 'Incident' },
              h('a', { href: `#/incidents/${i.incidentId}` }, i.title ?? i.incidentId),
              h('div', { class: 'id' }, i.incidentId),
            ),
            h(
              'td',
              { 'data-label': 'Severity' },
              h('span', { class: `sev sev-${i.severity ?? 'unknown'}` }, i.severity ?? '?'),
            ),
            h('td', { 'data-label': 'Phase' }, words(i.phase ?? '?')),
            h('td', { 'data-label': 'Status' }, i.status ?? '?'),
            h(
              'td',
              { 'data-label': 'Approvals' },
              i.pendingApprovals
                ? h('span', { class: 'badge state-pending' }, `${i.pendingApprovals} pending`)
                : '-',
            ),
            h('td', { 'data-label': 'Playbook' }, i.playbook ?? ''),
            h('td', { 'data-label': 'Hosts' }, i.hosts.join(', ')),
            h('td', { 'data-label': 'Opened', title: i.startedAt }, age(i.startedAt, now)),
          ),
        ),
      ),
    ),
    list.data && items.length === 0 ? h('p', null, 'No incidents match.') : null,
    h(
      'nav',
      { class: 'paging', 'aria-label': 'Pages' },
      h(
        'button',
        { type: 'button', disabled: cursors.length === 0, onClick: () => setCursors(cursors.slice(0, -1)) },
        'Previous page',
      ),
      h(
        'button',
        {
          type: 'button',
          disabled: !list.data?.nextCursor,
          onClick: () => list.data?.nextCursor && setCursors([...cursors, list.data.nextCursor]),
        },
        'Next page',
      ),
    ),
  );
}
