/**
 * Approvals with their deciders and refused attempts, and the refused requests that have no approval to be
 * kept on (decisions on unknown approvals, refused closes).
 */
import type { IncidentState, RefusedRequest } from '../../domain/incident';
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
