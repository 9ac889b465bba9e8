/** The history the report was read from: its runs and their event counts. */
import type { IncidentHistoryExport } from '../history';
import type { IncidentReport } from './types';

export function historyOf(exported: IncidentHistoryExport | undefined): IncidentReport['history'] {
  return {
    runs: (exported?.runs ?? []).map((r) => ({
      runId: r.runId,
      status: r.status,
      events: r.history.events.length,
    })),
    events: (exported?.runs ?? []).reduce((n, r) => n + r.history.events.length, 0),
  };
}
