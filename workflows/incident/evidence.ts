/** Investigation's evidence: a log snapshot of every host in scope, stored with its hash and custody. */
import { log } from '@temporalio/workflow';
import type { IncidentState } from '../../src/domain/incident';
import { evidenceActivities, failureOf } from './proxies';
import type { IncidentRun } from './run';

export function hasLogEvidence(state: IncidentState, host: string): boolean {
  return state.evidence.some((e) => e.subject === host && e.name === `logs:${host}`);
}

/** Hosts in scope that no investigation has looked at yet (they joined after it began). */
export function uninvestigatedHosts(state: IncidentState): string[] {
  return state.scope.hosts.filter((h) => !hasLogEvidence(state, h) && !state.investigatedHosts?.includes(h));
}

/**
 * Snapshots the logs of each host into the evidence store (by default every host in scope without its
 * snapshot, so a host whose snapshot failed is tried again at the next investigation). A failure is a note,
 * never a failed incident.
 */
export async function collectEvidence(
  run: IncidentRun,
  hosts: string[] = run.state.scope.hosts.filter((h) => !hasLogEvidence(run.state, h)),
): Promise<void> {
  const { state, playbook } = run;
  const anchor = Date.parse(state.milestones.detectedAt ?? state.openedAt);
  const from = new Date(anchor - playbook.evidence.windowBefore).toISOString();
  const to = new Date(anchor + playbook.evidence.windowAfter).toISOString();
  state.investigatedHosts = [...new Set([...(state.investigatedHosts ?? []), ...hosts])];
  await Promise.all(
    hosts.map(async (host) => {
      run.inFlight++;
      try {
        const evidence = await evidenceActivities.snapshotLogs({
          incidentId: state.incidentId,
          host,
          from,
          to,
          idempotencyKey: `${state.incidentId}:evidence:logs:${host}`,
        });
        state.evidence.push(evidence);
      } catch (err) {
        const failure = failureOf(err);
        log.warn('evidence collection failed', {
          incidentId: state.incidentId,
          host,
          error: failure.message,
        });
        run.addWorkflowNote(`Evidence collection for ${host} failed: ${failure.type}: ${failure.message}`);
      } finally {
        run.inFlight--;
      }
    }),
  );
}

/**
 * Snapshots, at once and beside the phase loop, hosts that joined after investigation (closing waits for them).
 */
export function investigateLateHosts(run: IncidentRun): void {
  const hosts = uninvestigatedHosts(run.state);
  run.lateSnapshots++;
  void collectEvidence(run, hosts).finally(() => run.lateSnapshots--);
}
