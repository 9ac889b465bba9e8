/**
 * The activities as the workflow calls them: one proxy per retry policy. Types only from activities/, so no
 * activity code enters the workflow bundle.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  proxyActivities,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { CatalogueActivities, FailureDetails, IncidentActivities } from '../../activities';
import { EVIDENCE_HEARTBEAT_TIMEOUT_MS } from '../../src/contracts';
import type { IncidentAction } from '../../src/domain/incident';
import { retryOf } from '../../src/playbooks/policy';
import type { Playbook, RetryPolicyConfig } from '../../src/playbooks/schema';

export const notifyActivities = proxyActivities<IncidentActivities>({
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '5m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
});

export const evidenceActivities = proxyActivities<IncidentActivities>({
  startToCloseTimeout: '5m',
  heartbeatTimeout: EVIDENCE_HEARTBEAT_TIMEOUT_MS,
  scheduleToCloseTimeout: '30m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 10 },
});

function retryOptions(retry: RetryPolicyConfig, unlimited: boolean): ActivityOptions {
  return {
    startToCloseTimeout: retry.attemptTimeout,
    ...(unlimited ? {} : { scheduleToCloseTimeout: retry.totalTimeout }),
    retry: {
      initialInterval: retry.initialInterval,
      backoffCoefficient: retry.backoffCoefficient,
      maximumInterval: retry.maximumInterval,
      ...(unlimited ? {} : { maximumAttempts: retry.maximumAttempts }),
    },
  };
}

/**
 * The catalogue's activities for an action under the playbook's retry policy for it (recovery's for undos);
 * `unlimited` drops the attempt and time limits (false-positive compensation retries until done).
 */
export function actionActivities(
  playbook: Playbook,
  action: IncidentAction,
  unlimited: boolean,
): CatalogueActivities {
  return proxyActivities<CatalogueActivities>(
    retryOptions(retryOf(playbook, action.purpose, action.kind), unlimited),
  );
}

export interface ActivityFailureSummary {
  type: string;
  message: string;
  /** The activity's own attempt count, when the activity reported it. */
  attempt?: number;
}

/** What failed, by type (never by message text), with the attempt the activity counted. */
export function failureOf(err: unknown): ActivityFailureSummary {
  if (err instanceof ActivityFailure) {
    const cause = err.cause;
    if (cause instanceof ApplicationFailure) {
      const details = cause.details?.[0] as FailureDetails | undefined;
      return {
        type: cause.type ?? 'ApplicationFailure',
        message: cause.message,
        ...(details?.attempt !== undefined ? { attempt: details.attempt } : {}),
      };
    }
    return { type: cause?.name ?? 'ActivityFailure', message: cause?.message ?? err.message };
  }
  if (err instanceof ApplicationFailure)
    return { type: err.type ?? 'ApplicationFailure', message: err.message };
  return { type: 'Error', message: err instanceof Error ? err.message : String(err) };
}
