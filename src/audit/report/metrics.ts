/** MTTD/MTTA/MTTC/MTTR, and when the incident entered each response phase. */
import { PHASES, type IncidentState } from '../../domain/incident';
import { formatDuration } from '../../domain/metrics';
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
