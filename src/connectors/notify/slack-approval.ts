/**
 * The Slack approval card: what an approver must know (what action on which target, why, how it is undone,
 * severity, who requested it, approvers still needed, expiry) and Approve / Reject buttons whose value names
 * the incident and the approval. Built for the first notification and again, from the approval's state, when
 * a decision updates the message. Untrusted strings go through `slackText`.
 */
import { approvalNotice, type ApprovalNotice } from '../../domain/approval-notice';
import type { Approval } from '../../domain/incident';
import { oneLine, slackText } from '../../domain/untrusted-text';

export const SLACK_APPROVE_ACTION = 'quell_approve';
export const SLACK_REJECT_ACTION = 'quell_reject';
/** The block holding the buttons. */
export const SLACK_APPROVAL_BLOCK = 'quell_approval';

/** A button's value: `<incidentId> <approvalId>` (neither contains a space). */
export function approvalButtonValue(incidentId: string, approvalId: string): string {
  return `${incidentId} ${approvalId}`;
}

/** The incident and approval a button names, or undefined when the value is not one of Quell's. */
export function parseApprovalButtonValue(
  value: string,
): { incidentId: string; approvalId: string } | undefined {
  const m = /^(INC-[A-Za-z0-9-]{1,80}) (apr-\d{1,9})$/.exec(value);
  return m ? { incidentId: m[1]!, approvalId: m[2]! } : undefined;
}

const text = (s: string, max: number) => slackText(oneLine(s)).slice(0, max);

function expiryText(iso: string | undefined): string {
  if (!iso) return 'none';
  const seconds = Math.floor(Date.parse(iso) / 1000);
  // Slack renders the date in the reader's time zone; the fallback is the ISO time.
  return Number.isFinite(seconds) ? `<!date^${seconds}^{date_short_pretty} {time}|${iso}>` : text(iso, 40);
}

function decisionsLine(approval: Pick<Approval, 'decisions'>): string | undefined {
  if (approval.decisions.length === 0) return undefined;
  return approval.decisions
    .map(
      (d) =>
        `${d.decision === 'approve' ? 'approved' : 'rejected'} by *${text(d.decider, 100)}* via ${d.via}`,
    )
    .join(', ');
}

/** How a settled approval ended, in words: "Approved by alice", "Expired without a decision", ... */
export function approvalOutcome(approval: Approval): string {
  const by = [...new Set(approval.decisions.map((d) => d.decider))].join(' and ');
  switch (approval.state) {
    case 'approved':
      return `Approved by ${by}`;
    case 'rejected':
      return `Rejected by ${approval.decisions.find((d) => d.decision === 'reject')?.decider ?? by}`;
    case 'expired':
      return approval.expiryOutcome === 'approve'
        ? 'Approved on expiry by playbook policy'
        : 'Expired without a decision';
    case 'cancelled':
      return 'Cancelled (the playbook policy changed)';
    default:
      return by ? `Pending: ${by} decided, another approver is needed` : 'Pending';
  }
}

/**
 * The card's blocks: the request, the decisions so far, and while it is pending the Approve / Reject
 * buttons; once settled, the outcome instead of the buttons.
 */
export function approvalCardBlocks(
  incidentId: string,
  notice: ApprovalNotice,
  settled?: { approval: Approval },
): unknown[] {
  const approval = settled?.approval;
  const needed = approval
    ? Math.max(
        0,
        approval.requiredApprovers - approval.decisions.filter((d) => d.decision === 'approve').length,
      )
    : notice.approversNeeded;
  const blocks: unknown[] = [
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `*Approval ${text(notice.approvalId, 20)}*: \`${text(notice.action, 60)}\` on \`${text(notice.target, 300)}\``,
      },
      fields: [
        { type: 'mrkdwn', text: `*Why*\n${text(notice.why, 1900) || '_(not given)_'}` },
        { type: 'mrkdwn', text: `*Undo*\n${text(notice.undo, 1900)}` },
        { type: 'mrkdwn', text: `*Severity*\n${text(notice.severity, 20)}` },
        {
          type: 'mrkdwn',
          text: `*Requested by*\n${text(notice.requestedBy.join(', '), 1900) || '_(nobody)_'}`,
        },
        {
          type: 'mrkdwn',
          text: `*Approvers*\n${needed} of ${notice.requiredApprovers} still needed${notice.policy === 'two_person' ? ' (two distinct people)' : ''}`,
        },
        { type: 'mrkdwn', text: `*Expires*\n${expiryText(notice.expiresAt)}` },
      ],
    },
  ];
  const decided = approval ? decisionsLine(approval) : undefined;
  if (decided) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: decided.slice(0, 3000) }] });
  if (!approval || approval.state === 'pending') {
    const value = approvalButtonValue(incidentId, notice.approvalId);
    blocks.push({
      type: 'actions',
      block_id: SLACK_APPROVAL_BLOCK,
      elements: [
        {
          type: 'button',
          action_id: SLACK_APPROVE_ACTION,
          style: 'primary',
          text: { type: 'plain_text', text: 'Approve' },
          value,
        },
        {
          type: 'button',
          action_id: SLACK_REJECT_ACTION,
          style: 'danger',
          text: { type: 'plain_text', text: 'Reject' },
          value,
        },
      ],
    });
  } else {
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: `*${text(approvalOutcome(approval), 2900)}*` },
    });
  }
  return blocks;
}

/** The whole message for an approval as it stands, to replace the original card after a decision. */
export function approvalMessage(incidentId: string, approval: Approval): { text: string; blocks: unknown[] } {
  const headline = oneLine(
    `Approval ${approval.approvalId}: ${approval.request.action} on ${approval.request.target}`,
  ).slice(0, 150);
  // The settled card counts the approvers still needed from the approval itself.
  const notice = approvalNotice(approval);
  return {
    text: oneLine(`${incidentId}: ${headline}: ${approvalOutcome(approval)}`),
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: headline } },
      ...approvalCardBlocks(incidentId, notice, { approval }),
      { type: 'context', elements: [{ type: 'mrkdwn', text: `incident \`${slackText(incidentId)}\`` }] },
    ],
  };
}
