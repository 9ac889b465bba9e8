import { actionOf, actors, approvalFor, startHarness, type Harness } from '../support/incident-harness';
import { MemoryEstate } from '../support/memory-estate';

describe('actions that fail: retries, responder retry/skip, false-positive compensation', () => {
  let estate: MemoryEstate;
  let h: Harness;
  beforeAll(async () => {
    estate = new MemoryEstate();
    h = await startHarness({ connectors: estate.connectors() });
  });
  afterAll(() => h?.stop());

  it('retries transient failures to success within the playbook policy, applying the effect once', async () => {
    estate.fail('isolateHost', 'ws-flaky-1', 'transient', 2);
    const { incidentId: id } = await h.ingest({ severity: 'critical', hosts: ['ws-flaky-1'], accounts: [] });
    const s = await h.until(
      id,
      (x) => actionOf(x, 'isolate_host', 'ws-flaky-1').state === 'succeeded',
      'isolation',
    );
    expect(actionOf(s, 'isolate_host', 'ws-flaky-1').attempts).toBe(3);
    expect(estate.calls.filter((c) => c.op === 'isolateHost' && c.target === 'ws-flaky-1')).toHaveLength(3);
    expect(estate.effects('contain', 'ws-flaky-1')).toHaveLength(1);
    // Every call carried the same idempotency key.
    expect(
      new Set(
        estate.calls.filter((c) => c.op === 'isolateHost' && c.target === 'ws-flaky-1').map((c) => c.key),
      ).size,
    ).toBe(1);
  });

  it('a permanent failure waits for a responder: retry resumes that action only, skip moves on', async () => {
    estate.fail('isolateHost', 'ws-perm-1', 'permanent', 1);
    estate.fail('blockIp', '198.51.100.9', 'permanent', 5);
    const { incidentId: id } = await h.ingest({
      severity: 'critical',
      hosts: ['ws-perm-1'],
      accounts: [],
      ips: ['198.51.100.9'],
    });
    let s = await h.until(
      id,
      (x) =>
        actionOf(x, 'isolate_host', 'ws-perm-1').state === 'failed' &&
        actionOf(x, 'block_ip', '198.51.100.9').state === 'failed',
      'both failed',
    );
    const isolate = actionOf(s, 'isolate_host', 'ws-perm-1');
    // Non-retryable: one attempt, typed error, responders told, incident still open in containment.
    expect(isolate).toMatchObject({ attempts: 1, lastError: { type: 'PermanentConnectorError' } });
    expect(s).toMatchObject({ status: 'open', phase: 'containment' });
    await h.until(
      id,
      (x) => x.notifications.some((n) => n.reason === `action failed ${isolate.actionId}`),
      'failure notice',
    );

    await expect(
      h.service.resolveFailedAction(id, 'act-999', 'retry', undefined, actors.rita),
    ).rejects.toMatchObject({ type: 'ActionNotFound', httpStatus: 404 });
    const retried = await h.service.resolveFailedAction(
      id,
      isolate.actionId,
      'retry',
      'vendor fixed the API key',
      actors.rita,
    );
    expect(retried.resolutions).toEqual([expect.objectContaining({ resolution: 'retry', by: 'rita' })]);
    // The answer says what happens next (queued to run again), and the error's attempt counts like `attempts`.
    expect(retried).toMatchObject({ state: 'approved', attempts: 1, lastError: { attempt: 1 } });
    s = await h.until(
      id,
      (x) => actionOf(x, 'isolate_host', 'ws-perm-1').state === 'succeeded',
      'retried isolation',
    );
    expect(actionOf(s, 'isolate_host', 'ws-perm-1')).toMatchObject({ attempts: 2, responderRetries: 1 });
    await expect(
      h.service.resolveFailedAction(id, isolate.actionId, 'retry', undefined, actors.rita),
    ).rejects.toMatchObject({ type: 'ActionNotFailed', httpStatus: 409 });
    expect(estate.effects('contain', 'ws-perm-1')).toHaveLength(1);
    // The block that still fails keeps the incident in containment until someone skips it.
    expect(s.phase).toBe('containment');
    const block = actionOf(s, 'block_ip', '198.51.100.9');
    expect(block.lastError?.attempt).toBe(block.attempts);
    const skipped = await h.service.resolveFailedAction(
      id,
      block.actionId,
      'skip',
      'blocked at the ISP instead',
      actors.rita,
    );
    expect(skipped.state).toBe('skipped');
    s = await h.until(id, (x) => x.phase === 'eradication', 'eradication');
    expect(actionOf(s, 'block_ip', '198.51.100.9').state).toBe('skipped');
  });

  it('closing as a false positive undoes every containment in reverse order, then closes', async () => {
    const { incidentId: id } = await h.ingest({
      severity: 'critical',
      hosts: ['ws-fp-1'],
      accounts: ['fp.user'],
      ips: ['192.0.2.44'],
    });
    let s = await h.until(id, (x) => x.approvals.some((a) => a.state === 'pending'), 'approval for disable');
    // isolate and block are auto at critical; disable_account needs an approver.
    const disable = actionOf(s, 'disable_account', 'fp.user');
    s = await h.until(
      id,
      (x) =>
        ['isolate_host', 'block_ip'].every((k) => x.actions.find((a) => a.kind === k)?.state === 'succeeded'),
      'auto containment',
    );
    await h.service.decideApproval(
      id,
      approvalFor(s, disable.actionId).approvalId,
      'approve',
      undefined,
      actors.alice,
    );
    await h.until(id, (x) => actionOf(x, 'disable_account', 'fp.user').state === 'succeeded', 'disable');

    await expect(h.service.close(id, 'resolved', undefined, actors.alice)).rejects.toMatchObject({
      type: 'WrongPhase',
      httpStatus: 409,
    });
    await expect(h.service.close(id, 'false_positive', undefined, actors.rita)).rejects.toMatchObject({
      type: 'NotAnApprover',
      httpStatus: 403,
    });
    const beforeClose = await h.state(id);
    const containment = beforeClose.actions.filter(
      (a) => a.purpose === 'containment' && a.state === 'succeeded',
    );
    const expectedOrder = [...containment]
      .sort((a, b) => b.finishedAt!.localeCompare(a.finishedAt!))
      .map((a) => a.actionId);
    const receipt = await h.service.close(id, 'false_positive', 'benign admin script', actors.bob);
    expect(receipt.compensating).toEqual(expectedOrder);

    s = await h.until(id, (x) => x.status === 'closed', 'closed');
    expect(s.resolution).toBe('false_positive');
    expect(estate.hosts.get('ws-fp-1')).toBe('normal');
    expect(estate.accounts.get('fp.user')).toBe('active');
    expect(estate.ips.has('192.0.2.44')).toBe(false);
    const undoTargets = s.actions.filter((a) => a.saga).map((a) => a.undoes);
    expect(undoTargets).toEqual(expectedOrder);
    // The estate saw the undos in that order too.
    const undoEffects = estate.ledger.filter(
      (e) =>
        ['release', 'enable', 'unblockIp'].includes(e.effect) &&
        ['ws-fp-1', 'fp.user', '192.0.2.44'].includes(e.target),
    );
    const targetOf = (actionId: string) => s.actions.find((a) => a.actionId === actionId)!.target;
    expect(undoEffects.map((e) => e.target)).toEqual(expectedOrder.map(targetOf));
    expect(s.actions.filter((a) => a.purpose === 'containment').every((a) => a.state === 'compensated')).toBe(
      true,
    );
  });
});
