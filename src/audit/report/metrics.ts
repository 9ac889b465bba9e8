/** MTTD/MTTA/MTTC/MTTR, and when the incident entered each response phase. */
import { PHASES, type IncidentState } from '../../domain/incident';
import { formatDuration } from '../../domain/metrics';
import { md } from './escape';
import type { IncidentReport } from './types';

export function metricsOf(m: IncidentState['metrics']): IncidentReport['metrics'] {
  return {
    ...m,
    formatted: {
      MTTD: formatDuration(m.mttdSeconds),
      MTTA: formatDuration(m.mttaSeconds),
      MTTC: formatDuration(m.mttcSeconds),
      MTTR: formatDuration(m.mttrSeconds),
    },
  };
}

/** The phases entered, in response order. */
export function phasesOf(state: IncidentState): IncidentReport['phases'] {
  return PHASES.filter((p) => state.phaseTimestamps[p]).map((p) => ({
    phase: p,
    enteredAt: state.phaseTimestamps[p]!,
  }));
}

export function metricsMarkdown(r: IncidentReport): string[] {
  return [
    '## Metrics',
    '',
    '| MTTD | MTTA | MTTC | MTTR |',
    '|---|---|---|---|',
    `| ${r.metrics.formatted.MTTD} | ${r.metrics.formatted.MTTA} | ${r.metrics.formatted.MTTC} | ${r.metrics.formatted.MTTR} |`,
    '',
    'MTTD: first activity to detection; MTTA: opening to first human response; MTTC: opening to containment ' +
      'complete; MTTR: opening to recovery complete (or closure as a false positive).',
    '',
  ];
}

export function phasesMarkdown(r: IncidentReport): string[] {
  return [
    '## Phases',
    '',
    '| Phase | Entered |',
    '|---|---|',
    ...r.phases.map((p) => `| ${md(p.phase.replace('_', ' '))} | ${md(p.enteredAt)} |`),
    '',
  ];
}
