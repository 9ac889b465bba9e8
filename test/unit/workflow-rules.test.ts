/**
 * The incident workflow's rules as plain functions, without a Temporal server: who may decide, how a decision
 * settles an approval, which containment the scope calls for, the saga's order, and what recovery waits for.
 * (The same rules run inside the workflow; test/integration covers them end to end on a real server.)
 */
import { isSettled, LIVE_ACTION_STATES } from '../../src/domain/actions';
import type { ApprovalDecisionRequest } from '../../src/contracts';
import type { Actor, Approval, IncidentAction, IncidentState } from '../../src/domain/incident';
import { parsePlaybook } from '../../src/playbooks/loader';
import { compensationOrder, containmentToPlan } from '../../workflows/incident/actions';
import {
  approverRefusal,
  closeRefusal,
  decisionRefusal,
  recordDecision,
  settleApproval,
} from '../../workflows/incident/approvals';
import { describeContainmentWait } from '../../workflows/incident/recovery';
import { sampleState } from '../api/support/fake-incidents';
import { testPlaybookYaml } from '../support/incident-harness';

const AT = '2026-12-01T10:00:00.000Z';
const who = (subject: string, ...roles: Actor['roles']): Actor => ({ subject, roles });
const bob = who('bob', 'approver');
const carol = who('carol', 'approver', 'responder');

function action(
  fields: Partial<IncidentAction> & Pick<IncidentAction, 'actionId' | 'kind' | 'target'>,
): IncidentAction {
  return {
    purpose: 'containment',
    policy: 'approve',
    state: 'pending_approval',
    attempts: 0,
    responderRetries: 0,
    createdAt: AT,
    resolutions: [],
    ...fields,
  };
}

function approval(fields: Partial<Approval> = {}): Approval {
  return {
    approvalId: 'apr-1',
    actionIds: ['act-1'],
    policy: 'approve',
    state: 'pending',
    requiredApprovers: 1,
    request: { action: 'isolate_host', target: 'ws-1', why: 'w', undo: 'u', severity: 'high' },
    requestedBy: ['alice'],
    decisions: [],
    refusedAttempts: [],
    requestedAt: AT,
    ...fields,
  };
}

function incident(actions: IncidentAction[], approvals: Approval[] = []): IncidentState {
  const s = sampleState();
  s.actions = actions;
  s.approvals = approvals;
  s.scope = { hosts: [], accounts: [], ips: [], domains: [] };
  return s;
}

const decide = (actor: Actor, approvalId = 'apr-1', decision: 'approve' | 'reject' = 'approve') =>
  ({ approvalId, decision, actor }) as ApprovalDecisionRequest;

describe('who may decide', () => {
  it('needs the approver role itself: admin alone is refused, naming separation of duties', () => {
    expect(approverRefusal(bob)).toBeUndefined();
    expect(approverRefusal(who('root', 'admin'))).toMatchObject({
      type: 'NotAnApprover',
      message: expect.stringContaining('separation of duties'),
    });
    expect(approverRefusal(who('root', 'admin', 'approver'))).toBeUndefined();
    expect(approverRefusal(who('rita', 'responder'))?.type).toBe('NotAnApprover');
    expect(approverRefusal(undefined)?.type).toBe('NotAnApprover');
  });

  it('refuses unknown, expired, decided, self- and duplicate approvals', () => {
    const s = incident(
      [action({ actionId: 'act-1', kind: 'isolate_host', target: 'ws-1' })],
      [
        approval({
          requiredApprovers: 2,
          policy: 'two_person',
          decisions: [{ decision: 'approve', decider: 'bob', roles: ['approver'], at: AT, via: 'update' }],
        }),
        approval({ approvalId: 'apr-2', state: 'expired' }),
        approval({ approvalId: 'apr-3', state: 'rejected' }),
      ],
    );
    expect(decisionRefusal(s, decide(carol, 'apr-404'))?.type).toBe('ApprovalNotFound');
    expect(decisionRefusal(s, decide(carol, 'apr-2'))?.type).toBe('ApprovalExpired');
    expect(decisionRefusal(s, decide(carol, 'apr-3'))).toMatchObject({
      type: 'ApprovalAlreadyDecided',
      message: 'approval apr-3 is already rejected',
    });
    expect(decisionRefusal(s, decide(who('alice', 'approver')))?.type).toBe('SelfApproval');
    expect(decisionRefusal(s, decide(bob))?.type).toBe('DuplicateApprover');
    expect(decisionRefusal(s, decide(carol))).toBeUndefined();
    // The role is checked first: a non-approver learns nothing about the approval.
    expect(decisionRefusal(s, decide(who('rita', 'responder'), 'apr-404'))?.type).toBe('NotAnApprover');
  });

  it('closes as resolved only in lessons learned, never twice, and only for approvers', () => {
    const s = incident([]);
    s.phase = 'containment';
    const close = (actor: Actor, resolution: 'resolved' | 'false_positive') => ({ actor, resolution });
    expect(closeRefusal(s, false, close(bob, 'resolved'))?.type).toBe('WrongPhase');
    expect(closeRefusal(s, false, close(bob, 'false_positive'))).toBeUndefined();
    expect(closeRefusal(s, true, close(bob, 'false_positive'))?.type).toBe('IncidentClosed');
    expect(closeRefusal(s, false, close(who('root', 'admin'), 'false_positive'))?.type).toBe('NotAnApprover');
    s.phase = 'lessons_learned';
    expect(closeRefusal(s, false, close(bob, 'resolved'))).toBeUndefined();
  });
});

describe('how decisions settle approvals', () => {
  it('a rejection settles at once; two-person approvals need two distinct approvals', () => {
    const rejected = incident(
      [action({ actionId: 'act-1', kind: 'isolate_host', target: 'ws-1' })],
      [approval()],
    );
    recordDecision(rejected, decide(bob, 'apr-1', 'reject'), 'update', AT);
    expect(rejected.approvals[0]).toMatchObject({ state: 'rejected', decidedAt: AT });
    expect(rejected.actions[0]).toMatchObject({
      state: 'rejected',
      reason: 'rejected by bob',
      finishedAt: AT,
    });

    const twoPerson = incident(
      [action({ actionId: 'act-1', kind: 'isolate_host', target: 'ws-1', policy: 'two_person' })],
      [approval({ policy: 'two_person', requiredApprovers: 2 })],
    );
    recordDecision(twoPerson, decide(bob), 'update', AT);
    expect(twoPerson.approvals[0]!.state).toBe('pending');
    expect(twoPerson.actions[0]!.state).toBe('pending_approval');
    recordDecision(twoPerson, decide(carol), 'signal', AT);
    expect(twoPerson.approvals[0]).toMatchObject({ state: 'approved' });
    expect(twoPerson.approvals[0]!.decisions.map((d) => [d.decider, d.via])).toEqual([
      ['bob', 'update'],
      ['carol', 'signal'],
    ]);
    // Approved actions are cleared to run: no finishing time yet.
    expect(twoPerson.actions[0]).toMatchObject({ state: 'approved' });
    expect(twoPerson.actions[0]!.finishedAt).toBeUndefined();
  });

  it('settling moves only the actions still waiting on the approval', () => {
    const s = incident(
      [
        action({ actionId: 'act-1', kind: 'isolate_host', target: 'ws-1' }),
        action({ actionId: 'act-2', kind: 'isolate_host', target: 'ws-2', state: 'succeeded' }),
      ],
      [approval({ actionIds: ['act-1', 'act-2'] })],
    );
    settleApproval(s, s.approvals[0]!, 'expired', 'expired', AT, 'expired without a decision');
    expect(s.actions.map((a) => a.state)).toEqual(['expired', 'succeeded']);
  });
});

describe('which containment the scope calls for', () => {
  const playbook = parsePlaybook(testPlaybookYaml(), 'test-pb.yaml').playbook;
  const plan = (s: IncidentState, opts: { only?: Set<string>; leaveInternal?: boolean } = {}) =>
    [
      ...containmentToPlan(s, playbook, {
        ...(opts.only ? { only: opts.only } : {}),
        leaveInternal: () => opts.leaveInternal ?? true,
      }),
    ].map((p) => `${p.kind}:${p.target}:${p.policy}`);

  it('one action per kind and target, under the policy for the severity', () => {
    const s = incident([]);
    s.severity = 'critical';
    s.scope = {
      hosts: ['ws-1', 'ws-2'],
      accounts: ['j.doe'],
      ips: ['203.0.113.5', '10.0.0.8'],
      domains: ['evil.example'],
    };
    // The test playbook has no block_domain: domains are investigated, not blocked.
    expect(plan(s)).toEqual([
      'isolate_host:ws-1:auto',
      'isolate_host:ws-2:auto',
      'disable_account:j.doe:approve',
      'block_ip:203.0.113.5:auto',
    ]);
    expect(plan(s, { leaveInternal: false })).toContain('block_ip:10.0.0.8:auto');
    expect(plan(s, { only: new Set(['ws-2']) })).toEqual(['isolate_host:ws-2:auto']);
  });

  it('a target gets a new containment only after the previous one was undone', () => {
    const s = incident([
      action({ actionId: 'act-1', kind: 'isolate_host', target: 'ws-1', state: 'succeeded' }),
      action({ actionId: 'act-2', kind: 'isolate_host', target: 'ws-2', state: 'compensated' }),
      action({ actionId: 'act-3', kind: 'isolate_host', target: 'ws-3', state: 'rejected' }),
    ]);
    s.severity = 'high';
    s.scope.hosts = ['ws-1', 'ws-2', 'ws-3'];
    // A rejected containment stays decided: correlation does not ask again for the same target.
    expect(plan(s)).toEqual(['isolate_host:ws-2:approve']);
  });

  it('the saga undoes what is in place, newest first; live and final states are one list', () => {
    const actions = [
      action({
        actionId: 'act-1',
        kind: 'isolate_host',
        target: 'a',
        state: 'succeeded',
        finishedAt: '2026-12-01T10:00:01Z',
      }),
      action({
        actionId: 'act-2',
        kind: 'block_ip',
        target: 'b',
        state: 'succeeded',
        finishedAt: '2026-12-01T10:00:03Z',
      }),
      action({ actionId: 'act-3', kind: 'disable_account', target: 'c', state: 'running' }),
      action({ actionId: 'act-4', kind: 'block_ip', target: 'd', state: 'failed' }),
      action({
        actionId: 'act-5',
        kind: 'release_host',
        target: 'a',
        purpose: 'recovery',
        state: 'succeeded',
      }),
    ];
    expect(compensationOrder(actions).map((a) => a.actionId)).toEqual(['act-3', 'act-2', 'act-1']);
    expect(LIVE_ACTION_STATES).toEqual(['pending_approval', 'approved', 'running', 'failed']);
    expect(actions.map(isSettled)).toEqual([true, true, false, false, true]);
  });
});

describe('what recovery waits for', () => {
  it('names each pending approval, failed action and running action, on one line', () => {
    const s = incident([
      action({ actionId: 'act-1', kind: 'isolate_host', target: 'ws\nforged', approvalId: 'apr-1' }),
      action({ actionId: 'act-2', kind: 'block_ip', target: '203.0.113.5', state: 'failed' }),
      action({ actionId: 'act-3', kind: 'disable_account', target: 'j.doe', state: 'running' }),
      action({ actionId: 'act-4', kind: 'isolate_host', target: 'ws-9', state: 'succeeded' }),
    ]);
    s.phase = 'recovery';
    const waiting = describeContainmentWait(s, AT);
    expect(waiting).toMatchObject({
      phase: 'recovery',
      since: AT,
      approvals: [{ approvalId: 'apr-1', action: 'isolate_host', target: 'ws\nforged' }],
      failedActions: [{ actionId: 'act-2', kind: 'block_ip', target: '203.0.113.5' }],
      runningActions: ['act-3'],
    });
    expect(waiting.summary).toBe(
      "Recovery waits for containment to settle: apr-1 (isolate_host ws\\nforged) awaits an approver's decision; " +
        'act-2 (block_ip 203.0.113.5) failed: retry or skip it; act-3 still running.',
    );
  });
});
