/**
 * Threat-intelligence enrichment in identification: the scope's external IPs, domains and file hashes are
 * looked up before severity is decided, so the playbook's enrichment rules can raise it before containment is
 * planned. Runs only for playbooks with an `enrichment` section: incidents of other playbooks issue no command here.
 */
import { condition, proxyActivities } from '@temporalio/workflow';
import type { IncidentActivities } from '../../activities';
import { severityRank } from '../../src/domain/alert';
import type { EnrichmentResult, IncidentEnrichment, IndicatorRef } from '../../src/domain/enrichment';
import { isInternalIp } from '../../src/domain/ip';
import { evaluateSeverity } from '../../src/playbooks/policy';
import { failureOf } from './proxies';
import type { IncidentRun } from './run';

/** Indicators of the scope the playbook's kinds name; internal IPs are left out (and listed). */
export function indicatorsToEnrich(
  run: IncidentRun,
  kinds: readonly string[],
): { indicators: IndicatorRef[]; skippedInternal: string[] } {
  const { scope } = run.state;
  const ips = kinds.includes('ip') ? scope.ips : [];
  return {
    indicators: [
      ...ips.filter((ip) => !isInternalIp(ip)).map((indicator) => ({ kind: 'ip' as const, indicator })),
      ...(kinds.includes('domain') ? scope.domains : []).map((indicator) => ({
        kind: 'domain' as const,
        indicator,
      })),
      ...(kinds.includes('file') ? (scope.files ?? []) : []).map((indicator) => ({
        kind: 'file' as const,
        indicator,
      })),
    ],
    skippedInternal: ips.filter(isInternalIp),
  };
}

function describeHit(enrichment: IncidentEnrichment): string {
  const hits = enrichment.indicators
    .filter((i) => i.findings.some((f) => f.found))
    .map((i) => i.indicator)
    .slice(0, 5);
  return hits.length ? ` (findings for ${hits.join(', ')})` : '';
}

/**
 * Looks the scope's indicators up (once per incident) and re-evaluates severity with the findings. Waits at
 * most the playbook's `enrichment.timeout` (the activity's schedule-to-close timeout is the same): past it,
 * or when the lookups fail, the incident records that and identification goes on without them.
 */
export async function enrichIdentification(run: IncidentRun): Promise<void> {
  const config = run.playbook.enrichment;
  const { state } = run;
  if (!config || state.enrichment) return;
  const { indicators, skippedInternal } = indicatorsToEnrich(run, config.kinds);
  const startedAt = run.now();
  const activities = proxyActivities<IncidentActivities>({
    scheduleToCloseTimeout: config.timeout,
    startToCloseTimeout: config.timeout,
    retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '2s', maximumAttempts: 3 },
  });
  let outcome: { result: EnrichmentResult } | { failure: { type: string; message: string } } | undefined;
  run.inFlight++;
  void activities
    .enrichIndicators({ incidentId: state.incidentId, indicators, concurrency: config.concurrency })
    .then(
      (result) => (outcome = { result }),
      (err: unknown) => {
        const { type, message } = failureOf(err);
        outcome = { failure: { type, message } };
      },
    )
    .finally(() => run.inFlight--);
  // The workflow's own race: containment is never held past the timeout, whatever the activity does.
  const answered = await condition(() => outcome !== undefined, config.timeout);
  const result = answered && outcome && 'result' in outcome ? outcome.result : undefined;
  const enrichment: IncidentEnrichment = {
    startedAt,
    at: run.now(),
    timeoutMs: config.timeout,
    timedOut: !answered,
    ...(answered && outcome && 'failure' in outcome ? { failure: outcome.failure } : {}),
    configured: result?.configured ?? true,
    sources: result?.sources ?? [],
    indicators: result?.indicators ?? [],
    skippedInternal,
  };
  state.enrichment = enrichment;
  if (!answered)
    run.addWorkflowNote(
      `Threat-intelligence lookups did not answer within ${config.timeout} ms: containment went on without them.`,
    );
  else if (enrichment.failure)
    run.addWorkflowNote(
      `Threat-intelligence lookups failed (${enrichment.failure.type}): containment went on without them.`,
    );
  else if (!enrichment.configured)
    run.addWorkflowNote('No threat intelligence is configured on the worker: nothing was looked up.');

  const previous = state.severity;
  const next = evaluateSeverity(run.playbook, run.highestAlertSeverity, state.scope, enrichment);
  if (severityRank(next) > severityRank(previous)) {
    state.severity = next;
    run.syncSearchAttributes();
    run.addWorkflowNote(
      `Threat intelligence raised the severity from ${previous} to ${next}${describeHit(enrichment)}.`,
    );
  }
}
