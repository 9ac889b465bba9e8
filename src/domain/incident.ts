import type { AlertEntities, AlertSeverity, NormalizedAlert, Severity } from './alert';

export const PHASES = [
  'identification',
  'containment',
  'investigation',
  'eradication',
  'recovery',
  'lessons_learned',
  'closed',
] as const;
export type Phase = (typeof PHASES)[number];

export type IncidentStatus = 'open' | 'closed';

export interface AlertSummary {
  alertId: string;
  source: string;
  title: string;
  ruleName: string;
  severity: AlertSeverity;
  detectedAt: string;
  receivedAt: string;
}

export interface IncidentState {
  incidentId: string;
  workflowId: string;
  title: string;
  severity: Severity;
  phase: Phase;
  status: IncidentStatus;
  correlationKey: string;
  openedAt: string;
  scope: AlertEntities;
  alerts: { count: number; recent: AlertSummary[] };
  phaseTimestamps: Partial<Record<Phase, string>>;
}

export function summarizeAlert(alert: NormalizedAlert, alertId: string): AlertSummary {
  return {
    alertId,
    source: alert.source,
    title: alert.title,
    ruleName: alert.ruleName,
    severity: alert.severity,
    detectedAt: alert.detectedAt,
    receivedAt: alert.receivedAt,
  };
}
