import type { Approval } from './incident';

/**
 * The approval a notification asks people to decide, with what an approver needs to know. Every string but
 * the IDs comes from alerts or playbooks: untrusted, escaped where rendered.
 */
export interface ApprovalNotice {
  approvalId: string;
  action: string;
  target: string;
  why: string;
  undo: string;
  severity: 'critical' | 'high' | 'medium' | 'low';
  policy: 'approve' | 'two_person';
  /** Distinct approvers the policy requires, and how many of them are still missing. */
  requiredApprovers: number;
  approversNeeded: number;
  requestedBy: string[];
  expiresAt?: string;
}

/** The notice for an approval as it stands (workflow-safe: the workflow builds it when an approval opens). */
export function approvalNotice(approval: Approval): ApprovalNotice {
  const approvals = approval.decisions.filter((d) => d.decision === 'approve').length;
  return {
    approvalId: approval.approvalId,
    action: approval.request.action,
    target: approval.request.target,
    why: approval.request.why,
    undo: approval.request.undo,
    severity: approval.request.severity,
    policy: approval.policy,
    requiredApprovers: approval.requiredApprovers,
    approversNeeded: Math.max(0, approval.requiredApprovers - approvals),
    requestedBy: approval.requestedBy,
    ...(approval.expiresAt ? { expiresAt: approval.expiresAt } : {}),
  };
}
