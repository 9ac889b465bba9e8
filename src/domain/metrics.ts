import type { IncidentMetrics, TimelineMilestones } from './incident';

function secondsBetween(from: string | undefined, to: string | undefined): number | null {
  if (!from || !to) return null;
  const ms = Date.parse(to) - Date.parse(from);
  return Number.isFinite(ms) ? Math.max(0, Math.round(ms / 1000)) : null;
}

/**
 * MTTD, MTTA, MTTC and MTTR for one incident, from its own timestamps:
 * detect = first activity -> detection; acknowledge, contain, recover = opening -> first human response,
 * containment complete, recovery complete (or closure as a false positive).
 */
export function computeMetrics(m: TimelineMilestones): IncidentMetrics {
  return {
    mttdSeconds: secondsBetween(m.firstActivityAt, m.detectedAt),
    mttaSeconds: secondsBetween(m.openedAt, m.acknowledgedAt),
    mttcSeconds: secondsBetween(m.openedAt, m.containedAt),
    mttrSeconds: secondsBetween(m.openedAt, m.recoveredAt),
  };
}

/** A metric for people: seconds, minutes, hours or days (`n/a` when not reached). */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return 'n/a';
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172_800) return `${(seconds / 3600).toFixed(1)}h`;
  return `${(seconds / 86_400).toFixed(1)}d`;
}
