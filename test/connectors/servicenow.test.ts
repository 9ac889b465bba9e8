import { LAB_CREDENTIALS, type RunningLab } from '../../src/connectors/lab';
import { ServiceNowTickets, serviceNowCorrelationId } from '../../src/connectors/tickets/servicenow';
import { commentRef, serviceNowText } from '../../src/connectors/tickets/text';
import { ERROR_NAMES, actionCtx, expectConnectorError, faultMatrix, labAllowList, useLab } from './support';

const ctl = useLab();

function sn(
  lab: RunningLab = ctl.lab,
  opts: { timeoutMs?: number; password?: string; closeState?: 6 | 7 } = {},
) {
  return new ServiceNowTickets({
    instanceUrl: `${lab.url}/servicenow`,
    ...LAB_CREDENTIALS.servicenow,
    ...(opts.password ? { password: opts.password } : {}),
    ...(opts.closeState ? { closeState: opts.closeState } : {}),
    allowList: labAllowList(lab),
    timeoutMs: opts.timeoutMs ?? 2_000,
  });
}

const request = (incidentId: string, title = 'Credential stuffing against j.doe') => ({
  incidentId,
  title,
  severity: 'critical' as const,
  description: '412 failed sign-ins from 198.51.100.0/24.',
});

const recordsOf = (incidentId: string) =>
  ctl.lab.store
    .serviceNowIncidents()
    .filter((i) => i.fields.correlation_id === serviceNowCorrelationId(incidentId));

describe('ServiceNow text', () => {
  it('breaks [code] markers however they are written, and escapes HTML', () => {
    expect(serviceNowText('[code]<script>alert(1)</script>[/code]')).toBe(
      '(code)&lt;script&gt;alert(1)&lt;/script&gt;(/code)',
    );
    expect(serviceNowText('[ CODE ]x[/ Code ]')).toBe('( CODE )x(/ Code )');
    expect(serviceNowText('a & "b" \'c\'')).toBe('a &amp; &quot;b&quot; &#39;c&#39;');
    expect(serviceNowText('bell\u0007 tab\tline\nend')).toBe('bell tab\tline\nend');
    expect(serviceNowText('[co[code]de]')).not.toMatch(/\[\s*\/?\s*code\s*\]/i);
  });
});

describe('ServiceNow ticket sync against the lab', () => {
  it('opens one incident record per incident and finds it again', async () => {
    const ctx = actionCtx();
    const t = sn();
    const first = await t.openTicket(request(ctx.incidentId), ctx);
    expect(first.created).toBe(true);
    expect(first.key).toMatch(/^[0-9a-f]{32}$/);
    expect(first.displayId).toMatch(/^INC\d{7}$/);
    expect(first.url).toBe(
      `${ctl.lab.url}/servicenow/nav_to.do?uri=${encodeURIComponent(`incident.do?sys_id=${first.key}`)}`,
    );
    expect(await t.openTicket(request(ctx.incidentId), ctx)).toEqual({ ...first, created: false });
    const [record, ...rest] = recordsOf(ctx.incidentId);
    expect(rest).toHaveLength(0);
    expect(record!.fields).toMatchObject({
      short_description: 'Credential stuffing against j.doe',
      impact: '1',
      urgency: '1',
      state: '1',
      correlation_display: 'Quell',
    });
    expect(record!.fields.description).toContain('412 failed sign-ins');
    expect(record!.fields.description).toContain(`Quell incident ${ctx.incidentId}`);
  });

  it('never makes a second record when the answer to the create is lost', async () => {
    const ctx = actionCtx();
    ctl.lab.store.addFault({
      match: { vendor: 'servicenow', method: 'POST', pathPattern: '/table/incident' },
      fault: 'slow_response',
      holdMs: 1_500,
      times: 1,
    });
    await expectConnectorError(
      sn(ctl.lab, { timeoutMs: 300 }).openTicket(request(ctx.incidentId), ctx),
      'transient',
    );
    expect(recordsOf(ctx.incidentId)).toHaveLength(1);
    const retried = await sn().openTicket(request(ctx.incidentId), ctx);
    expect(retried).toMatchObject({ created: false, key: recordsOf(ctx.incidentId)[0]!.sysId });
    expect(recordsOf(ctx.incidentId)).toHaveLength(1);
  });

  it('adds a work note once per idempotency key, even when the answer is lost', async () => {
    const ctx = actionCtx();
    const t = sn();
    const { key } = await t.openTicket(request(ctx.incidentId), ctx);
    const phase = { ...ctx, idempotencyKey: `${ctx.incidentId}:phase-eradication` };
    expect((await t.addComment(key, 'Phase: eradication', phase)).alreadyInState).toBe(false);
    expect((await t.addComment(key, 'Phase: eradication', phase)).alreadyInState).toBe(true);
    const decision = { ...ctx, idempotencyKey: `${ctx.incidentId}:decision-2` };
    ctl.lab.store.addFault({
      match: { vendor: 'servicenow', method: 'PATCH' },
      fault: 'slow_response',
      holdMs: 1_500,
      times: 1,
    });
    await expectConnectorError(
      sn(ctl.lab, { timeoutMs: 300 }).addComment(key, 'Rejected by a.smith', decision),
      'transient',
    );
    expect((await t.addComment(key, 'Rejected by a.smith', decision)).alreadyInState).toBe(true);
    const notes = recordsOf(ctx.incidentId)[0]!.notes.map((n) => n.value);
    expect(notes).toHaveLength(2);
    expect(notes[0]).toMatch(/^Phase: eradication\n\nQuell incident .* · quell-ref:/);
    expect(notes[0]).toContain(commentRef(phase.idempotencyKey));
    expect(notes[1]).toMatch(/^Rejected by a\.smith/);
  });

  it('resolves with a close code and notes, once', async () => {
    const ctx = actionCtx();
    const t = sn();
    const { key } = await t.openTicket(request(ctx.incidentId), ctx);
    expect(await t.closeTicket(key, { resolution: 'resolved', text: 'Passwords reset' }, ctx)).toEqual({
      alreadyInState: false,
      vendorRef: key,
    });
    const record = recordsOf(ctx.incidentId)[0]!;
    expect(record.fields).toMatchObject({
      state: '6',
      close_code: 'Solution provided',
      close_notes: 'Passwords reset',
    });
    expect(await t.closeTicket(key, { resolution: 'resolved', text: 'again' }, ctx)).toEqual({
      alreadyInState: true,
      vendorRef: key,
    });
    expect(record.notes).toHaveLength(1);
  });

  it('a close whose answer was lost is already in state when retried', async () => {
    const ctx = actionCtx();
    const { key } = await sn().openTicket(request(ctx.incidentId), ctx);
    ctl.lab.store.addFault({
      match: { vendor: 'servicenow', method: 'PATCH' },
      fault: 'slow_response',
      holdMs: 1_500,
      times: 1,
    });
    const close = { resolution: 'resolved' as const, text: 'Reset' };
    await expectConnectorError(sn(ctl.lab, { timeoutMs: 300 }).closeTicket(key, close, ctx), 'transient');
    expect((await sn().closeTicket(key, close, ctx)).alreadyInState).toBe(true);
    expect(recordsOf(ctx.incidentId)[0]!.notes).toHaveLength(1);
  });

  it('closes (state 7) a false positive when so configured', async () => {
    const ctx = actionCtx();
    const t = sn(ctl.lab, { closeState: 7 });
    const { key } = await t.openTicket(request(ctx.incidentId), ctx);
    await t.closeTicket(key, { resolution: 'false_positive', text: 'Pen test' }, ctx);
    expect(recordsOf(ctx.incidentId)[0]!.fields).toMatchObject({
      state: '7',
      close_code: 'No resolution provided',
    });
  });

  it('keeps hostile title and text inert ([code] and HTML neutralised)', async () => {
    const ctx = actionCtx();
    const hostile = '[code]<img src=x onerror=alert(1)>[/code] & more';
    const t = sn();
    const { key } = await t.openTicket({ ...request(ctx.incidentId, hostile), description: hostile }, ctx);
    await t.addComment(key, hostile, ctx);
    await t.closeTicket(key, { resolution: 'resolved', text: hostile }, ctx);
    const record = recordsOf(ctx.incidentId)[0]!;
    const sent = [
      record.fields.short_description!,
      record.fields.description!,
      record.fields.close_notes!,
      ...record.notes.map((n) => n.value),
    ];
    for (const value of sent) {
      expect(value).not.toMatch(/\[\s*\/?\s*code\s*\]/i);
      expect(value).not.toMatch(/[<>]/);
      expect(value).toContain('(code)&lt;img src=x onerror=alert(1)&gt;(/code) &amp; more');
    }
  });

  it('maps a wrong password to ConnectorAuthError (401)', async () => {
    const ctx = actionCtx();
    await expectConnectorError(
      sn(ctl.lab, { password: 'nope' }).openTicket(request(ctx.incidentId), ctx),
      'auth',
      ERROR_NAMES.auth,
    );
  });

  it('maps an unknown record to TargetNotFoundError (404)', async () => {
    const ctx = actionCtx();
    const unknown = '0'.repeat(32);
    const err = await expectConnectorError(
      sn().closeTicket(unknown, { resolution: 'resolved', text: 'x' }, ctx),
      'not_found',
      ERROR_NAMES.not_found,
    );
    expect(err.message).toContain('No Record found');
    await expectConnectorError(sn().addComment(unknown, 'x', ctx), 'not_found');
  });

  it('refuses keys and incident IDs that could change an encoded query', async () => {
    const ctx = actionCtx();
    await expectConnectorError(
      sn().openTicket(request('INC-1^ORcorrelation_idISNOTEMPTY'), ctx),
      'permanent',
    );
    await expectConnectorError(sn().addComment('abc^ORsys_id!=x', 'x', ctx), 'permanent');
  });

  describe('with OAuth (password grant at /oauth_token.do)', () => {
    const { user, password, clientId, clientSecret } = LAB_CREDENTIALS.servicenow;
    const oauthSn = (secret = clientSecret) =>
      new ServiceNowTickets({
        instanceUrl: `${ctl.lab.url}/servicenow`,
        user,
        password,
        oauth: { clientId, clientSecret: secret },
        allowList: labAllowList(ctl.lab),
        timeoutMs: 2_000,
      });
    const tokenCalls = () => ctl.lab.store.calls({ vendor: 'servicenow', pathIncludes: '/oauth_token.do' });

    it('sends a bearer token, fetched once and reused', async () => {
      const ctx = actionCtx();
      const t = oauthSn();
      const before = tokenCalls().length;
      const { key } = await t.openTicket(request(ctx.incidentId), ctx);
      await t.addComment(key, 'Phase: recovery', ctx);
      expect(tokenCalls().length).toBe(before + 1);
      expect(recordsOf(ctx.incidentId)[0]!.notes).toHaveLength(1);
    });

    it('fetches a new token once when the old one is refused (auth_expired)', async () => {
      const ctx = actionCtx();
      const t = oauthSn();
      const { key } = await t.openTicket(request(ctx.incidentId), ctx);
      const before = tokenCalls().length;
      ctl.lab.store.addFault({
        match: { vendor: 'servicenow', method: 'PATCH' },
        fault: 'auth_expired',
        times: 1,
      });
      expect((await t.addComment(key, 'after expiry', ctx)).alreadyInState).toBe(false);
      expect(tokenCalls().length).toBe(before + 1);
    });

    it('maps a wrong client secret to ConnectorAuthError', async () => {
      const ctx = actionCtx();
      await expectConnectorError(
        oauthSn('nope').openTicket(request(ctx.incidentId), ctx),
        'auth',
        ERROR_NAMES.auth,
      );
    });
  });

  describe('faults', () => {
    faultMatrix(
      () => ctl.lab,
      'servicenow',
      (timeoutMs) => {
        const ctx = actionCtx();
        return sn(ctl.lab, { timeoutMs }).openTicket(request(ctx.incidentId), ctx);
      },
    );
  });
});
