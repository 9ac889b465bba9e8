import { LAB_CREDENTIALS, type RunningLab } from '../../src/connectors/lab';
import { JiraTickets, jiraIncidentLabel } from '../../src/connectors/tickets/jira';
import { adfPlainText, commentRef } from '../../src/connectors/tickets/text';
import { ERROR_NAMES, actionCtx, expectConnectorError, faultMatrix, labAllowList, useLab } from './support';

const ctl = useLab();

function jira(lab: RunningLab = ctl.lab, opts: { timeoutMs?: number; apiToken?: string } = {}) {
  return new JiraTickets({
    baseUrl: `${lab.url}/jira`,
    ...LAB_CREDENTIALS.jira,
    ...(opts.apiToken ? { apiToken: opts.apiToken } : {}),
    allowList: labAllowList(lab),
    timeoutMs: opts.timeoutMs ?? 2_000,
  });
}

const request = (incidentId: string, title = 'Ransomware beacon on ws-fin-042') => ({
  incidentId,
  title,
  severity: 'high' as const,
  description: 'Beaconing to 203.0.113.7 every 60 s.\nHost isolated.',
  link: 'https://quell.example.com/incidents/x',
});

const issuesOf = (incidentId: string) =>
  ctl.lab.store.jiraIssues().filter((i) => i.labels.includes(jiraIncidentLabel(incidentId)));

describe('Jira Cloud ticket sync against the lab', () => {
  it('opens one issue per incident and finds it again', async () => {
    const ctx = actionCtx();
    const t = jira();
    const first = await t.openTicket(request(ctx.incidentId), ctx);
    expect(first).toMatchObject({ created: true, displayId: first.key });
    expect(first.key).toMatch(/^SOC-\d+$/);
    expect(first.url).toBe(`${ctl.lab.url}/jira/browse/${first.key}`);
    const again = await t.openTicket(request(ctx.incidentId), ctx);
    expect(again).toEqual({ ...first, created: false });
    const [issue, ...rest] = issuesOf(ctx.incidentId);
    expect(rest).toHaveLength(0);
    expect(issue).toMatchObject({
      key: first.key,
      project: 'SOC',
      issueType: 'Task',
      summary: '[high] Ransomware beacon on ws-fin-042',
      labels: [jiraIncidentLabel(ctx.incidentId), 'quell', 'severity-high'],
      incidentId: ctx.incidentId,
    });
    const text = adfPlainText(issue!.description);
    expect(text).toContain('Beaconing to 203.0.113.7 every 60 s.');
    expect(text).toContain(ctx.incidentId);
  });

  it('never makes a second issue when the answer to the create is lost', async () => {
    const ctx = actionCtx();
    ctl.lab.store.addFault({
      match: { vendor: 'jira', method: 'POST', pathPattern: '/rest/api/3/issue$' },
      fault: 'slow_response',
      holdMs: 1_500,
      times: 1,
    });
    await expectConnectorError(
      jira(ctl.lab, { timeoutMs: 300 }).openTicket(request(ctx.incidentId), ctx),
      'transient',
    );
    expect(issuesOf(ctx.incidentId)).toHaveLength(1);
    const retried = await jira().openTicket(request(ctx.incidentId), ctx);
    expect(retried.created).toBe(false);
    expect(retried.key).toBe(issuesOf(ctx.incidentId)[0]!.key);
    expect(issuesOf(ctx.incidentId)).toHaveLength(1);
  });

  it('comments once per idempotency key, even when the answer is lost', async () => {
    const ctx = actionCtx();
    const t = jira();
    const { key } = await t.openTicket(request(ctx.incidentId), ctx);
    const phase = { ...ctx, idempotencyKey: `${ctx.incidentId}:phase-containment` };
    const posted = await t.addComment(key, 'Phase: containment', phase);
    expect(posted.alreadyInState).toBe(false);
    expect(await t.addComment(key, 'Phase: containment', phase)).toEqual({
      alreadyInState: true,
      vendorRef: posted.vendorRef,
    });
    const decision = { ...ctx, idempotencyKey: `${ctx.incidentId}:decision-1` };
    ctl.lab.store.addFault({
      match: { vendor: 'jira', method: 'POST', pathPattern: '/comment$' },
      fault: 'slow_response',
      holdMs: 1_500,
      times: 1,
    });
    await expectConnectorError(
      jira(ctl.lab, { timeoutMs: 300 }).addComment(key, 'Approved by a.smith', decision),
      'transient',
    );
    expect((await t.addComment(key, 'Approved by a.smith', decision)).alreadyInState).toBe(true);
    const comments = ctl.lab.store.jiraIssues().find((i) => i.key === key)!.comments;
    expect(comments.map((c) => adfPlainText(c.body).split('\n')[0])).toEqual([
      'Phase: containment',
      'Approved by a.smith',
    ]);
    expect(adfPlainText(comments[0]!.body)).toContain(commentRef(phase.idempotencyKey));
  });

  it('closes through the Done transition, once', async () => {
    const ctx = actionCtx();
    const t = jira();
    const { key } = await t.openTicket(request(ctx.incidentId), ctx);
    const closed = await t.closeTicket(key, { resolution: 'false_positive', text: 'Benign admin tool' }, ctx);
    expect(closed).toEqual({ alreadyInState: false, vendorRef: key });
    const issue = ctl.lab.store.jiraIssues().find((i) => i.key === key)!;
    expect(issue.history).toEqual(['Done']);
    expect(adfPlainText(issue.comments[0]!.body)).toContain('Closed as a false positive. Benign admin tool');
    expect(await t.closeTicket(key, { resolution: 'resolved', text: 'again' }, ctx)).toEqual({
      alreadyInState: true,
      vendorRef: key,
    });
    expect(issue.history).toEqual(['Done']);
    expect(issue.comments).toHaveLength(1);
  });

  it('a close whose answer was lost is already in state when retried', async () => {
    const ctx = actionCtx();
    const { key } = await jira().openTicket(request(ctx.incidentId), ctx);
    ctl.lab.store.addFault({
      match: { vendor: 'jira', method: 'POST', pathPattern: '/transitions$' },
      fault: 'slow_response',
      holdMs: 1_500,
      times: 1,
    });
    const close = { resolution: 'resolved' as const, text: 'Reimaged' };
    await expectConnectorError(jira(ctl.lab, { timeoutMs: 300 }).closeTicket(key, close, ctx), 'transient');
    expect((await jira().closeTicket(key, close, ctx)).alreadyInState).toBe(true);
    const issue = ctl.lab.store.jiraIssues().find((i) => i.key === key)!;
    expect(issue.history).toEqual(['Done']);
    expect(issue.comments).toHaveLength(1);
  });

  it('refuses a transition name the workflow does not have (permanent)', async () => {
    const ctx = actionCtx();
    const { key } = await jira().openTicket(request(ctx.incidentId), ctx);
    const t = new JiraTickets({
      baseUrl: `${ctl.lab.url}/jira`,
      ...LAB_CREDENTIALS.jira,
      doneTransition: 'Shipped',
      allowList: labAllowList(ctl.lab),
    });
    const err = await expectConnectorError(
      t.closeTicket(key, { resolution: 'resolved', text: 'x' }, ctx),
      'permanent',
    );
    expect(err.message).toContain('(available: In Progress, Done)');
  });

  it('keeps hostile title and text inert: only ever ADF text nodes', async () => {
    const ctx = actionCtx();
    const hostile = '<img src=x onerror=alert(1)> [click](javascript:alert(1)) {{macro}} *bold*';
    const t = jira();
    const { key } = await t.openTicket(
      {
        ...request(ctx.incidentId, `${hostile}\nSecond\u0007 line`),
        description: hostile,
        link: 'javascript:alert(1)',
      },
      ctx,
    );
    await t.addComment(key, hostile, ctx);
    const issue = ctl.lab.store.jiraIssues().find((i) => i.key === key)!;
    expect(issue.summary).toBe(`[high] ${hostile} Second line`);
    const nodes: { type: string; marks?: { type: string; attrs?: { href?: string } }[] }[] = [];
    const walk = (n: unknown) => {
      const o = n as { type: string; content?: unknown[] };
      if (o.type === 'text') nodes.push(o);
      o.content?.forEach(walk);
    };
    walk(issue.description);
    walk(issue.comments[0]!.body);
    expect(nodes.some((n) => (n as unknown as { text: string }).text === hostile)).toBe(true);
    // The javascript: link is dropped; no text node carries a link mark.
    expect(nodes.flatMap((n) => n.marks ?? []).filter((m) => m.type === 'link')).toEqual([]);
  });

  it('refuses incident IDs that could change a JQL query', async () => {
    const ctx = actionCtx();
    await expectConnectorError(
      jira().openTicket(request('INC-1" OR project = "HR'), ctx),
      'permanent',
      ERROR_NAMES.permanent,
    );
  });

  it('maps a wrong API token to ConnectorAuthError (401)', async () => {
    const ctx = actionCtx();
    await expectConnectorError(
      jira(ctl.lab, { apiToken: 'nope' }).openTicket(request(ctx.incidentId), ctx),
      'auth',
      ERROR_NAMES.auth,
    );
  });

  it('maps an unknown issue to TargetNotFoundError (404)', async () => {
    const ctx = actionCtx();
    const err = await expectConnectorError(jira().addComment('SOC-999999', 'x', ctx), 'not_found');
    expect(err.message).toContain('Issue does not exist');
    await expectConnectorError(
      jira().closeTicket('SOC-999999', { resolution: 'resolved', text: 'x' }, ctx),
      'not_found',
      ERROR_NAMES.not_found,
    );
  });

  describe('faults', () => {
    faultMatrix(
      () => ctl.lab,
      'jira',
      (timeoutMs) => {
        const ctx = actionCtx();
        return jira(ctl.lab, { timeoutMs }).openTicket(request(ctx.incidentId), ctx);
      },
      { pathPattern: '/search/jql' },
    );
  });
});
