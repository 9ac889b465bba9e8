/**
 * Pure playbook evaluation shared by the API (playbook selection, correlation) and the incident workflow
 * (severity, approval policy, notification routes). Workflow-safe: no Node builtins, no I/O, no zod at runtime.
 */
import {
  maxSeverity,
  type AlertEntities,
  type AlertSeverity,
  type NormalizedAlert,
  type Severity,
} from '../domain/alert';
import { enrichmentHolds, type IncidentEnrichment } from '../domain/enrichment';
import type { ActionPhase, ApprovalPolicy, Phase } from '../domain/incident';
import type { ActionConfig, Playbook } from './schema';

export function incidentSeverityOf(alertSeverity: AlertSeverity): Severity {
  return alertSeverity === 'informational' ? 'low' : alertSeverity;
}

const globCache = new Map<string, RegExp>();
/** Case-insensitive glob: `*` any run of characters, `?` one character. */
export function globToRegExp(glob: string): RegExp {
  let re = globCache.get(glob);
  if (!re) {
    const body = glob
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.');
    re = new RegExp(`^${body}$`, 'i');
    globCache.set(glob, re);
  }
  return re;
}

export function matchesAny(value: string | undefined, globs: readonly string[] | undefined): boolean {
  if (value === undefined || !globs) return false;
  return globs.some((g) => globToRegExp(g).test(value));
}

/** Asset tags of a host, from the playbook's asset inventory patterns. */
export function hostTags(playbook: Playbook, host: string): string[] {
  const tags = new Set<string>();
  for (const asset of playbook.assets)
    if (globToRegExp(asset.pattern).test(host)) asset.tags.forEach((t) => tags.add(t));
  return [...tags];
}

export function scopeSize(scope: AlertEntities): number {
  return scope.hosts.length + scope.accounts.length + scope.ips.length + scope.domains.length;
}

/**
 * The incident's severity: the most severe of the alerts' severities, the playbook's floor, and every severity
 * rule whose condition holds for the scope (asset criticality, scope size) and, once identification looked
 * the indicators up, for the threat-intelligence findings (`enrichment`; rules with an enrichment condition
 * never hold without it).
 */
export function evaluateSeverity(
  playbook: Playbook,
  highestAlertSeverity: AlertSeverity,
  scope: AlertEntities,
  enrichment?: Pick<IncidentEnrichment, 'indicators'>,
): Severity {
  let severity = maxSeverity(incidentSeverityOf(highestAlertSeverity), playbook.severity.minimum);
  for (const rule of playbook.severity.rules) {
    const w = rule.when;
    const holds =
      (w.hostPatterns === undefined || scope.hosts.some((h) => matchesAny(h, w.hostPatterns))) &&
      (w.accountPatterns === undefined || scope.accounts.some((a) => matchesAny(a, w.accountPatterns))) &&
      (w.assetTags === undefined ||
        scope.hosts.some((h) => hostTags(playbook, h).some((t) => w.assetTags?.includes(t)))) &&
      (w.minScopeSize === undefined || scopeSize(scope) >= w.minScopeSize) &&
      (w.enrichment === undefined || enrichmentHolds(w.enrichment, enrichment));
    if (holds) severity = maxSeverity(severity, rule.atLeast);
  }
  return severity;
}

/**
 * What the playbook says of an action it names in a phase; undefined when it does not name it there. Playbooks
 * recorded before investigation and eradication named actions have no such sections.
 */
export function actionConfig(playbook: Playbook, phase: ActionPhase, kind: string): ActionConfig | undefined {
  const section: Readonly<Record<string, ActionConfig | undefined>> | undefined =
    phase === 'containment'
      ? playbook.containment
      : phase === 'investigation'
        ? playbook.investigation?.actions
        : playbook.eradication.actions;
  return section && Object.prototype.hasOwnProperty.call(section, kind) ? section[kind] : undefined;
}

/** The approval policy for an action of a phase at a severity; undefined when the playbook does not name it there. */
export function actionPolicy(
  playbook: Playbook,
  phase: ActionPhase,
  kind: string,
  severity: Severity,
): ApprovalPolicy | undefined {
  return actionConfig(playbook, phase, kind)?.approval[severity];
}

/** The actions a playbook names in a phase, in the order it plans them. */
export function actionsOfPhase(playbook: Playbook, phase: ActionPhase): string[] {
  const section =
    phase === 'containment'
      ? playbook.containment
      : phase === 'investigation'
        ? playbook.investigation?.actions
        : playbook.eradication.actions;
  return section ? Object.keys(section).filter((k) => section[k] !== undefined) : [];
}

/** The retry policy of an action (recovery's for undos and for actions the playbook no longer names). */
export function retryOf(
  playbook: Playbook,
  purpose: ActionPhase | 'recovery',
  kind: string,
): ActionConfig['retry'] {
  return (
    (purpose === 'recovery' ? undefined : actionConfig(playbook, purpose, kind)?.retry) ??
    playbook.recovery.retry
  );
}

export function recoveryPolicy(playbook: Playbook, severity: Severity): ApprovalPolicy {
  return playbook.recovery.approval[severity];
}

export function requiredApprovers(policy: ApprovalPolicy): number {
  return policy === 'two_person' ? 2 : policy === 'approve' ? 1 : 0;
}

/** Routes to notify when the incident enters a phase at a severity. */
export function phaseRoutes(playbook: Playbook, phase: Phase, severity: Severity): string[] {
  const routes = new Set<string>();
  for (const rule of playbook.notifications.rules) {
    if (rule.phases.includes(phase) && rule.severities.includes(severity))
      rule.routes.forEach((r) => routes.add(r));
  }
  return [...routes];
}

/** Whether a playbook's matchers accept an alert (a playbook with no matchers accepts nothing). */
export function playbookMatches(playbook: Playbook, alert: NormalizedAlert): boolean {
  const m = playbook.match;
  if (!m.sources && !m.rules && !m.types) return false;
  return (
    (m.sources === undefined || matchesAny(alert.source, m.sources)) &&
    (m.rules === undefined && m.types === undefined
      ? true
      : matchesAny(alert.ruleName, m.rules) || matchesAny(alert.type, m.types))
  );
}

/** The entity an alert is mainly about: the first host, else account, else IP, else domain, else file hash. */
export function primaryEntity(alert: NormalizedAlert): string | undefined {
  const e = alert.entities;
  if (e.hosts[0]) return `host:${e.hosts[0].toLowerCase()}`;
  if (e.accounts[0]) return `account:${e.accounts[0].toLowerCase()}`;
  if (e.ips[0]) return `ip:${e.ips[0]}`;
  if (e.domains[0]) return `domain:${e.domains[0].toLowerCase()}`;
  if (e.files?.[0]) return `file:${e.files[0].toLowerCase()}`;
  return undefined;
}

/**
 * The correlation key from the playbook's template. Alerts with equal keys join one open incident. An alert
 * without the entity the template needs correlates only with itself (never with unrelated alerts), except one
 * that names no entity at all: it joins the other entity-less alerts of its rule within the playbook's
 * `entitylessWindow` (a window of the alert's detection time).
 */
export function correlationKeyFor(playbook: Playbook, alert: NormalizedAlert): string {
  const self = `alert:${alert.source}:${alert.sourceAlertId}`;
  const values: Record<string, string | undefined> = {
    rule: alert.ruleName,
    source: alert.source,
    type: alert.type,
    primaryEntity: primaryEntity(alert),
    host: alert.entities.hosts[0]?.toLowerCase(),
    account: alert.entities.accounts[0]?.toLowerCase(),
    ip: alert.entities.ips[0],
    domain: alert.entities.domains[0]?.toLowerCase(),
    file: alert.entities.files?.[0]?.toLowerCase(),
  };
  let missing = false;
  const key = playbook.correlation.key.replace(/\{(\w+)\}/g, (_m, name: string) => {
    const v = values[name];
    if (v === undefined) missing = true;
    return v ?? '';
  });
  if (!missing) return `${playbook.id}|${key}`;
  const window = playbook.correlation.entitylessWindow;
  const detected = Date.parse(alert.detectedAt);
  if (primaryEntity(alert) === undefined && window > 0 && Number.isFinite(detected)) {
    const start = new Date(Math.floor(detected / window) * window).toISOString();
    return `${playbook.id}|rule:${alert.ruleName.toLowerCase()}|no-entity|window:${start}/${window}ms`;
  }
  return `${playbook.id}|${self}`;
}
