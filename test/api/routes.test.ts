import express from 'express';
import request from 'supertest';
import { REFUSALS } from '../../src/contracts';
import {
  IncidentNotFoundError,
  IncidentRefusedError,
  InvalidCursorError,
  TemporalUnavailableError,
} from '../../src/incidents/errors';
import { INCIDENT_ID, sampleState } from './support/fake-incidents';
import { SUBJECTS, TOKENS, bearer, testApp } from './support/harness';
import { sample, sampleText } from './support/samples';

const P = `/api/v1/incidents/${INCIDENT_ID}`;

function expectProblem(res: request.Response, status: number) {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toEqual(
    expect.objectContaining({
      type: expect.stringMatching(/^https:\/\/quell\.dev\/problems\/[a-z0-9-]+$/),
      title: expect.any(String),
      status,
      detail: expect.any(String),
      requestId: res.headers['x-request-id'],
    }),
  );
}
const paths = (res: request.Response) => (res.body.errors as { path: string }[]).map((e) => e.path);

describe('POST /api/v1/alerts', () => {
  const { app, incidents } = testApp();
  beforeEach(() => incidents.reset());
  const ingest = () => request(app).post('/api/v1/alerts').set('Authorization', bearer('ingest'));

  it.each(['ocsf', 'elastic', 'generic'] as const)(
    'ingests the %s sample: 202 with the receipt',
    async (format) => {
      const res = await ingest().set('Content-Type', 'application/json').send(sampleText(format));
      expect(res.status).toBe(202);
      expect(Object.keys(res.body).sort()).toEqual(['alertId', 'deduplicated', 'incidentId', 'workflowId']);
      expect(res.body.incidentId).toMatch(/^INC-[0-9a-f]{16}-[0-9a-f]{6}$/);
      const [[alert, raisedBy]] = incidents.callsOf('ingestAlert') as [[{ format: string }, string]];
      expect(alert.format).toBe(format);
      expect(raisedBy).toBe(SUBJECTS.ingest);
    },
  );

  it('answers an Alertmanager batch with one receipt per alert, in order', async () => {
    const res = await ingest().send(sample('alertmanager')).expect(202);
    expect(res.body.items).toHaveLength(2);
    expect(res.body.items.map((i: { alertId: string }) => i.alertId)).toEqual([
      'alertmanager/quell-secops:7c2a1f0e9d8b6c54@2026-11-28T11:20:30.123Z',
      'alertmanager/quell-secops:a41b93e07f5d2c18@2026-11-28T11:21:02.000Z',
    ]);
    expect(incidents.callsOf('ingestAlert')).toHaveLength(2);
  });

  it('reports redeliveries as deduplicated', async () => {
    await ingest().send(sample('generic')).expect(202);
    const again = await ingest().send(sample('generic')).expect(202);
    expect(again.body.deduplicated).toBe(true);
  });

  it('accepts application/*+json and an explicit ?format=', async () => {
    await ingest()
      .query({ format: 'ocsf' })
      .set('Content-Type', 'application/ocsf+json')
      .send(sampleText('ocsf'))
      .expect(202);
  });

  it('explicit format wins over detection and names the mismatching fields', async () => {
    const res = await ingest().query({ format: 'elastic' }).send(sample('generic'));
    expectProblem(res, 400);
    expect(res.body.format).toBe('elastic');
    expect(paths(res)).toEqual(expect.arrayContaining(['kibana.alert.uuid', 'kibana.alert.rule.name']));
  });

  it('400 for an unknown format value, naming query.format', async () => {
    const res = await ingest().query({ format: 'splunk' }).send(sample('generic'));
    expectProblem(res, 400);
    expect(paths(res)).toEqual(['query.format']);
    expect(incidents.calls).toEqual([]);
  });

  it('422 for a body in no known format, listing the accepted formats', async () => {
    const res = await ingest().send({ hello: 'world' });
    expectProblem(res, 422);
    expect(res.body.acceptedFormats).toEqual(['ocsf', 'elastic', 'alertmanager', 'generic']);
    for (const f of ['ocsf', 'elastic', 'alertmanager', 'generic']) expect(res.body.detail).toContain(f);
    expect((await ingest().send([1, 2])).status).toBe(422);
  });

  it('400 naming each invalid field', async () => {
    const res = await ingest().send({ ...sample('generic'), severity: 'apocalyptic', hosts: [''], extra: 1 });
    expectProblem(res, 400);
    expect(paths(res).sort()).toEqual(['extra', 'hosts.0', 'severity']);
    expect(res.body.errors[0]).toEqual({ path: expect.any(String), message: expect.any(String) });
    expect(incidents.calls).toEqual([]);
  });

  it('400 for malformed JSON, invalid UTF-8, __proto__ keys, deep nesting and a missing body', async () => {
    const raw = (body: string | Buffer, type = 'application/json') =>
      ingest()
        .set('Content-Type', type)
        .serialize((x) => x)
        .send(body);
    expectProblem(await raw('{"source": '), 400);
    expectProblem(await raw(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), 400);
    const proto = await raw(
      '{"source":"a","id":"b","title":"c","severity":"low","labels":{"__proto__":{"polluted":"yes"}}}',
    );
    expectProblem(proto, 400);
    expect(paths(proto)).toEqual(['labels.__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expectProblem(await raw(`${'['.repeat(100)}${']'.repeat(100)}`), 400);
    expectProblem(await raw(''), 400);
    expectProblem(await ingest(), 400);
    expect(incidents.calls).toEqual([]);
  });

  it('415 for a body that is not JSON, or not UTF-8', async () => {
    expectProblem(await ingest().set('Content-Type', 'text/plain').send('hello'), 415);
    expectProblem(await ingest().set('Content-Type', 'application/x-www-form-urlencoded').send('a=b'), 415);
    expectProblem(
      await ingest().set('Content-Type', 'application/json; charset=latin1').send(sampleText('generic')),
      415,
    );
    expect(incidents.calls).toEqual([]);
  });

  it('413 beyond the body limit', async () => {
    const small = testApp({ bodyLimit: '1kb' });
    const big = { ...sample('generic'), description: 'x'.repeat(2_000) };
    const res = await request(small.app)
      .post('/api/v1/alerts')
      .set('Authorization', bearer('ingest'))
      .send(big);
    expectProblem(res, 413);
    const note = await request(small.app)
      .post(`${P}/notes`)
      .set('Authorization', bearer('responder'))
      .send({ text: 'x'.repeat(2_000) });
    expectProblem(note, 413);
    expect(small.incidents.calls).toEqual([]);
  });

  it('defaults to a 1 MiB limit', async () => {
    const ok = { ...sample('generic'), description: 'x'.repeat(9_000) };
    await ingest().send(ok).expect(202);
    const res = await ingest()
      .set('Content-Type', 'application/json')
      .send(`{"pad":"${'x'.repeat(1024 * 1024)}"}`);
    expectProblem(res, 413);
  });

  it('503 with Retry-After when Temporal is down', async () => {
    incidents.fail('ingestAlert', () => new TemporalUnavailableError('connect ECONNREFUSED', 7));
    const res = await ingest().send(sample('generic'));
    expectProblem(res, 503);
    expect(res.headers['retry-after']).toBe('7');
    expect(res.body.detail).not.toContain('ECONNREFUSED');
  });
});

describe('POST /api/v1/alerts/batch', () => {
  const { app, incidents } = testApp();
  beforeEach(() => incidents.reset());
  const batch = (body: unknown) =>
    request(app)
      .post('/api/v1/alerts/batch')
      .set('Authorization', bearer('ingest'))
      .send(body as object);
  const generic = (id: string, host: string, extra: object = {}) => ({
    ...sample('generic'),
    id,
    hosts: [host],
    ...extra,
  });
  interface Item {
    index: number;
    entry?: number;
    status: string;
    incidentId?: string;
    alertId?: string;
    problem?: { status: number; type: string; errors?: { path: string }[]; retryAfterSeconds?: number };
  }
  const items = (res: request.Response) => res.body.items as Item[];

  it('records every alert of several formats: 202 with a receipt per alert, in order', async () => {
    const res = await batch([
      sample('generic'),
      sample('ocsf'),
      sample('alertmanager'),
      sample('elastic'),
    ]).expect(202);
    expect(items(res).map((i) => [i.index, i.entry, i.status])).toEqual([
      [0, undefined, 'recorded'],
      [1, undefined, 'recorded'],
      [2, 0, 'recorded'],
      [2, 1, 'recorded'],
      [3, undefined, 'recorded'],
    ]);
    expect(Object.keys(items(res)[0]!).sort()).toEqual(
      ['alertId', 'deduplicated', 'incidentId', 'index', 'status', 'workflowId'].sort(),
    );
    const formats = (incidents.callsOf('ingestAlert') as [{ format: string }][]).map(([a]) => a.format);
    expect(formats.sort()).toEqual(['alertmanager', 'alertmanager', 'elastic', 'generic', 'ocsf']);
  });

  it('records the valid items and rejects the invalid ones, naming each field by its place: 207', async () => {
    const res = await batch([
      generic('a-1', 'ws-1'),
      generic('a-2', 'ws-2', { severity: 'apocalyptic' }),
      { hello: 'world' },
      generic('a-3', 'ws-3'),
    ]).expect(207);
    expect(items(res).map((i) => [i.index, i.status])).toEqual([
      [0, 'recorded'],
      [1, 'rejected'],
      [2, 'rejected'],
      [3, 'recorded'],
    ]);
    const [, invalid, unknown] = items(res);
    expect(invalid!.problem).toMatchObject({
      status: 400,
      type: 'https://quell.dev/problems/validation-error',
    });
    expect(invalid!.problem!.errors!.map((e) => e.path)).toEqual(['1.severity']);
    expect(unknown!.problem).toMatchObject({ status: 422, errors: [{ path: '2' }] });
    const recorded = (incidents.callsOf('ingestAlert') as [{ sourceAlertId: string }][]).map(
      ([a]) => a.sourceAlertId,
    );
    expect(recorded.sort()).toEqual(['a-1', 'a-3']);
  });

  it('?format= applies to every item', async () => {
    const res = await batch([sample('generic'), sample('ocsf')])
      .query({ format: 'generic' })
      .expect(207);
    expect(items(res).map((i) => i.status)).toEqual(['recorded', 'rejected']);
  });

  it('the same alert twice: one recorded, one deduplicated', async () => {
    const res = await batch([generic('a-1', 'ws-1'), generic('a-1', 'ws-1')]).expect(202);
    expect(
      items(res)
        .map((i) => i.status)
        .sort(),
    ).toEqual(['deduplicated', 'recorded']);
    expect(new Set(items(res).map((i) => i.incidentId)).size).toBe(1);
  });

  it('alerts for several hosts land on their incidents, those of one host on one', async () => {
    const res = await batch([
      generic('a-1', 'ws-1'),
      generic('a-2', 'ws-2'),
      generic('a-3', 'ws-1'),
      generic('a-4', 'ws-3'),
      generic('a-5', 'ws-1'),
    ]).expect(202);
    const ids = items(res).map((i) => i.incidentId);
    expect(new Set(ids).size).toBe(3);
    expect(ids[0]).toBe(ids[2]);
    expect(ids[0]).toBe(ids[4]);
    expect(items(res).every((i) => i.status === 'recorded')).toBe(true);
  });

  it('400 for an empty array or a body that is not an array; 413 beyond 500 alerts', async () => {
    const empty = await batch([]);
    expectProblem(empty, 400);
    expect(paths(empty)).toEqual(['(body)']);
    expectProblem(await batch(sample('generic')), 400);
    const many = await batch(Array.from({ length: 501 }, (_, i) => generic(`a-${i}`, `ws-${i}`)));
    expectProblem(many, 413);
    expect(paths(many)).toEqual(['(body)']);
    expect(many.body.detail).toContain('500');
    // An Alertmanager webhook counts as its alerts.
    const webhooks = await batch(Array.from({ length: 251 }, () => sample('alertmanager')));
    expectProblem(webhooks, 413);
    expect(incidents.calls).toEqual([]);
    await batch(Array.from({ length: 500 }, (_, i) => generic(`a-${i}`, `ws-${i % 50}`))).expect(202);
    expect(incidents.callsOf('ingestAlert')).toHaveLength(500);
  });

  it('413 naming the batch body limit', async () => {
    const small = testApp({ batchBodyLimit: '2kb' });
    const res = await request(small.app)
      .post('/api/v1/alerts/batch')
      .set('Authorization', bearer('ingest'))
      .send([generic('a-1', 'ws-1', { description: 'x'.repeat(3_000) })]);
    expectProblem(res, 413);
    expect(res.body.detail).toContain('2kb');
    expect(res.body.detail).toContain('QUELL_API_BATCH_BODY_LIMIT');
  });

  it('Temporal down midway: 503 with the items not recorded; a retry records them, the rest deduplicated', async () => {
    const real = incidents.ingestAlert.bind(incidents);
    let calls = 0;
    const spy = jest.spyOn(incidents, 'ingestAlert').mockImplementation(async (alert, by) => {
      if (++calls > 3) throw new TemporalUnavailableError('connect ECONNREFUSED', 7);
      return real(alert, by);
    });
    const alerts = Array.from({ length: 40 }, (_, i) => generic(`a-${i}`, `ws-${i}`));
    const res = await batch(alerts);
    expectProblem(res, 503);
    expect(res.headers['retry-after']).toBe('7');
    expect(items(res)).toHaveLength(40);
    expect(
      items(res)
        .slice(0, 3)
        .map((i) => i.status),
    ).toEqual(['recorded', 'recorded', 'recorded']);
    expect(
      items(res)
        .slice(3)
        .every((i) => i.status === 'unavailable' && i.problem?.status === 503),
    ).toBe(true);
    expect(items(res)[3]!.problem!.retryAfterSeconds).toBe(7);
    // Once Temporal is found down, the alerts not yet sent are not sent (each would wait out the outage).
    expect(calls).toBeLessThan(40);
    spy.mockRestore();
    const retry = await batch(alerts).expect(202);
    expect(items(retry).map((i) => i.status)).toEqual([
      ...Array<string>(3).fill('deduplicated'),
      ...Array<string>(37).fill('recorded'),
    ]);
  });

  it('charges the rate limit one token per alert, never refusing a batch for its size', async () => {
    const limited = testApp({ rateLimit: { perSecond: 0.5, burst: 2 } });
    const send = (body: object) =>
      request(limited.app).post('/api/v1/alerts/batch').set('Authorization', bearer('ingest')).send(body);
    await send([generic('a-1', 'ws-1'), generic('a-2', 'ws-2'), generic('a-3', 'ws-3')]).expect(202);
    const next = await send([generic('a-4', 'ws-4')]);
    expectProblem(next, 429);
    expect(Number(next.headers['retry-after'])).toBeGreaterThanOrEqual(4);
    expect(limited.incidents.callsOf('ingestAlert')).toHaveLength(3);
  });
});

describe('rate limiting alert ingest', () => {
  it('429 with Retry-After once a caller spends its burst; other callers unaffected', async () => {
    const { app, incidents } = testApp({ rateLimit: { perSecond: 0.5, burst: 2 } });
    const send = (token: 'ingest' | 'admin') =>
      request(app).post('/api/v1/alerts').set('Authorization', bearer(token)).send(sample('generic'));
    await send('ingest').expect(202);
    await send('ingest').expect(202);
    const limited = await send('ingest');
    expectProblem(limited, 429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(2);
    expect(incidents.callsOf('ingestAlert')).toHaveLength(2);
    await send('admin').expect(202);
  });

  it('does not limit reading or responding', async () => {
    const { app } = testApp({ rateLimit: { perSecond: 0.001, burst: 1 } });
    for (let i = 0; i < 5; i++)
      await request(app).get(P).set('Authorization', bearer('responder')).expect(200);
  });
});

describe('responder routes', () => {
  const { app, incidents } = testApp();
  beforeEach(() => incidents.reset());
  const as = (name: keyof typeof TOKENS) => ({
    post: (path: string) => request(app).post(path).set('Authorization', bearer(name)),
    get: (path: string) => request(app).get(path).set('Authorization', bearer(name)),
  });
  const responder = { subject: SUBJECTS.responder, roles: ['responder'] };
  const approver = { subject: SUBJECTS.approver, roles: ['approver'] };

  it('decides an approval: 200 with the approval', async () => {
    const res = await as('approver').post(`${P}/approvals/apr-1`).send({ decision: 'approve' }).expect(200);
    expect(res.body).toMatchObject({ approvalId: 'apr-1', state: 'approved' });
    expect(incidents.callsOf('decideApproval')).toEqual([
      [INCIDENT_ID, 'apr-1', 'approve', undefined, approver],
    ]);
  });

  it('retries and skips a failed action', async () => {
    await as('responder').post(`${P}/actions/act-1/retry`).send({ comment: 'EDR back' }).expect(200);
    await as('responder').post(`${P}/actions/act-1/skip`).expect(200); // no body at all
    expect(incidents.callsOf('resolveFailedAction')).toEqual([
      [INCIDENT_ID, 'act-1', 'retry', 'EDR back', responder],
      [INCIDENT_ID, 'act-1', 'skip', undefined, responder],
    ]);
  });

  it('completes a checklist item', async () => {
    const res = await as('responder').post(`${P}/checklist/reimage`).send({ note: 'done' }).expect(200);
    expect(res.body).toMatchObject({ itemId: 'reimage', completedBy: SUBJECTS.responder, note: 'done' });
  });

  it('adds a note (kind defaults to note) and a lessons-learned entry: 201', async () => {
    await as('responder').post(`${P}/notes`).send({ text: '  first  ' }).expect(201);
    await as('responder').post(`${P}/notes`).send({ text: 'll', kind: 'lessons_learned' }).expect(201);
    expect(incidents.callsOf('addNote')).toEqual([
      [INCIDENT_ID, 'first', 'note', responder],
      [INCIDENT_ID, 'll', 'lessons_learned', responder],
    ]);
  });

  it('closes an incident: 202 with what will be undone', async () => {
    const res = await as('approver')
      .post(`${P}/close`)
      .send({ resolution: 'false_positive', comment: 'benign' })
      .expect(202);
    expect(res.body).toEqual({
      incidentId: INCIDENT_ID,
      resolution: 'false_positive',
      compensating: ['act-1'],
    });
    expect(incidents.callsOf('close')).toEqual([[INCIDENT_ID, 'false_positive', 'benign', approver]]);
  });

  it.each([
    [`${P}/approvals/apr-1`, 'approver', { decision: 'maybe' }, ['decision']],
    [`${P}/approvals/apr-1`, 'approver', {}, ['decision']],
    [`${P}/approvals/apr-1`, 'approver', { decision: 'approve', roles: ['admin'] }, ['roles']],
    [`${P}/approvals/apr-1`, 'approver', { decision: 'approve', comment: 5 }, ['comment']],
    [`${P}/actions/act-1/retry`, 'responder', { comment: 'x', by: 'mallory' }, ['by']],
    [`${P}/checklist/reimage`, 'responder', { note: ['x'], completedBy: 'm' }, ['completedBy', 'note']],
    [`${P}/notes`, 'responder', { text: '' }, ['text']],
    [`${P}/notes`, 'responder', { text: 'x', kind: 'rant', author: 'm' }, ['author', 'kind']],
    [`${P}/close`, 'approver', { resolution: 'done' }, ['resolution']],
    [`${P}/close`, 'approver', [], ['(body)']],
  ] as const)('POST %s as %s with %j: 400 naming %j', async (path, who, body, expected) => {
    const res = await as(who).post(path).send(body);
    expectProblem(res, 400);
    expect(paths(res).sort()).toEqual([...expected].sort());
    expect(incidents.calls).toEqual([]);
  });

  it('400 for malformed JSON and 415 for other media types on responder routes', async () => {
    expectProblem(
      await as('responder').post(`${P}/notes`).set('Content-Type', 'application/json').send('{"text":'),
      400,
    );
    expectProblem(
      await as('responder').post(`${P}/notes`).set('Content-Type', 'text/plain').send('text'),
      415,
    );
    expectProblem(
      await as('responder')
        .post(`${P}/notes`)
        .set('Content-Type', 'application/json')
        .send('"just a string"'),
      400,
    );
    expect(incidents.calls).toEqual([]);
  });

  it('404 for IDs that cannot exist, without asking the incidents', async () => {
    for (const path of [
      '/api/v1/incidents/INC-nothex',
      '/api/v1/incidents/inc-3f9a0c1b2d4e5f60-a1b2c3',
      `/api/v1/incidents/${INCIDENT_ID}x`,
    ]) {
      expectProblem(await as('responder').get(path), 404);
    }
    expectProblem(
      await as('approver')
        .post(`${P}/approvals/${encodeURIComponent('../x')}`)
        .send({ decision: 'approve' }),
      404,
    );
    expectProblem(await as('responder').post(`${P}/actions/${'a'.repeat(200)}/retry`), 404);
    expect(incidents.calls).toEqual([]);
  });

  it('reads an incident', async () => {
    const res = await as('auditor').get(P).expect(200);
    expect(res.body).toEqual(sampleState(INCIDENT_ID));
  });

  it('lists incidents with validated filters (limit default 20, max 100)', async () => {
    const cursor = 'AcursorFromPage1_-';
    incidents.listResult = { items: [], nextCursor: cursor };
    const res = await as('responder').get('/api/v1/incidents').expect(200);
    expect(res.body).toEqual({ items: [], nextCursor: cursor });
    await as('responder')
      .get('/api/v1/incidents')
      .query({ status: 'open', severity: 'high', phase: 'containment', limit: '100', cursor })
      .expect(200);
    await as('responder').get('/api/v1/incidents').query({ playbook: 'c2-traffic' }).expect(200);
    expect(incidents.callsOf('list')).toEqual([
      [{ limit: 20 }],
      [{ status: 'open', severity: 'high', phase: 'containment', limit: 100, cursor }],
      [{ playbook: 'c2-traffic', limit: 20 }],
    ]);
    incidents.reset();
    for (const [query, path] of [
      ['limit=101', 'query.limit'],
      ['limit=0', 'query.limit'],
      ['limit=ten', 'query.limit'],
      ['status=pending', 'query.status'],
      ['severity=informational', 'query.severity'],
      ['phase=done', 'query.phase'],
      ["playbook=c2'%20OR%20true", 'query.playbook'],
      ['status=open&status=closed', 'query.status'],
      ['sort=asc', 'query.sort'],
      ['cursor=0000', 'query.cursor'],
      ['cursor=not%20base64url!!', 'query.cursor'],
    ]) {
      const bad = await as('responder').get(`/api/v1/incidents?${query}`);
      expectProblem(bad, 400);
      expect(paths(bad)).toEqual([path]);
    }
    expect(incidents.calls).toEqual([]);
  });

  it.each(['0', '101', '100000', '1.5', 'ten', ''])(
    'limit=%s is a 400 that states the rule: an integer from 1 to 100',
    async (limit) => {
      const bad = await as('responder').get(`/api/v1/incidents?limit=${limit}`);
      expectProblem(bad, 400);
      expect(bad.body.errors).toEqual([
        { path: 'query.limit', message: 'expected an integer from 1 to 100' },
      ]);
    },
  );

  it('a well-formed cursor the incidents refuse is a 400 naming the cursor', async () => {
    incidents.fail('list', () => new InvalidCursorError('not a cursor of this listing'));
    const bad = await as('responder').get('/api/v1/incidents?cursor=AAAAAAAAAAAAAAAA');
    expectProblem(bad, 400);
    expect(bad.body.errors).toEqual([{ path: 'query.cursor', message: 'not a cursor of this listing' }]);
  });
});

describe('GET /api/v1/me', () => {
  const { app } = testApp();

  it.each(Object.keys(TOKENS) as (keyof typeof TOKENS)[])(
    'answers the %s caller with its verified subject and roles',
    async (name) => {
      const res = await request(app).get('/api/v1/me').set('Authorization', bearer(name)).expect(200);
      expect(res.body).toEqual({ subject: SUBJECTS[name], roles: expect.any(Array) });
      expect(res.body.roles.length).toBeGreaterThan(0);
    },
  );

  it('401 without a valid token', async () => {
    expectProblem(await request(app).get('/api/v1/me'), 401);
    expectProblem(await request(app).get('/api/v1/me').set('Authorization', 'Bearer nope'), 401);
  });
});

describe('error mapping', () => {
  const { app, incidents, log } = testApp();
  beforeEach(() => incidents.reset());
  const decide = () =>
    request(app)
      .post(`${P}/approvals/apr-1`)
      .set('Authorization', bearer('approver'))
      .send({ decision: 'approve' });

  it.each(Object.entries(REFUSALS))('refusal %s -> %i with its type', async (type, status) => {
    incidents.fail('decideApproval', () => new IncidentRefusedError(type, `refused: ${type}`, 999));
    const res = await decide();
    expectProblem(res, status);
    expect(res.body.refusal).toBe(type);
    expect(res.body.detail).toBe(`refused: ${type}`);
  });

  it('unknown refusal types keep a 4xx status, else 409', async () => {
    incidents.fail('decideApproval', () => new IncidentRefusedError('NewRefusal', 'nope', 422));
    expectProblem(await decide(), 422);
    incidents.fail('decideApproval', () => new IncidentRefusedError('NewRefusal', 'nope', 500));
    expectProblem(await decide(), 409);
  });

  it('not found -> 404, Temporal down -> 503 with Retry-After', async () => {
    incidents.fail('getState', () => new IncidentNotFoundError(INCIDENT_ID));
    expectProblem(await request(app).get(P).set('Authorization', bearer('responder')), 404);
    incidents.fail('getState', () => new TemporalUnavailableError('down'));
    const res = await request(app).get(P).set('Authorization', bearer('responder'));
    expectProblem(res, 503);
    expect(res.headers['retry-after']).toBe('5');
  });

  it('a missing payload encryption key is a 422 naming the key, as the codec routes answer', async () => {
    const err = Object.assign(new Error('payloads are encrypted with key k2'), {
      name: 'MissingEncryptionKeyError',
      keyIds: ['k2'],
    });
    incidents.fail('getState', () => err);
    const res = await request(app).get(P).set('Authorization', bearer('responder'));
    expectProblem(res, 422);
    expect(res.body.type).toMatch(/encryption-key-unavailable$/);
    expect(res.body.keyIds).toEqual(['k2']);
    expect(res.body.detail).toContain('"k2"');
  });

  it('an unexpected failure is a logged 500 problem that reveals nothing', async () => {
    incidents.fail('getState', () => new Error('database password is hunter2'));
    const res = await request(app).get(P).set('Authorization', bearer('responder'));
    expectProblem(res, 500);
    expect(JSON.stringify(res.body)).not.toContain('hunter2');
    expect(log.lines().some((l) => l.msg === 'unhandled error')).toBe(true);
  });
});

describe('audit routes', () => {
  it('501 problem+json when the audit module is not in this build (after auth and ID checks)', async () => {
    const { app } = testApp();
    for (const what of ['timeline', 'history', 'report', 'bundle']) {
      const res = await request(app).get(`${P}/${what}`).set('Authorization', bearer('auditor'));
      expectProblem(res, 501);
      expect(res.body.title).toBe('Not available in this build');
    }
    expect((await request(app).get(`${P}/timeline`)).status).toBe(401);
    expect(
      (await request(app).get('/api/v1/incidents/INC-x/timeline').set('Authorization', bearer('auditor')))
        .status,
    ).toBe(404);
  });

  it('delegates to the audit module, with the report format', async () => {
    const calls: unknown[][] = [];
    const { app } = testApp({
      audit: {
        timeline: async (id) => (calls.push(['timeline', id]), { events: [1] }),
        history: async (id) => (calls.push(['history', id]), { events: [2] }),
        report: async (id, format) => (
          calls.push(['report', id, format]),
          format === 'markdown' ? '# Report' : { id }
        ),
        bundle: async (id) => (
          calls.push(['bundle', id]),
          { fileName: `${id}.audit-bundle.json`, bundle: { id } }
        ),
        evidence: async (id) => (calls.push(['evidence', id]), { incidentId: id, items: [] }),
      },
    });
    const get = (path: string) => request(app).get(path).set('Authorization', bearer('auditor'));
    expect((await get(`${P}/timeline`).expect(200)).body).toEqual({ events: [1] });
    expect((await get(`${P}/history`).expect(200)).body).toEqual({ events: [2] });
    expect((await get(`${P}/report`).expect(200)).body).toEqual({ id: INCIDENT_ID });
    const md = await get(`${P}/report?format=markdown`).expect(200);
    expect(md.headers['content-type']).toMatch(/^text\/markdown/);
    expect(md.text).toBe('# Report');
    const negotiated = await get(`${P}/report`).set('Accept', 'text/markdown').expect(200);
    expect(negotiated.headers['content-type']).toMatch(/^text\/markdown/);
    expect(negotiated.text).toBe('# Report');
    expectProblem(await get(`${P}/report?format=pdf`), 400);
    const bundle = await get(`${P}/bundle`).expect(200);
    expect(bundle.body).toEqual({ id: INCIDENT_ID });
    expect(bundle.headers['content-disposition']).toBe(
      `attachment; filename="${INCIDENT_ID}.audit-bundle.json"`,
    );
    const evidence = await request(app).get(`${P}/evidence`).set('Authorization', bearer('responder'));
    expect(evidence.status).toBe(200);
    expect(evidence.body).toEqual({ incidentId: INCIDENT_ID, items: [] });
    expect(calls).toEqual([
      ['timeline', INCIDENT_ID],
      ['history', INCIDENT_ID],
      ['report', INCIDENT_ID, 'json'],
      ['report', INCIDENT_ID, 'markdown'],
      ['report', INCIDENT_ID, 'markdown'],
      ['bundle', INCIDENT_ID],
      ['evidence', INCIDENT_ID],
    ]);
  });
});

describe('HTTP behaviour', () => {
  const lab = express.Router();
  lab.get('/ping', (_req, res) => {
    res.json({ lab: true });
  });
  const { app, incidents, log } = testApp({ labRouter: lab });

  it('sets X-Request-Id on every response, keeping a well-formed incoming one', async () => {
    for (const res of [
      await request(app).get('/healthz'),
      await request(app).get('/nope'),
      await request(app).get(P),
      await request(app).get(P).set('Authorization', bearer('responder')),
    ]) {
      expect(res.headers['x-request-id']).toMatch(/^[\w.:-]+$/);
    }
    expect((await request(app).get('/healthz').set('X-Request-Id', 'abc-123')).headers['x-request-id']).toBe(
      'abc-123',
    );
    expect(
      (await request(app).get('/healthz').set('X-Request-Id', 'bad id <script>')).headers['x-request-id'],
    ).not.toContain('<');
  });

  it('404 for unknown routes, 405 with Allow for a wrong method', async () => {
    expectProblem(await request(app).get('/api/v1/nothing'), 404);
    const res = await request(app).delete(P).set('Authorization', bearer('admin'));
    expectProblem(res, 405);
    expect(res.headers.allow).toBe('GET, HEAD');
    expect((await request(app).get('/api/v1/alerts')).headers.allow).toBe('POST');
    const options = await request(app).options('/api/v1/alerts').expect(204);
    expect(options.headers.allow).toBe('POST');
    await request(app).head('/healthz').expect(200);
  });

  it('answers a GET whose ETag the caller sends back with 304, even with Cache-Control: no-cache (as fetch sends)', async () => {
    const first = await request(app)
      .get('/api/v1/incidents')
      .set('Authorization', bearer('responder'))
      .expect(200);
    const etag = first.headers.etag!;
    expect(etag).toMatch(/^W\/"/);
    const again = await request(app)
      .get('/api/v1/incidents')
      .set('Authorization', bearer('responder'))
      .set('If-None-Match', `"other", ${etag}`)
      .set('Cache-Control', 'no-cache')
      .expect(304);
    expect(again.headers.etag).toBe(etag);
    expect(again.text).toBe('');
    await request(app)
      .get('/api/v1/incidents')
      .set('Authorization', bearer('responder'))
      .set('If-None-Match', '"other"')
      .expect(200);
    // Authentication comes first: a stale token never learns whether anything changed.
    await request(app).get('/api/v1/incidents').set('If-None-Match', etag).expect(401);
  });

  it('mounts the lab router at /lab without authentication', async () => {
    expect((await request(app).get('/lab/ping').expect(200)).body).toEqual({ lab: true });
  });

  it('never logs tokens, and every log line carries the request ID', async () => {
    incidents.reset();
    await request(app).get(`${P}?access_token=${TOKENS.admin}`).set('Authorization', bearer('admin'));
    await request(app).get(P).set('Authorization', 'Bearer wrong-token-0123456789abcdef');
    await request(app).post('/api/v1/alerts').set('Authorization', bearer('ingest')).send(sample('generic'));
    const text = log.text();
    for (const token of [...Object.values(TOKENS), 'wrong-token-0123456789abcdef'])
      expect(text).not.toContain(token);
    expect(text).not.toMatch(/authorization/i);
    const lines = log.lines();
    expect(lines.length).toBeGreaterThan(3);
    for (const line of lines) {
      const id = (line.req as { id?: string } | undefined)?.id ?? line.reqId;
      expect(typeof id).toBe('string');
    }
    const access = lines.find((l) => {
      const req = l.req as { url?: string; method?: string } | undefined;
      return req?.method === 'POST' && req.url === '/api/v1/alerts';
    });
    expect(access).toMatchObject({
      level: 30,
      msg: 'request completed',
      route: '/api/v1/alerts',
      subject: SUBJECTS.ingest,
      res: { statusCode: 202 },
    });
    expect(typeof access?.responseTime).toBe('number');
    // A refused caller's line is a warning, and carries no subject (there is none).
    const refused = lines.find(
      (l) => (l.res as { statusCode?: number } | undefined)?.statusCode === 401 && l.req !== undefined,
    );
    expect(refused).toMatchObject({ level: 40, msg: 'request completed' });
    expect(refused?.subject).toBeUndefined();
    expect(
      lines.some(
        (l) => l.msg === 'authentication failed: unknown bearer token' && typeof l.reqId === 'string',
      ),
    ).toBe(true);
  });

  it("logs query values only for the API's own parameters: a token in any other one is redacted", async () => {
    const secret = 'leaked-secret-value-0123456789abcdef';
    const urls = [
      `/api/v1/incidents?bearer=${secret}`,
      `/api/v1/incidents?limit=5&x=${secret}`,
      `/api/v1/incidents?${secret}`,
      `/api/v1/nothing?session=${secret}`,
    ];
    for (const url of urls) await request(app).get(url).set('Authorization', bearer('admin'));
    const unauthorised = await request(app).get(`/api/v1/incidents?bearer=${secret}`);
    expect(unauthorised.status).toBe(401);
    expect(JSON.stringify(unauthorised.body)).not.toContain(secret);
    expect(log.text()).not.toContain(secret);
    const logged = log
      .lines()
      .map((l) => (l.req as { url?: string } | undefined)?.url)
      .filter((u): u is string => !!u && u.includes('redacted'));
    expect(logged).toEqual(
      expect.arrayContaining([
        '/api/v1/incidents?bearer=[redacted]',
        '/api/v1/incidents?limit=5&x=[redacted]',
        '/api/v1/incidents?[redacted]=[redacted]',
        '/api/v1/nothing?session=[redacted]',
      ]),
    );
  });
});

describe('GET /metrics', () => {
  it('exposes request, ingest, approval and incident metrics from a registry of its own', async () => {
    const a = testApp();
    const b = testApp(); // a second app in the same process must not collide
    a.incidents.openCounts = { containment: 1, identification: 3 };
    await request(a.app)
      .post('/api/v1/alerts')
      .set('Authorization', bearer('ingest'))
      .send(sample('generic'))
      .expect(202);
    await request(a.app)
      .post('/api/v1/alerts')
      .set('Authorization', bearer('ingest'))
      .send(sample('generic'))
      .expect(202);
    await request(a.app)
      .post('/api/v1/alerts')
      .set('Authorization', bearer('ingest'))
      .send(sample('alertmanager'))
      .expect(202);
    await request(a.app)
      .post(`${P}/approvals/apr-1`)
      .set('Authorization', bearer('approver'))
      .send({ decision: 'reject' });
    await request(a.app).get('/api/v1/incidents/INC-bad').set('Authorization', bearer('responder'));
    const res = await request(a.app).get('/metrics').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const m = res.text;
    expect(m).toMatch(/quell_http_requests_total\{method="POST",route="\/api\/v1\/alerts",status="202"\} 3/);
    expect(m).toMatch(
      /quell_http_request_duration_seconds_count\{method="POST",route="\/api\/v1\/alerts",status="202"\} 3/,
    );
    expect(m).toMatch(
      /quell_http_requests_total\{method="GET",route="\/api\/v1\/incidents\/:id",status="404"\} 1/,
    );
    expect(m).toMatch(/quell_alerts_ingested_total\{format="generic"\} 2/);
    expect(m).toMatch(/quell_alerts_ingested_total\{format="alertmanager"\} 2/);
    expect(m).toMatch(/quell_alerts_deduplicated_total\{format="generic"\} 1/);
    expect(m).toMatch(/quell_approvals_decided_total\{decision="reject"\} 1/);
    expect(m).toMatch(/quell_incidents_open\{phase="containment"\} 1/);
    expect(m).toMatch(/quell_incidents_open\{phase="identification"\} 3/);
    expect(m).toMatch(/quell_incidents_open\{phase="eradication"\} 0/);
    expect(m).not.toMatch(/quell_incidents_open\{phase="closed"\}/);
    expect(m).toMatch(/process_cpu_user_seconds_total/);
    // Counted by Temporal, one call per open phase; never by paging through the incident list.
    expect(a.incidents.callsOf('countOpen')).toContainEqual([{ phase: 'containment' }]);
    expect(a.incidents.callsOf('countOpen')).not.toContainEqual([{ phase: 'closed' }]);
    expect(a.incidents.callsOf('list')).toEqual([]);

    const other = await request(b.app).get('/metrics').expect(200);
    expect(other.text).not.toMatch(/quell_alerts_ingested_total\{format="generic"\}/);
  });

  it('still answers when counting incidents fails', async () => {
    const { app, incidents } = testApp();
    incidents.fail('countOpen', () => new TemporalUnavailableError('down'));
    const res = await request(app).get('/metrics').expect(200);
    expect(res.text).toMatch(/quell_incident_gauge_errors_total 1/);
  });
});
