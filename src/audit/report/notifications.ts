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
  ];
}
