/** Notifications to the playbook's routes: recorded in the state, never fatal to the incident. */
import { log } from '@temporalio/workflow';
import type { ApprovalNotice } from '../../src/domain/approval-notice';
import type { IncidentState, Phase } from '../../src/domain/incident';
import { oneLine } from '../../src/domain/untrusted-text';
import { phaseRoutes } from '../../src/playbooks/policy';
import { failureOf, notifyActivities } from './proxies';
import type { IncidentRun } from './run';

/**
 * Sends to each route; a failed notification is recorded, never fatal. Subject and text are one line each:
 * alert titles and entity names inside them cannot add lines to what people read.
 */
export async function notify(
  run: IncidentRun,
  routes: string[],
  subjectText: string,
  text: string,
  reason: string,
  approval?: ApprovalNotice,
): Promise<void> {
  const state = run.state;
  const subject = oneLine(subjectText);
  await Promise.all(
    [...new Set(routes)].map(async (route) => {
      const seq = ++run.notificationSeq;
      const record = {
        route,
        subject,
        reason,
        phase: state.phase,
        at: run.now(),
        delivered: false,
      } as IncidentState['notifications'][number];
      run.inFlight++;
      try {
        const result = await notifyActivities.notifyStakeholders({
          route,
          incidentId: state.incidentId,
          // Channels put the severity and the incident ID in front themselves.
          subject,
          text: oneLine(text),
          severity: state.severity,
          dedupKey: state.incidentId,
          idempotencyKey: `${state.incidentId}:notify:${seq}`,
          ...(reason === 'closed' ? { eventAction: 'resolve' as const } : {}),
          ...(approval ? { approval } : {}),
        });
        record.delivered = result.delivered;
      } catch (err) {
        record.error = failureOf(err).message;
        log.warn('notification failed', { incidentId: state.incidentId, route, error: record.error });
      } finally {
        run.inFlight--;
      }
      state.notifications.push(record);
    }),
  );
}

/** The playbook's notification for entering a phase at the incident's severity, if it routes one. */
export async function notifyPhase(run: IncidentRun, phase: Phase, text: string): Promise<void> {
  const routes = phaseRoutes(run.playbook, phase, run.state.severity);
  if (routes.length)
    await notify(run, routes, `${phase.replace('_', ' ')}: ${run.state.title}`, text, `phase ${phase}`);
}
