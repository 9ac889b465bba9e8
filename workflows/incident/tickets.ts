/**
 * Ticket sync (playbooks with `tickets.sync` only): the incident mirrored to the SOC's ticketing system. A
 * ticket is opened once the incident is identified, each phase change and approval decision becomes a
 * comment, and closing the incident closes the ticket.
 *
 * It runs beside the phase loop and never blocks or fails the response: one coroutine reads what the state
 * says has happened, sends one call at a time in order (a small queue), and records each outcome in
 * `state.ticket`, so a retried or continued-as-new run never opens a second ticket or repeats a comment (and
 * the connectors are idempotent per key besides). A call that fails for good is recorded and skipped.
 * Playbooks without the section (every recorded history) start nothing and issue no command.
 */
import { condition, log, proxyActivities } from '@temporalio/workflow';
import type { IncidentActivities } from '../../activities';
import type { Approval, IncidentState, IncidentTicket, Phase } from '../../src/domain/incident';
import { formatDuration } from '../../src/domain/metrics';
import { failureOf } from './proxies';
import type { IncidentRun } from './run';

/** Bounded retries: a ticketing system that is down costs the incident at most a few minutes at closing. */
const ticketActivities = proxyActivities<IncidentActivities>({
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '5m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 6 },
});

/** The event key of the close call in `ticket.synced` (recorded when closing failed for good). */
const CLOSE_KEY = 'close';

/** Whether the incident's playbook mirrors it to a ticket. */
export function ticketSyncEnabled(run: IncidentRun): boolean {
  return run.playbook.tickets?.sync === true;
}

interface TicketEvent {
  key: string;
  at: string;
  /** Rendered only for the event sent (the queue is checked at every workflow activation). */
  text: () => string;
}

const phaseLabel = (phase: Phase) => phase.replace('_', ' ');

function phaseText(state: IncidentState, phase: Phase, at: string, scope: string): string {
  const actions = (purpose: string) =>
    state.actions
      .filter((a) => a.purpose === purpose)
      .map((a) => `${a.kind} ${a.target}: ${a.state}`)
      .join('; ');
  const done: Partial<Record<Phase, string>> = {
    investigation: actions('containment'),
    lessons_learned: actions('recovery'),
  };
  const summary = done[phase];
  return (
    `Phase: ${phaseLabel(phase)} (since ${at}).` +
    (scope ? ` Scope: ${scope}.` : '') +
    (summary ? ` ${phase === 'investigation' ? 'Containment' : 'Recovery'}: ${summary}.` : '')
  );
}

function approvalText(approval: Approval): string {
  const { action, target, why } = approval.request;
  const decisions = approval.decisions
    .map(
      (d) =>
        `${d.decider} ${d.decision === 'approve' ? 'approved' : 'rejected'}${d.comment ? ` ("${d.comment}")` : ''}`,
    )
    .join('; ');
  const outcome =
    approval.state === 'expired'
      ? `expired without a decision (${approval.expiryOutcome === 'approve' ? 'approved' : 'rejected'} by playbook policy)`
      : approval.state;
  return (
    `Approval ${approval.approvalId} ${outcome}: ${action} on ${target}.` +
    (decisions ? ` Decisions: ${decisions}.` : '') +
    ` Why: ${why}`
  );
}

/** What has happened and is not on the ticket yet, oldest first. */
function pendingEvents(run: IncidentRun, ticket: IncidentTicket): TicketEvent[] {
  const { state } = run;
  const synced = new Set(ticket.synced);
  const events: TicketEvent[] = [];
  for (const [phase, at] of Object.entries(state.phaseTimestamps) as [Phase, string][]) {
    // Opening says identification; closing the ticket says closed.
    if (phase === 'identification' || phase === 'closed' || !at) continue;
    const key = `phase:${phase}:${at}`;
    if (!synced.has(key))
      events.push({ key, at, text: () => phaseText(state, phase, at, run.scopeSummary()) });
  }
  for (const approval of state.approvals) {
    if (approval.state === 'pending' || !approval.decidedAt) continue;
    const key = `approval:${approval.approvalId}`;
    if (!synced.has(key)) events.push({ key, at: approval.decidedAt, text: () => approvalText(approval) });
  }
  // ISO timestamps order as strings; the sort is stable for events at the same time.
  return events.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
}

type Step =
  | { kind: 'open' }
  | { kind: 'comment'; ticket: IncidentTicket; event: TicketEvent }
  | { kind: 'close'; ticket: IncidentTicket };

/** The next call to make, or undefined when the ticket is up to date (or sync has stopped for good). */
function nextStep(run: IncidentRun): Step | undefined {
  const { state } = run;
  const ticket = state.ticket;
  if (!ticket) {
    // Opened once the incident is identified: an alert joined and the phase loop moved on.
    return state.alerts.count > 0 && state.phase !== 'identification' ? { kind: 'open' } : undefined;
  }
  if (ticket.status !== 'open') return undefined;
  const event = pendingEvents(run, ticket)[0];
  if (event) return { kind: 'comment', ticket, event };
  if (state.status === 'closed' && !ticket.synced.includes(CLOSE_KEY)) return { kind: 'close', ticket };
  return undefined;
}

/** Per run: whether a call is being made (a WeakMap, so run.ts needs no field for it). */
const busyRuns = new WeakMap<IncidentRun, boolean>();

function descriptionOf(run: IncidentRun): string {
  const s = run.state;
  return [
    `Quell incident ${s.incidentId} (${s.severity}), opened ${s.openedAt}.`,
    `Playbook: ${s.playbook.name} v${s.playbook.version}.`,
    `Alerts: ${s.alerts.count}.`,
    `Scope: ${run.scopeSummary() || '(none)'}.`,
  ].join('\n');
}

function recordFailure(ticket: IncidentTicket, what: string, err: unknown): void {
  ticket.lastError = `${what}: ${failureOf(err).message}`;
}

async function runStep(run: IncidentRun, step: Step): Promise<void> {
  const { state } = run;
  const incidentId = state.incidentId;
  switch (step.kind) {
    case 'open': {
      try {
        const opened = await ticketActivities.openTicket({
          incidentId,
          title: state.title,
          severity: state.severity,
          description: descriptionOf(run),
        });
        state.ticket = opened.configured
          ? {
              system: opened.system,
              status: 'open',
              key: opened.key,
              displayId: opened.displayId,
              ...(opened.url ? { url: opened.url } : {}),
              openedAt: run.now(),
              synced: [],
            }
          : { system: 'none', status: 'not_configured', synced: [] };
      } catch (err) {
        // Nothing to comment on or close without a ticket: sync stops here, the incident goes on.
        state.ticket = { system: 'unknown', status: 'failed', synced: [] };
        recordFailure(state.ticket, 'open', err);
        log.warn('ticket open failed', { incidentId, error: state.ticket.lastError });
      }
      return;
    }
    case 'comment': {
      const { ticket, event } = step;
      try {
        const result = await ticketActivities.commentTicket({
          incidentId,
          key: ticket.key!,
          text: event.text(),
          eventKey: event.key,
        });
        if (!result.configured) ticket.status = 'not_configured';
      } catch (err) {
        recordFailure(ticket, event.key, err);
        log.warn('ticket comment failed', { incidentId, event: event.key, error: ticket.lastError });
      }
      // Sent or failed for good: either way it is not sent again.
      ticket.synced.push(event.key);
      return;
    }
    case 'close': {
      const { ticket } = step;
      const resolution = state.resolution ?? 'resolved';
      const m = state.metrics;
      const comment = run.closeRequest?.comment;
      try {
        const result = await ticketActivities.closeTicket({
          incidentId,
          key: ticket.key!,
          resolution,
          text:
            `Incident closed as ${resolution.replace('_', ' ')}${comment ? `: ${comment}` : ''}. ` +
            `MTTA ${formatDuration(m.mttaSeconds)}, MTTC ${formatDuration(m.mttcSeconds)}, MTTR ${formatDuration(m.mttrSeconds)}.`,
        });
        if (!result.configured) ticket.status = 'not_configured';
        else {
          ticket.status = 'closed';
          ticket.closedAt = run.now();
        }
      } catch (err) {
        recordFailure(ticket, CLOSE_KEY, err);
        log.warn('ticket close failed', { incidentId, error: ticket.lastError });
      }
      ticket.synced.push(CLOSE_KEY);
      return;
    }
  }
}

/**
 * Starts the sync coroutine (after continue-as-new too: it resumes from `state.ticket`). Calls count in
 * `run.inFlight`, so continue-as-new waits for the one in flight. Does nothing unless the playbook enables it.
 */
export function startTicketSync(run: IncidentRun): void {
  if (!ticketSyncEnabled(run)) return;
  void (async () => {
    for (;;) {
      await condition(() => nextStep(run) !== undefined);
      const step = nextStep(run)!;
      busyRuns.set(run, true);
      run.inFlight++;
      try {
        await runStep(run, step);
      } finally {
        run.inFlight--;
        busyRuns.set(run, false);
      }
    }
  })();
}

/**
 * Waits until the ticket is up to date (closing calls it after the incident is closed, so the close call is
 * made before the run completes). Call it only when {@link ticketSyncEnabled}.
 */
export async function ticketsSettled(run: IncidentRun): Promise<void> {
  await condition(() => !busyRuns.get(run) && nextStep(run) === undefined);
}
