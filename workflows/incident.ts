import {
  ApplicationFailure,
  condition,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { alertIdentity, maxSeverity, type NormalizedAlert, type Severity } from '../src/domain/alert';
import {
  buildIncidentId,
  incidentStateQuery,
  ingestAlertUpdate,
  SA_HOSTS,
  SA_INCIDENT_ID,
  SA_PHASE,
  SA_SEVERITY,
  SA_STATUS,
  type AlertReceipt,
} from '../src/domain/contracts';
import { summarizeAlert, type IncidentState } from '../src/domain/incident';

export interface IncidentWorkflowInput {
  correlationKey: string;
}

const RECENT_ALERTS = 10;

function incidentSeverity(alertSeverity: NormalizedAlert['severity']): Severity {
  return alertSeverity === 'informational' ? 'low' : alertSeverity;
}

/** One security incident, from the first alert to closure. */
export async function incidentWorkflow(input: IncidentWorkflowInput): Promise<IncidentState> {
  const info = workflowInfo();
  const now = () => new Date().toISOString();
  const seenAlertIds = new Set<string>();
  const state: IncidentState = {
    incidentId: buildIncidentId(info.workflowId, info.firstExecutionRunId),
    workflowId: info.workflowId,
    title: '',
    severity: 'low',
    phase: 'identification',
    status: 'open',
    correlationKey: input.correlationKey,
    openedAt: now(),
    scope: { hosts: [], accounts: [], ips: [], domains: [] },
    alerts: { count: 0, recent: [] },
    phaseTimestamps: { identification: now() },
  };

  setHandler(incidentStateQuery, () => state);
  setHandler(
    ingestAlertUpdate,
    (alert): AlertReceipt => {
      const alertId = alertIdentity(alert);
      if (seenAlertIds.has(alertId)) {
        return { incidentId: state.incidentId, alertId, deduplicated: true, alertCount: state.alerts.count };
      }
      seenAlertIds.add(alertId);
      if (!state.title) state.title = alert.title;
      state.severity =
        state.alerts.count === 0
          ? incidentSeverity(alert.severity)
          : maxSeverity(state.severity, incidentSeverity(alert.severity));
      for (const kind of ['hosts', 'accounts', 'ips', 'domains'] as const) {
        for (const entity of alert.entities[kind]) {
          if (!state.scope[kind].includes(entity)) state.scope[kind].push(entity);
        }
      }
      state.alerts.count += 1;
      state.alerts.recent = [...state.alerts.recent, summarizeAlert(alert, alertId)].slice(-RECENT_ALERTS);
      upsertSearchAttributes([
        { key: SA_SEVERITY, value: state.severity },
        { key: SA_HOSTS, value: state.scope.hosts },
      ]);
      return { incidentId: state.incidentId, alertId, deduplicated: false, alertCount: state.alerts.count };
    },
    {
      validator: (alert: NormalizedAlert) => {
        if (state.status !== 'open') {
          throw ApplicationFailure.create({
            type: 'IncidentClosing',
            message: 'the incident is closing',
            nonRetryable: true,
          });
        }
        if (!alert.source || !alert.sourceAlertId) throw new Error('alert has no identity');
      },
    },
  );

  upsertSearchAttributes([
    { key: SA_INCIDENT_ID, value: state.incidentId },
    { key: SA_PHASE, value: state.phase },
    { key: SA_STATUS, value: state.status },
  ]);

  await condition(() => state.status !== 'open');
  return state;
}
