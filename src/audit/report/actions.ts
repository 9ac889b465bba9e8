/** Response actions: as the state holds them, with each execution the history records (attempts, outcome). */
import type { IncidentState } from '../../domain/incident';
import type { TimelineEntry } from '../timeline';
import { code, md } from './escape';
import type { ActionExecution, IncidentReport } from './types';

export function actionsOf(state: IncidentState, timeline: TimelineEntry[]): IncidentReport['actions'] {
  const executions = executionsByAction(timeline);
  return state.actions.map((a) => ({
    actionId: a.actionId,
    kind: a.kind,
    target: a.target,
    ...(a.files ? { files: a.files } : {}),
    purpose: a.purpose,
    policy: a.policy,
    state: a.state,
    ...(a.result?.detail ? { detail: a.result.detail } : {}),
    attempts: a.attempts,
    responderRetries: a.responderRetries,
    ...(a.approvalId ? { approvalId: a.approvalId } : {}),
    ...(a.undoes ? { undoes: a.undoes } : {}),
    ...(a.compensatedBy ? { compensatedBy: a.compensatedBy } : {}),
    ...(a.reason ? { reason: a.reason } : {}),
    ...(a.lastError ? { lastError: a.lastError } : {}),
    ...(a.startedAt ? { startedAt: a.startedAt } : {}),
    ...(a.finishedAt ? { finishedAt: a.finishedAt } : {}),
    resolutions: a.resolutions,
    executions: executions.get(a.actionId) ?? [],
  }));
}

/** The `action_executed` entries of the timeline, by action ID, in history order. */
function executionsByAction(timeline: TimelineEntry[]): Map<string, ActionExecution[]> {
  const executions = new Map<string, ActionExecution[]>();
  for (const e of timeline) {
    if (e.kind !== 'action_executed') continue;
    const id = e.details.actionId as string | undefined;
    if (!id) continue;
    executions.set(id, [
      ...(executions.get(id) ?? []),
      {
        at: e.at,
        outcome: String(e.details.outcome),
        attempts: Number(e.details.attempts ?? 0),
        ...(typeof e.details.durationSeconds === 'number'
          ? { durationSeconds: e.details.durationSeconds }
          : {}),
        ...(e.details.failure ? { failure: e.details.failure } : {}),
        refs: e.refs,
      },
    ]);
  }
  return executions;
}

/** One row per action; its executions cite their history events. */
export function actionsMarkdown(r: IncidentReport): string[] {
  return [
    '## Actions',
    '',
    '| Action | Target | Purpose | Policy | Outcome | Attempts | Executions (history events) |',
    '|---|---|---|---|---|---|---|',
    ...r.actions.map((a) => {
      const execs = a.executions
        .map(
          (x) =>
            `${x.outcome} after ${x.attempts} attempt(s)${x.durationSeconds !== undefined ? ` in ${x.durationSeconds.toFixed(2)}s` : ''} (#${x.refs.map((ref) => ref.eventId).join(',#')})`,
        )
        .join('; ');
      return `| ${md(a.actionId)} ${md(a.kind)} | ${code(a.target)}${a.files ? ` (files ${a.files.map((f) => code(f)).join(', ')})` : ''} | ${md(a.purpose)} | ${md(a.policy)} | ${md(a.state)}${a.reason ? ` (${md(a.reason)})` : ''}${a.detail ? ` (${md(a.detail)})` : ''} | ${a.attempts}${a.responderRetries ? ` (${a.responderRetries} responder retr${a.responderRetries === 1 ? 'y' : 'ies'})` : ''} | ${md(execs) || '-'} |`;
    }),
    '',
  ];
}
