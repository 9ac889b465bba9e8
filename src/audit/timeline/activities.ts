/**
 * Actions, verifications, evidence and notifications, read from activity events: the input from
 * `ActivityTaskScheduled`, the last attempt from `ActivityTaskStarted`, the result, failure or timeout from
 * the close event, durations from the event times. Effect and check activities are read back as actions
 * through the action table (src/domain/actions.ts).
 */
import { BUILTIN_CATALOGUE } from '../../actions/catalogue';
import type { EvidenceSummary } from '../../domain/incident';
import { eventAttributes, type HistoryEventJson } from '../history-json';
import { firstPayloadValue } from '../payloads';
import type { TimelineCollector } from './collector';
import { describeFailure, failureSummary, ref, type FailureJson, type FailureSummary } from './events';
import type { Anchor, EntryBody, EventReader, EventRef, RunEvent } from './types';

interface ActivityRecord {
  runIndex: number;
  runId: string;
  scheduled: HistoryEventJson;
  type: string;
  input: unknown;
  started?: HistoryEventJson;
  closed?: HistoryEventJson;
}

/** One run's activities: an entry when each closes, and one for each still open at the end of the run. */
export class ActivityReader implements EventReader {
  private readonly open = new Map<number, ActivityRecord>();

  constructor(private readonly timeline: TimelineCollector) {}

  read(ev: RunEvent): void {
    switch (ev.event.eventType) {
      case 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED':
        return this.scheduled(ev);
      case 'EVENT_TYPE_ACTIVITY_TASK_STARTED':
        return this.started(ev);
      case 'EVENT_TYPE_ACTIVITY_TASK_COMPLETED':
      case 'EVENT_TYPE_ACTIVITY_TASK_FAILED':
      case 'EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT':
      case 'EVENT_TYPE_ACTIVITY_TASK_CANCELED':
        return this.closed(ev);
    }
  }

  private scheduled({ runIndex, runId, event, id, attrs }: RunEvent): void {
    const type = (attrs.activityType as { name?: string } | undefined)?.name ?? '?';
    this.open.set(id, { runIndex, runId, scheduled: event, type, input: firstPayloadValue(attrs.input) });
  }

  private started({ event, attrs }: RunEvent): void {
    const rec = this.open.get(Number(attrs.scheduledEventId));
    if (rec) rec.started = event;
  }

  /** Completed, failed, timed out or cancelled. */
  private closed({ event, attrs }: RunEvent): void {
    const rec = this.open.get(Number(attrs.scheduledEventId));
    if (!rec) return;
    rec.closed = event;
    this.open.delete(Number(attrs.scheduledEventId));
    this.add(rec);
  }

  /** Activities still open when the history was exported. */
  finish(): void {
    for (const rec of this.open.values()) this.add(rec);
  }

  private add(rec: ActivityRecord): void {
    const facts = activityFacts(rec);
    const anchor: Anchor = { runIndex: rec.runIndex, eventId: Number(rec.scheduled.eventId) };
    this.timeline.add(anchor, { at: rec.scheduled.eventTime ?? '', ...activityBody(rec, facts) });
  }
}

/** What every activity entry says: its times, outcome, attempts, and the failure when there is one. */
interface ActivityFacts {
  refs: EventRef[];
  base: {
    activityType: string;
    activityId?: string;
    scheduledAt?: string;
    lastAttemptStartedAt?: string;
    closedAt?: string;
    durationSeconds?: number;
    lastAttemptSeconds?: number;
  };
  outcome: string;
  result: unknown;
  failure?: FailureSummary;
  attempts: number;
  retryState?: string;
  lastFailure?: FailureSummary;
}

const seconds = (from: string | undefined, to: string | undefined): number | undefined =>
  from && to ? Math.max(0, (Date.parse(to) - Date.parse(from)) / 1000) : undefined;

function activityFacts(rec: ActivityRecord): ActivityFacts {
  const { scheduled, started, closed, runId } = rec;
  const refs = [scheduled, started, closed]
    .filter((e): e is HistoryEventJson => !!e)
    .map((e) => ref(runId, e));
  const sa = started ? eventAttributes<{ attempt?: number; lastFailure?: FailureJson }>(started) : undefined;
  const ca = closed ? eventAttributes<Record<string, unknown>>(closed) : undefined;
  const scheduledAt = scheduled.eventTime;
  const closedAt = closed?.eventTime;
  const base = {
    activityType: rec.type,
    activityId: eventAttributes<{ activityId?: string }>(scheduled).activityId,
    scheduledAt,
    ...(started?.eventTime ? { lastAttemptStartedAt: started.eventTime } : {}),
    ...(closedAt ? { closedAt } : {}),
    ...(seconds(scheduledAt, closedAt) !== undefined
      ? { durationSeconds: seconds(scheduledAt, closedAt) }
      : {}),
    ...(seconds(started?.eventTime, closedAt) !== undefined
      ? { lastAttemptSeconds: seconds(started?.eventTime, closedAt) }
      : {}),
  };
  const { outcome, result, failure } = closeOutcome(closed, ca);
  const failureAttempt = attemptOfFailure(ca?.failure as FailureJson | undefined);
  const retryState = ca?.retryState as string | undefined;
  return {
    refs,
    base,
    outcome,
    result,
    ...(failure ? { failure } : {}),
    attempts: sa?.attempt ?? failureAttempt ?? (closed ? 1 : 0),
    ...(retryState ? { retryState } : {}),
    ...(sa?.lastFailure ? { lastFailure: failureSummary(sa.lastFailure) } : {}),
  };
}

function closeOutcome(
  closed: HistoryEventJson | undefined,
  ca: Record<string, unknown> | undefined,
): { outcome: string; result?: unknown; failure?: FailureSummary } {
  switch (closed?.eventType) {
    case 'EVENT_TYPE_ACTIVITY_TASK_COMPLETED':
      return { outcome: 'succeeded', result: firstPayloadValue(ca?.result) };
    case 'EVENT_TYPE_ACTIVITY_TASK_FAILED':
      return { outcome: 'failed', failure: failureSummary(ca?.failure as FailureJson) };
    case 'EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT':
      return { outcome: 'timed out', failure: failureSummary(ca?.failure as FailureJson) };
    case 'EVENT_TYPE_ACTIVITY_TASK_CANCELED':
      return { outcome: 'cancelled' };
    default:
      return { outcome: 'in progress' };
  }
}

/**
 * Temporal records only the last attempt's start, so attempts are that attempt's number; a failure's details
 * carry the attempt the activity itself counted.
 */
function attemptOfFailure(f: FailureJson | undefined): number | undefined {
  try {
    const d = f?.applicationFailureInfo?.details
      ? firstPayloadValue<{ attempt?: number }>(f.applicationFailureInfo.details)
      : undefined;
    return d?.attempt;
  } catch {
    return undefined;
  }
}

function activityBody(rec: ActivityRecord, facts: ActivityFacts): EntryBody {
  if (rec.type === 'snapshotLogs') return evidence(rec, facts);
  if (rec.type === 'notifyStakeholders') return notification(rec, facts);
  if (TICKET_ACTIVITIES.has(rec.type)) return ticketCall(rec, facts);
  if (rec.type === 'enrichIndicators') return enrichment(rec, facts);
  const role = BUILTIN_CATALOGUE.activityRole(rec.type);
  if (role?.role === 'check') return actionVerified(rec, facts);
  if (role) return actionExecuted(rec, facts, role.kind);
  // An action from a deployment's own catalogue: its input names the action it performs.
  const input = rec.input as { actionId?: unknown; target?: unknown } | undefined;
  if (typeof input?.actionId === 'string' && typeof input.target === 'string')
    return actionExecuted(rec, facts, rec.type);
  const { refs, base, outcome, attempts, failure } = facts;
  return {
    kind: 'action_executed',
    summary: `Activity ${rec.type}: ${outcome}`,
    refs,
    details: { ...base, input: rec.input, outcome, attempts, ...(failure ? { failure } : {}) },
  };
}

function actionExecuted(rec: ActivityRecord, facts: ActivityFacts, actionKind: string): EntryBody {
  const { refs, base, outcome, attempts, failure, lastFailure, retryState } = facts;
  const input = rec.input as
    { actionId?: string; target?: string; comment?: string; incidentId?: string } | undefined;
  const r = facts.result as { alreadyInState?: boolean; vendorRef?: string; attempt?: number } | undefined;
  return {
    kind: 'action_executed',
    summary:
      `${actionKind} ${input?.target ?? '?'} (${input?.actionId ?? '?'}): ${outcome}` +
      ` after ${attempts} attempt${attempts === 1 ? '' : 's'}` +
      (base.durationSeconds !== undefined ? ` in ${base.durationSeconds.toFixed(3)} s` : '') +
      (failure ? ` - ${describeFailure(failure)}` : '') +
      (r?.alreadyInState ? ' (already in that state)' : ''),
    refs,
    details: {
      ...base,
      actionId: input?.actionId,
      action: actionKind,
      target: input?.target,
      input: rec.input,
      outcome,
      attempts,
      ...(r ? { result: r } : {}),
      ...(failure ? { failure } : {}),
      ...(lastFailure ? { lastAttemptFailure: lastFailure } : {}),
      ...(retryState ? { retryState } : {}),
    },
  };
}

function actionVerified(rec: ActivityRecord, facts: ActivityFacts): EntryBody {
  const { refs, base, outcome, attempts, failure } = facts;
  const input = rec.input as { target?: string } | undefined;
  const observed = (facts.result as { state?: string } | undefined)?.state;
  return {
    kind: 'action_verified',
    summary: `Verified ${input?.target ?? '?'}: ${observed ?? outcome}`,
    refs,
    details: {
      ...base,
      target: input?.target,
      outcome,
      observedState: observed,
      attempts,
      ...(failure ? { failure } : {}),
    },
  };
}

function evidence(rec: ActivityRecord, facts: ActivityFacts): EntryBody {
  const { refs, base, outcome, attempts, failure } = facts;
  const input = rec.input as { host?: string; from?: string; to?: string } | undefined;
  const ev = facts.result as EvidenceSummary | undefined;
  return {
    kind: ev ? 'evidence_collected' : 'evidence_failed',
    summary: ev
      ? `Evidence ${ev.evidenceId} collected: ${ev.name} (${ev.sizeBytes} bytes, sha256 ${ev.sha256})`
      : `Evidence collection for ${input?.host ?? '?'}: ${outcome}${failure ? ` - ${failure.message}` : ''}`,
    refs,
    details: {
      ...base,
      host: input?.host,
      window: input?.from ? { from: input.from, to: input.to } : undefined,
      outcome,
      attempts,
      ...(ev ? { evidence: ev } : {}),
      ...(failure ? { failure } : {}),
    },
  };
}

const TICKET_ACTIVITIES = new Set(['openTicket', 'commentTicket', 'closeTicket']);

/** Ticket sync calls read as notifications to the ticketing system (the text is the input's, as data). */
function ticketCall(rec: ActivityRecord, facts: ActivityFacts): EntryBody {
  const { refs, base, outcome, attempts, failure } = facts;
  const input = rec.input as { key?: string; eventKey?: string; text?: string; title?: string } | undefined;
  const result = facts.result as { configured?: boolean; displayId?: string; created?: boolean } | undefined;
  const what =
    rec.type === 'openTicket'
      ? `open${result?.displayId ? ` ${result.displayId}${result.created === false ? ' (found)' : ''}` : ''}`
      : rec.type === 'closeTicket'
        ? `close ${input?.key ?? '?'}`
        : `comment ${input?.eventKey ?? '?'}`;
  return {
    kind: 'notification',
    summary: `Ticket ${what}: ${result?.configured === false ? 'no ticket system configured' : outcome}`,
    refs,
    details: {
      ...base,
      ticketCall: rec.type,
      ...(input?.key ? { key: input.key } : {}),
      ...(input?.eventKey ? { eventKey: input.eventKey } : {}),
      text: input?.text ?? input?.title,
      outcome,
      attempts,
      ...(failure ? { failure } : {}),
    },
  };
}

/** Threat-intelligence lookups of identification: how many indicators, and how many some source knew. */
function enrichment(rec: ActivityRecord, facts: ActivityFacts): EntryBody {
  const { refs, base, outcome, attempts, failure } = facts;
  const asked = (rec.input as { indicators?: unknown[] } | undefined)?.indicators?.length ?? 0;
  const r = facts.result as
    | { configured?: boolean; sources?: string[]; indicators?: { findings?: { found?: boolean }[] }[] }
    | undefined;
  const known = r?.indicators?.filter((i) => i.findings?.some((f) => f.found)).length ?? 0;
  return {
    kind: 'indicators_enriched',
    summary:
      `Threat intelligence for ${asked} indicator${asked === 1 ? '' : 's'}: ` +
      (r?.configured === false
        ? 'no intelligence configured'
        : r
          ? `${known} known to ${r.sources?.join(', ') || 'no source'}`
          : outcome) +
      (failure ? ` - ${describeFailure(failure)}` : ''),
    refs,
    details: { ...base, input: rec.input, result: r, outcome, attempts, ...(failure ? { failure } : {}) },
  };
}

function notification(rec: ActivityRecord, facts: ActivityFacts): EntryBody {
  const { refs, base, outcome, attempts, failure } = facts;
  const input = rec.input as
    { route?: string; subject?: string; text?: string; severity?: string } | undefined;
  const delivered = (facts.result as { delivered?: boolean } | undefined)?.delivered;
  const escalation = /approval (apr-\d+) waiting/.exec(input?.subject ?? '');
  return {
    kind: escalation ? 'escalation_notice' : 'notification',
    summary: `${escalation ? 'Escalation' : 'Notification'} to ${input?.route ?? '?'}: ${input?.subject ?? ''} (${delivered === true ? 'delivered' : delivered === false ? 'not delivered' : outcome})`,
    refs,
    details: {
      ...base,
      route: input?.route,
      subject: input?.subject,
      text: input?.text,
      severity: input?.severity,
      ...(escalation ? { approvalId: escalation[1] } : {}),
      outcome,
      delivered,
      attempts,
      ...(failure ? { failure } : {}),
    },
  };
}
