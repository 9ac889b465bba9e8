/**
 * `quell playbook simulate`'s core: what a set of playbooks would do with some alerts, or with the alerts of a
 * recorded incident, and how that compares with what the recording says happened. Pure: nothing is executed,
 * nothing is sent, no clock and no network. The planning rules are the workflow's own (`actionsToPlan`), so
 * a simulation and a real incident plan alike.
 *
 * The model: alerts join in order (redeliveries count once); the incident's severity is re-evaluated with each
 * and never drops; containment is planned at the first alert and for what each later alert adds; an action
 * waiting for approval takes the policy of a raised severity (in a simulation nobody decides, so every
 * approval is still waiting); investigation and eradication actions are planned over the final scope at the
 * final severity. Timing (an approval decided before an escalation) and people's decisions are not simulated.
 */
import type { IncidentEnrichment } from '../domain/enrichment';
import {
  alertIdentity,
  maxSeverity,
  mergeScope,
  severityRank,
  type NormalizedAlert,
  type Severity,
} from '../domain/alert';
import type { ActionPhase, ApprovalPolicy, IncidentAction, IncidentState } from '../domain/incident';
import { oneLine } from '../domain/untrusted-text';
import { actionsToPlan } from '../../workflows/incident/actions';
import type { LoadedPlaybook, PlaybookRegistry } from './loader';
import { actionPolicy, correlationKeyFor, evaluateSeverity, incidentSeverityOf, matchesAny } from './policy';
import type { Playbook } from './schema';

/** An alert as it reached an incident, with who delivered it when known (they may not approve). */
export interface SimulatedAlertInput {
  alert: NormalizedAlert;
  raisedBy?: string;
}

/** What a recording says happened to one action (not recovery: undos follow from containment). */
export interface RecordedAction {
  actionId: string;
  purpose: ActionPhase;
  kind: string;
  target: string;
  policy: ApprovalPolicy;
  /** Its final state (succeeded, rejected, compensated, ...). */
  state: string;
  /** Who decided its approval and how (`alice: approve`), or what did (`approval expired: reject`). */
  decidedBy: string[];
}

/** A recorded incident: its alerts in order and what happened, as read from its history. */
export interface RecordedIncident {
  label: string;
  incidentId?: string;
  playbook: { id: string; version: number; hash: string };
  /** The severity the incident ended at (its last recorded state); undefined when no state was recorded. */
  severity?: Severity;
  /** What threat intelligence said during identification: nothing is looked up again, the recorded findings count. */
  enrichment?: IncidentEnrichment;
  alerts: SimulatedAlertInput[];
  actions: RecordedAction[];
}

/** One group of alerts to simulate: from alert files (grouped by correlation key) or a recorded incident. */
export interface SimulationInput {
  label: string;
  alerts: SimulatedAlertInput[];
  recorded?: RecordedIncident;
}

/** What an action's policy means for the responders. */
export type ActionVerdict = 'runs at once' | 'waits for 1 approver' | 'waits for 2 approvers' | 'never';

export interface SimulatedAction {
  purpose: ActionPhase;
  kind: string;
  target: string;
  policy: ApprovalPolicy;
  verdict: ActionVerdict;
  /** For approve / two_person: identities that may not approve it (whoever raised the alerts). */
  mayNotApprove?: string[];
}

export type ComparisonChange = 'policy changed' | 'new action' | 'no longer planned' | 'target differs';

export interface ActionComparison {
  purpose: ActionPhase;
  kind: string;
  /** The simulated target (the recorded one when the action is no longer planned). */
  target: string;
  result: 'same' | 'differs';
  change?: ComparisonChange;
  simulated?: { policy: ApprovalPolicy; verdict: ActionVerdict };
  recorded?: { target: string; policy: ApprovalPolicy; state: string; decidedBy: string[] };
}

export interface IncidentSimulation {
  label: string;
  incidentId?: string;
  /** Alerts counted once each (redeliveries left out). */
  alerts: number;
  playbook: { id: string; version: number; hash: string; file: string; why: string };
  severity: { value: Severity; reasons: string[] };
  actions: SimulatedAction[];
  /** Present for recorded incidents. */
  comparison?: {
    result: 'same' | 'differs';
    playbook: { recorded: { id: string; version: number; hash: string }; same: boolean };
    severity: { recorded?: Severity; same: boolean };
    actions: ActionComparison[];
  };
}

/** The verdict of a policy: what a responder sees happen. */
export function verdictOf(policy: ApprovalPolicy): ActionVerdict {
  return policy === 'auto'
    ? 'runs at once'
    : policy === 'approve'
      ? 'waits for 1 approver'
      : policy === 'two_person'
        ? 'waits for 2 approvers'
        : 'never';
}

/** Why the registry picked this playbook for the alert (the same order as `PlaybookRegistry.select`). */
export function whySelected(loaded: LoadedPlaybook, alert: NormalizedAlert): string {
  const pb = loaded.playbook;
  // `select` matches only the non-default playbooks; the default is what is left.
  if (pb.default) return 'default playbook (no other playbook matches)';
  const m = pb.match;
  const parts: string[] = [];
  if (m.sources) parts.push(`source ${oneLine(alert.source)} ~ ${m.sources.join('|')}`);
  if (matchesAny(alert.ruleName, m.rules))
    parts.push(`rule ${oneLine(alert.ruleName)} ~ ${(m.rules ?? []).join('|')}`);
  else if (m.types && alert.type !== undefined)
    parts.push(`type ${oneLine(alert.type)} ~ ${m.types.join('|')}`);
  return `match: ${parts.join(', ')} (priority ${pb.priority})`;
}

/** A severity rule's condition as the playbook writes it (`abuseipdb.confidence >= 90`, `srv-*|dc-*`). */
function describeCondition(v: unknown): string {
  if (Array.isArray(v)) return v.join('|');
  if (v && typeof v === 'object') {
    const c = v as { source?: string; field?: string; atLeast?: number; atMost?: number };
    if (c.source && c.field)
      return `${c.source}.${c.field} ${c.atLeast !== undefined ? `>= ${c.atLeast}` : `<= ${c.atMost}`}`;
    return JSON.stringify(v);
  }
  return String(v);
}

/**
 * Why the severity is what it is: the highest alert severity, the playbook's floor, and each severity rule
 * that holds for the scope and asks for more (each rule evaluated on its own through `evaluateSeverity`).
 */
export function severityReasons(
  playbook: Playbook,
  highest: NormalizedAlert['severity'],
  scope: IncidentState['scope'],
  enrichment?: IncidentEnrichment,
): string[] {
  const base = incidentSeverityOf(highest);
  const reasons = [`highest alert severity ${highest}${highest !== base ? ` (counts as ${base})` : ''}`];
  if (severityRank(playbook.severity.minimum) > severityRank(base))
    reasons.push(`playbook minimum ${playbook.severity.minimum}`);
  playbook.severity.rules.forEach((rule, i) => {
    if (severityRank(rule.atLeast) <= severityRank(maxSeverity(base, playbook.severity.minimum))) return;
    const alone = { ...playbook, severity: { minimum: 'low' as const, rules: [rule] } };
    if (evaluateSeverity(alone, 'low', scope, enrichment) !== rule.atLeast) return;
    const when = Object.entries(rule.when)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k} ${describeCondition(v)}`)
      .join(', ');
    reasons.push(`severity.rules[${i}]: at least ${rule.atLeast} (${when})`);
  });
  return reasons;
}

/** The minimal incident state the planner reads: severity, scope, and the actions already planned. */
interface PlanState {
  severity: Severity;
  scope: IncidentState['scope'];
  actions: Pick<IncidentAction, 'purpose' | 'kind' | 'target' | 'state'>[];
}

/**
 * Simulates one incident: the playbook the registry selects for its first alert, the severity, and the
 * actions it would plan with their policies; with a recording, the comparison with what happened.
 */
export function simulateIncident(registry: PlaybookRegistry, input: SimulationInput): IncidentSimulation {
  const first = input.alerts[0];
  if (!first) throw new TypeError(`${input.label}: no alerts to simulate`);
  const loaded = registry.select(first.alert);
  const playbook = loaded.playbook;
  const state: PlanState = {
    severity: 'low',
    scope: { hosts: [], accounts: [], ips: [], domains: [] },
    actions: [],
  };
  const planned: SimulatedAction[] = [];
  const raisers = new Set<string>();
  const seen = new Set<string>();
  let highest: NormalizedAlert['severity'] = first.alert.severity;
  // The planner's IncidentState needs only these fields (see actionsToPlan).
  const asState = () => state as unknown as IncidentState;
  const plan = (phase: ActionPhase, leaveInternal: boolean) => {
    for (const p of actionsToPlan(asState(), playbook, phase, { leaveInternal: () => leaveInternal })) {
      state.actions.push({ purpose: phase, kind: p.kind, target: p.target, state: 'pending_approval' });
      planned.push({
        purpose: phase,
        kind: p.kind,
        target: p.target,
        policy: p.policy,
        verdict: verdictOf(p.policy),
      });
    }
  };
  for (const { alert, raisedBy } of input.alerts) {
    const id = alertIdentity(alert);
    if (seen.has(id)) continue;
    const isFirst = seen.size === 0;
    seen.add(id);
    if (raisedBy) raisers.add(raisedBy);
    const widened = mergeScope(state.scope, alert.entities).length > 0;
    highest = isFirst ? alert.severity : maxSeverity(highest, alert.severity);
    const next = evaluateSeverity(playbook, highest, state.scope, input.recorded?.enrichment);
    const previous = state.severity;
    state.severity = isFirst || severityRank(next) > severityRank(previous) ? next : previous;
    const escalated = !isFirst && severityRank(state.severity) > severityRank(previous);
    if (escalated) {
      // Nobody decides in a simulation: every approval is still waiting and takes the new policy.
      for (const a of planned) {
        if (a.policy !== 'approve' && a.policy !== 'two_person') continue;
        const policy = actionPolicy(playbook, a.purpose, a.kind, state.severity);
        if (policy) Object.assign(a, { policy, verdict: verdictOf(policy) });
      }
    }
    // Internal addresses are left alone (the workflow's current rule for containment).
    if (isFirst || widened || escalated) plan('containment', true);
  }
  plan('investigation', false);
  plan('eradication', false);
  const mayNotApprove = [...raisers];
  for (const a of planned)
    if (a.policy === 'approve' || a.policy === 'two_person') a.mayNotApprove = mayNotApprove;

  const result: IncidentSimulation = {
    label: input.label,
    ...(input.recorded?.incidentId ? { incidentId: input.recorded.incidentId } : {}),
    alerts: seen.size,
    playbook: {
      id: playbook.id,
      version: playbook.version,
      hash: loaded.hash,
      file: loaded.file,
      why: whySelected(loaded, first.alert),
    },
    severity: {
      value: state.severity,
      reasons: severityReasons(playbook, highest, state.scope, input.recorded?.enrichment),
    },
    actions: planned,
  };
  if (input.recorded) result.comparison = compare(result, input.recorded);
  return result;
}

const keyOf = (a: { purpose: string; kind: string; target: string }) =>
  `${a.purpose}\u0000${a.kind}\u0000${a.target}`;

function compare(
  sim: IncidentSimulation,
  rec: RecordedIncident,
): NonNullable<IncidentSimulation['comparison']> {
  // The first recorded action per purpose, kind and target: a target contained again after its release
  // (a reopened incident) is the same plan.
  const recorded = new Map<string, RecordedAction>();
  for (const a of rec.actions) if (!recorded.has(keyOf(a))) recorded.set(keyOf(a), a);
  const simulated = new Map(sim.actions.map((a) => [keyOf(a), a]));
  const recOf = (a: RecordedAction) => ({
    target: a.target,
    policy: a.policy,
    state: a.state,
    decidedBy: a.decidedBy,
  });
  const rows: ActionComparison[] = [];
  const newOnes: SimulatedAction[] = [];
  for (const s of sim.actions) {
    const r = recorded.get(keyOf(s));
    if (!r) {
      newOnes.push(s);
      continue;
    }
    rows.push({
      purpose: s.purpose,
      kind: s.kind,
      target: s.target,
      result: r.policy === s.policy ? 'same' : 'differs',
      ...(r.policy === s.policy ? {} : { change: 'policy changed' as const }),
      simulated: { policy: s.policy, verdict: s.verdict },
      recorded: recOf(r),
    });
  }
  const gone = [...recorded.values()].filter((r) => !simulated.has(keyOf(r)));
  for (const s of newOnes) {
    // A new action of a kind whose recorded action has gone: the same action on another target.
    const i = gone.findIndex((r) => r.purpose === s.purpose && r.kind === s.kind);
    const r = i >= 0 ? gone.splice(i, 1)[0] : undefined;
    rows.push({
      purpose: s.purpose,
      kind: s.kind,
      target: s.target,
      result: 'differs',
      change: r ? 'target differs' : 'new action',
      simulated: { policy: s.policy, verdict: s.verdict },
      ...(r ? { recorded: recOf(r) } : {}),
    });
  }
  for (const r of gone) {
    rows.push({
      purpose: r.purpose,
      kind: r.kind,
      target: r.target,
      result: 'differs',
      change: 'no longer planned',
      recorded: recOf(r),
    });
  }
  const playbookSame = rec.playbook.id === sim.playbook.id && rec.playbook.version === sim.playbook.version;
  const severitySame = rec.severity === undefined || rec.severity === sim.severity.value;
  const same = playbookSame && severitySame && rows.every((r) => r.result === 'same');
  return {
    result: same ? 'same' : 'differs',
    playbook: { recorded: rec.playbook, same: playbookSame },
    severity: { ...(rec.severity ? { recorded: rec.severity } : {}), same: severitySame },
    actions: rows,
  };
}

/**
 * Groups loose alerts into incidents as intake would: by the correlation key of the playbook each selects,
 * in order of their first alert.
 */
export function groupAlerts(
  registry: PlaybookRegistry,
  alerts: readonly (SimulatedAlertInput & { label: string })[],
): SimulationInput[] {
  const groups = new Map<string, SimulationInput>();
  for (const a of alerts) {
    const pb = registry.select(a.alert).playbook;
    const key = correlationKeyFor(pb, a.alert);
    const group = groups.get(key);
    if (group) group.alerts.push(a);
    else groups.set(key, { label: a.label, alerts: [a] });
  }
  return [...groups.values()];
}
