/**
 * Threat-intelligence enrichment in identification: the scope's external IPs, domains and file hashes are
 * looked up before severity is decided, so the playbook's enrichment rules can raise it before containment is
 * planned; the indicators later alerts add are looked up as they arrive. Runs only for playbooks with an
 * `enrichment` section: incidents of other playbooks issue no command here.
 */
import { condition, patched, proxyActivities } from '@temporalio/workflow';
import type { IncidentActivities } from '../../activities';
import { severityRank } from '../../src/domain/alert';
import type { EnrichmentResult, IncidentEnrichment, IndicatorRef } from '../../src/domain/enrichment';
import { isInternalIp } from '../../src/domain/ip';
import { evaluateSeverity, phaseRoutes } from '../../src/playbooks/policy';
import type { Playbook } from '../../src/playbooks/schema';
import { applySeverityToPendingApprovals } from './approvals';
import { notify } from './notify';
import { PATCHES } from './patches';
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
  const activities = lookupActivities(config);
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
    asked: indicators.map(keyOf),
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

  raiseSeverityByIntel(run, enrichment, 'Threat intelligence');
  // Alerts that joined while the lookups ran may have added indicators.
  enrichLaterIndicators(run);
}

type EnrichmentConfig = NonNullable<Playbook['enrichment']>;

function lookupActivities(config: EnrichmentConfig) {
  return proxyActivities<IncidentActivities>({
    scheduleToCloseTimeout: config.timeout,
    startToCloseTimeout: config.timeout,
    retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '2s', maximumAttempts: 3 },
  });
}

const keyOf = (i: IndicatorRef) => `${i.kind}:${i.indicator}`;

/** What has been asked about already (incidents enriched before `asked` existed: what identification found). */
function askedOf(e: IncidentEnrichment): Set<string> {
  return new Set(e.asked ?? [...e.indicators.map(keyOf), ...e.skippedInternal.map((ip) => `ip:${ip}`)]);
}

/** Raises severity when the findings call for it (it never drops); returns the severity before, if raised. */
function raiseSeverityByIntel(
  run: IncidentRun,
  enrichment: IncidentEnrichment,
  by: string,
): string | undefined {
  const { state } = run;
  const previous = state.severity;
  const next = evaluateSeverity(run.playbook, run.highestAlertSeverity, state.scope, enrichment);
  if (severityRank(next) <= severityRank(previous)) return undefined;
  state.severity = next;
  run.syncSearchAttributes();
  run.addWorkflowNote(`${by} raised the severity from ${previous} to ${next}${describeHit(enrichment)}.`);
  return previous;
}

/**
 * Looks up the indicators that alerts added after identification's lookups (in the background, one lookup at
 * a time: a lookup that finds more waiting goes on with them). Findings join the incident's enrichment; when
 * they raise severity, pending approvals take the new severity's policy and responders are told, as for a
 * correlated alert. Nothing waits for these lookups, so they never hold a phase.
 */
export function enrichLaterIndicators(run: IncidentRun): void {
  const config = run.playbook.enrichment;
  const e = run.state.enrichment;
  if (!config || !e || run.enrichingLater || run.closeRequest) return;
  if (!unaskedIndicators(run, config, e).length || !patched(PATCHES.enrichLaterAlerts)) return;
  run.enrichingLater = true;
  run.inFlight++;
  void lookUpLater(run, config).finally(() => {
    run.enrichingLater = false;
    run.inFlight--;
  });
}

/**
 * The scope's indicators nobody has asked about yet. The internal addresses later alerts added are never
 * asked about: they are listed in `skippedInternal` here, beside identification's.
 */
function unaskedIndicators(
  run: IncidentRun,
  config: EnrichmentConfig,
  e: IncidentEnrichment,
): IndicatorRef[] {
  const asked = askedOf(e);
  const { indicators, skippedInternal } = indicatorsToEnrich(run, config.kinds);
  for (const ip of skippedInternal) if (!e.skippedInternal.includes(ip)) e.skippedInternal.push(ip);
  return indicators.filter((i) => !asked.has(keyOf(i)));
}

async function lookUpLater(run: IncidentRun, config: EnrichmentConfig): Promise<void> {
  const { state } = run;
  const activities = lookupActivities(config);
  for (;;) {
    const e = state.enrichment!;
    const indicators = unaskedIndicators(run, config, e);
    if (!indicators.length || run.closeRequest) return;
    // Asked once, whatever the answer: a failing source is not asked again with every alert.
    e.asked = [...askedOf(e), ...indicators.map(keyOf)];
    const startedAt = run.now();
    let failure: { type: string; message: string } | undefined;
    try {
      const result = await activities.enrichIndicators({
        incidentId: state.incidentId,
        indicators,
        concurrency: config.concurrency,
      });
      e.indicators.push(...result.indicators);
    } catch (err) {
      const { type, message } = failureOf(err);
      failure = { type, message };
      run.addWorkflowNote(
        `Threat-intelligence lookups of ${indicators.length} indicator(s) from later alerts failed (${type}).`,
      );
    }
    (e.later ??= []).push({
      startedAt,
      at: run.now(),
      indicators: indicators.length,
      ...(failure ? { failure } : {}),
    });
    const previous = raiseSeverityByIntel(run, e, 'Threat intelligence on a later alert');
    if (previous && state.phase !== 'identification') {
      applySeverityToPendingApprovals(run);
      void notify(
        run,
        phaseRoutes(run.playbook, state.phase, state.severity).concat(run.playbook.notifications.responders),
        `severity raised to ${state.severity}`,
        `Threat intelligence on a later alert raised the incident from ${previous} to ${state.severity}${describeHit(e)}.`,
        'severity escalation',
      );
    }
  }
}
