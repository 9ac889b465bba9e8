/**
 * Approvals with their deciders and refused attempts, and the refused requests that have no approval to be
 * kept on (decisions on unknown approvals, refused closes).
 */
import type { IncidentState, RefusedRequest } from '../../domain/incident';
import { code, md } from './escape';
import type { IncidentReport } from './types';

export function approvalsOf(state: IncidentState): IncidentReport['approvals'] {
  return state.approvals.map((ap) => ({
    approvalId: ap.approvalId,
    action: ap.request.action,
    target: ap.request.target,
    policy: ap.policy,
    state: ap.state,
    requestedAt: ap.requestedAt,
    requestedBy: ap.requestedBy,
    why: ap.request.why,
    ...(ap.decidedAt ? { decidedAt: ap.decidedAt } : {}),
    ...(ap.escalatedAt ? { escalatedAt: ap.escalatedAt } : {}),
    ...(ap.expiryOutcome ? { expiryOutcome: ap.expiryOutcome } : {}),
    deciders: ap.decisions.map((d) => ({
      decider: d.decider,
      roles: d.roles,
      decision: d.decision,
      ...(d.comment ? { comment: d.comment } : {}),
      at: d.at,
      via: d.via,
    })),
    refused: ap.refusedAttempts.map((r) => ({
      decider: r.decider,
      ...(r.roles ? { roles: r.roles } : {}),
      decision: r.decision,
      type: r.type,
      reason: r.reason,
      at: r.at,
      via: r.via,
    })),
  }));
}

/** Refused requests and refused decision signals, as one list in time order. */
export function refusedRequestsOf(state: IncidentState): RefusedRequest[] {
  return [
    ...(state.refusedRequests ?? []),
    ...(state.refusedSignals ?? []).map((x): RefusedRequest => ({
      request: 'decideApproval',
      approvalId: x.approvalId,
      decision: x.decision,
      decider: x.decider,
      roles: x.roles ?? [],
      reason: x.reason,
      type: x.type,
      at: x.at,
      via: x.via,
    })),
  ].sort((a, b) => a.at.localeCompare(b.at));
}

/** One row per approval: the request, the outcome, who decided and whose attempts were refused. */
export function approvalsMarkdown(r: IncidentReport): string[] {
  return [
    '## Approvals',
    '',
    '| Approval | Request | Policy | Outcome | Deciders | Refused attempts |',
    '|---|---|---|---|---|---|',
    ...r.approvals.map((ap) => {
      const deciders = ap.deciders
        .map(
          (d) =>
            `${md(d.decider)} (${md(d.roles.join('/'))}) ${md(d.decision)} via ${md(d.via)} at ${md(d.at)}${d.comment ? `: "${md(d.comment)}"` : ''}`,
        )
        .join('; ');
      const refused = ap.refused
        .map(
          (x) =>
            `${md(x.decider)}${x.roles?.length ? ` (${md(x.roles.join('/'))})` : ''} ${md(x.decision)} via ${md(x.via)} at ${md(x.at)}: ${md(x.type)}`,
        )
        .join('; ');
      return `| ${md(ap.approvalId)} | ${md(ap.action)} ${code(ap.target)} (requested ${md(ap.requestedAt)} by ${md(ap.requestedBy.join(', ')) || '-'}) | ${md(ap.policy)} | ${md(ap.state)}${ap.expiryOutcome ? ` (on expiry: ${md(ap.expiryOutcome)})` : ''}${ap.escalatedAt ? `, escalated ${md(ap.escalatedAt)}` : ''} | ${deciders || '-'} | ${refused || '-'} |`;
    }),
    '',
  ];
}

/** Nothing when there are none. */
export function refusedRequestsMarkdown(r: IncidentReport): string[] {
  if (!r.refusedRequests.length) return [];
  return [
    '### Refused requests without an approval',
    '',
    'Decisions on approvals that do not exist, and close requests the incident refused.',
    '',
    '| When | Who | Request | Refusal |',
    '|---|---|---|---|',
    ...r.refusedRequests.map(
      (x) =>
        `| ${md(x.at)} | ${md(x.decider)}${x.roles.length ? ` (${md(x.roles.join('/'))})` : ''} | ${md(x.request)} ${md(x.decision)}${x.approvalId ? ` on ${md(x.approvalId)}` : ''} via ${md(x.via)} | ${md(x.type)}: ${md(x.reason)} |`,
    ),
    '',
  ];
}
