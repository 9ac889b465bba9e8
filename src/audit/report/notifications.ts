/** Notifications sent: how many, how many failed, how many per route. */
import type { IncidentState } from '../../domain/incident';
import { md } from './escape';
import type { IncidentReport } from './types';

export function notificationsOf(state: IncidentState): IncidentReport['notifications'] {
  const byRoute: Record<string, number> = {};
  for (const n of state.notifications) byRoute[n.route] = (byRoute[n.route] ?? 0) + 1;
  return {
    total: state.notifications.length,
    failed: state.notifications.filter((n) => !n.delivered).length,
    byRoute,
  };
}

export function notificationsMarkdown(r: IncidentReport): string[] {
  return [
    '## Notifications',
    '',
    `${r.notifications.total} sent (${r.notifications.failed} failed): ${
      Object.entries(r.notifications.byRoute)
        .map(([k, v]) => `${md(k)} ${v}`)
        .join(', ') || '-'
    }.`,
    '',
    ...ticketMarkdown(r),
  ];
}

/** Where the incident is mirrored, and whether the mirror kept up (its last error, if any). */
function ticketMarkdown(r: IncidentReport): string[] {
  const t = r.ticket;
  if (!t) return [];
  const name = t.displayId ?? t.key;
  const where =
    t.status === 'not_configured'
      ? 'no ticket system was configured on the worker'
      : `${md(t.system)} ${name ? md(name) : '(no ticket)'}${t.url ? ` (${md(t.url)})` : ''}: ${md(t.status)}` +
        `${t.openedAt ? `, opened ${md(t.openedAt)}` : ''}${t.closedAt ? `, closed ${md(t.closedAt)}` : ''}` +
        `, ${t.synced.length} update(s) sent`;
  return [`Ticket: ${where}.${t.lastError ? ` Last error: ${md(t.lastError)}.` : ''}`, ''];
}
