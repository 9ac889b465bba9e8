import request from 'supertest';
import { z } from 'zod';
import { INCIDENT_ID } from './support/fake-incidents';
import { bearer, testApp } from './support/harness';
import { sample, sampleText, toDotted } from './support/samples';

/**
 * The document is generated from the route table that also registers the routes, and from the zod schemas the
 * routes validate with. These tests check that independently: against the express router stack, and by
 * validating real responses with validators rebuilt *from the published JSON Schema* (zod's fromJSONSchema),
 * not from the original zod schemas, so a conversion mistake would show.
 */
type Doc = {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
};
type Operation = {
  operationId: string;
  security: unknown[];
  parameters?: { name: string; in: string; required: boolean }[];
  requestBody?: { required: boolean; content: Record<string, { schema: { $ref: string } }> };
  responses: Record<string, { content?: Record<string, { schema: { $ref: string } }> }>;
};

const P = `/api/v1/incidents/${INCIDENT_ID}`;
const audit = {
  timeline: async () => ({ events: [] }),
  history: async () => ({ events: [] }),
  report: async () => ({ summary: 'x' }),
  bundle: async () => ({ fileName: 'x.audit-bundle.json', bundle: { format: 'quell.audit-bundle/v1' } }),
  evidence: async (incidentId: string) => ({ incidentId, items: [] }),
};
const { app } = testApp({ audit });
let doc: Doc;

/** A validator for a schema of the document, built from its JSON Schema (refs resolved through $defs). */
function validator(ref: string): z.ZodType {
  const defs = JSON.parse(
    JSON.stringify(doc.components.schemas).replaceAll('#/components/schemas/', '#/$defs/'),
  );
  return z.fromJSONSchema({ $ref: ref.replace('#/components/schemas/', '#/$defs/'), $defs: defs });
}

function responseValidator(
  path: string,
  method: string,
  status: number,
  type = 'application/json',
): z.ZodType {
  const ref = doc.paths[path]?.[method]?.responses[String(status)]?.content?.[type]?.schema.$ref;
  if (!ref) throw new Error(`no documented ${type} response ${status} for ${method.toUpperCase()} ${path}`);
  return validator(ref);
}

function expectValid(schema: z.ZodType, value: unknown) {
  const r = schema.safeParse(value);
  if (!r.success) throw new Error(`does not match the documented schema: ${JSON.stringify(r.error.issues)}`);
}

beforeAll(async () => {
  const res = await request(app).get('/api/v1/openapi.json').expect(200);
  doc = res.body as Doc;
});

describe('GET /api/v1/openapi.json', () => {
  it('is OpenAPI 3.1 with bearer and signature security schemes', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.components.securitySchemes.bearer).toEqual(
      expect.objectContaining({ type: 'http', scheme: 'bearer' }),
    );
    expect(doc.components.securitySchemes.quellSignature).toEqual(
      expect.objectContaining({ type: 'apiKey', in: 'header', name: 'X-Quell-Signature' }),
    );
    expect(doc.components.securitySchemes.quellSource).toEqual(
      expect.objectContaining({ type: 'apiKey', in: 'header', name: 'X-Quell-Source' }),
    );
  });

  it('declares the signature headers only as security, never as ordinary parameters', () => {
    const headerParams = Object.values(doc.paths).flatMap((ops) =>
      Object.values(ops).flatMap((op) => (op.parameters ?? []).filter((p) => p.in === 'header')),
    );
    expect(headerParams).toEqual([]);
  });

  it('lists exactly the routes the app registers (walking the express router stack)', () => {
    type Layer = {
      route?: { path: string; methods: Record<string, boolean>; stack: { handle: { name: string } }[] };
    };
    const registered = new Set<string>();
    for (const layer of (app.router as unknown as { stack: Layer[] }).stack) {
      if (!layer.route) continue;
      // The `app.all` fallbacks answer 405 (with Allow) for methods a path does not serve.
      if (layer.route.stack.some((l) => l.handle.name === 'methodNotAllowed')) continue;
      for (const [method, on] of Object.entries(layer.route.methods)) {
        if (!on) continue;
        registered.add(`${method.toUpperCase()} ${layer.route.path.replace(/:(\w+)/g, '{$1}')}`);
      }
    }
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, ops]) =>
        Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
      ),
    );
    expect([...documented].sort()).toEqual([...registered].sort());
    // 4 operational, 2 identity, 2 intake (one alert, a batch), 2 reads, 6 responder, 5 audit, 2 codec server,
    // 1 Slack
    expect(registered.size).toBe(24);
  });

  it('documents path parameters, request bodies, security and problem responses for every operation', () => {
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const where = `${method.toUpperCase()} ${path}`;
        for (const name of [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1])) {
          expect({
            where,
            param: op.parameters?.find((p) => p.name === name && p.in === 'path')?.required,
          }).toEqual({
            where,
            param: true,
          });
        }
        if (method === 'post')
          expect({ where, body: Boolean(op.requestBody) }).toEqual({ where, body: true });
        expect(op.responses.default?.content?.['application/problem+json']?.schema.$ref).toBe(
          '#/components/schemas/Problem',
        );
        const isPublic = op.security.length === 0;
        expect({ where, isPublic }).toEqual({
          where,
          isPublic: [
            '/healthz',
            '/readyz',
            '/metrics',
            '/api/v1/openapi.json',
            '/api/v1/auth/config',
          ].includes(path),
        });
        if (!isPublic) {
          // Slack's signature names no caller with roles: a bad one is a 401, there is no 403.
          const slack = (op.security as object[]).some((sec) => 'slackSignature' in sec);
          for (const s of slack ? ['401'] : ['401', '403']) {
            expect(op.responses[s]?.content?.['application/problem+json']?.schema.$ref).toBe(
              '#/components/schemas/Problem',
            );
          }
        }
        for (const [ref] of Object.values(op.requestBody?.content ?? {}).map((c) => [c.schema.$ref])) {
          expect(() => validator(ref!)).not.toThrow();
        }
      }
    }
    const alerts = doc.paths['/api/v1/alerts']!.post!;
    expect(alerts.security).toEqual([{ bearer: [] }, { quellSource: [], quellSignature: [] }]);
    expect(Object.keys(alerts.responses)).toEqual(
      expect.arrayContaining(['202', '400', '401', '403', '413', '415', '422', '429', '503']),
    );
    const slack = doc.paths['/api/v1/integrations/slack/interactions']!.post!;
    expect(slack.security).toEqual([{ slackSignature: [], slackTimestamp: [] }]);
    expect(Object.keys(slack.requestBody!.content)).toEqual(['application/x-www-form-urlencoded']);
    expect(Object.keys(slack.responses)).toEqual(
      expect.arrayContaining(['200', '400', '401', '404', '413', '415']),
    );
    expect(doc.paths['/api/v1/incidents/{id}/approvals/{approvalId}']!.post!.requestBody!.required).toBe(
      true,
    );
    expect(doc.paths['/api/v1/incidents/{id}/actions/{actionId}/retry']!.post!.requestBody!.required).toBe(
      false,
    );
    expect(doc.paths['/api/v1/incidents']!.get!.parameters!.map((p) => p.name).sort()).toEqual([
      'cursor',
      'limit',
      'phase',
      'playbook',
      'severity',
      'status',
    ]);
  });

  describe('the documented alert body accepts exactly what the API accepts', () => {
    const { app: ingestApp } = testApp();
    let ingest: z.ZodType;
    beforeAll(() => {
      ingest = validator(
        doc.paths['/api/v1/alerts']!.post!.requestBody!.content['application/json']!.schema.$ref,
      );
    });
    const apiStatus = async (body: unknown) =>
      (
        await request(ingestApp)
          .post('/api/v1/alerts')
          .set('Authorization', bearer('ingest'))
          .send(body as object)
      ).status;
    const ocsf = (over: Record<string, unknown>) => ({ ...sample('ocsf'), ...over });
    // Nested Kibana fields beside dotted ECS ones, as in the alerts index.
    const mixedElastic = () => ({
      ...sample('elastic'),
      user: undefined,
      source: undefined,
      'user.name': 'm.chen',
      'source.ip': '198.51.100.23',
    });

    it.each([
      ['OCSF, activity 1 with type_uid 200401', () => ocsf({ activity_id: 1, type_uid: 200401 })],
      ['OCSF, activity 99 with type_uid 200499', () => ocsf({ activity_id: 99, type_uid: 200499 })],
      ['OCSF without type_uid', () => ocsf({ type_uid: undefined })],
      ['OCSF named by vendor only', () => ocsf({ metadata: { product: { vendor_name: 'Acme' } } })],
      ['Elastic, nested', () => sample('elastic')],
      ['Elastic, dotted', () => toDotted(sample('elastic'))],
      ['Elastic, mixed', mixedElastic],
      ['generic', () => sample('generic')],
      ['Alertmanager', () => sample('alertmanager')],
    ])('accepts %s, as the API does', async (_what, body) => {
      expectValid(ingest, JSON.parse(JSON.stringify(body())));
      expect(await apiStatus(body())).toBe(202);
    });
  });

  it('declares 422 for an alert in no known format', () => {
    const alerts = doc.paths['/api/v1/alerts']!.post!;
    expect(alerts.responses['422']?.content?.['application/problem+json']?.schema.$ref).toBe(
      '#/components/schemas/Problem',
    );
  });

  it('the documented request schemas accept the sample alerts and reject an invalid one', () => {
    const ingest = validator(
      doc.paths['/api/v1/alerts']!.post!.requestBody!.content['application/json']!.schema.$ref,
    );
    for (const f of ['ocsf', 'elastic', 'alertmanager', 'generic'] as const) expectValid(ingest, sample(f));
    const generic = validator('#/components/schemas/GenericAlert');
    expect(generic.safeParse({ ...sample('generic'), severity: 'apocalyptic' }).success).toBe(false);
    const decision = validator('#/components/schemas/ApprovalDecisionRequest');
    expect(decision.safeParse({ decision: 'approve' }).success).toBe(true);
    expect(decision.safeParse({ decision: 'approve', approver: 'mallory' }).success).toBe(false);
  });
});

describe('real responses validate against the documented response schemas', () => {
  const as = (token: Parameters<typeof bearer>[0]) => ({
    get: (path: string) => request(app).get(path).set('Authorization', bearer(token)),
    post: (path: string) => request(app).post(path).set('Authorization', bearer(token)),
  });

  it.each([
    ['GET', '/api/v1/incidents/{id}', 200, () => as('responder').get(P)],
    ['GET', '/api/v1/incidents', 200, () => as('responder').get('/api/v1/incidents')],
    [
      'POST',
      '/api/v1/incidents/{id}/approvals/{approvalId}',
      200,
      () => as('approver').post(`${P}/approvals/apr-1`).send({ decision: 'approve' }),
    ],
    [
      'POST',
      '/api/v1/incidents/{id}/actions/{actionId}/retry',
      200,
      () => as('responder').post(`${P}/actions/act-1/retry`).send({ comment: 'x' }),
    ],
    [
      'POST',
      '/api/v1/incidents/{id}/actions/{actionId}/skip',
      200,
      () => as('responder').post(`${P}/actions/act-1/skip`),
    ],
    [
      'POST',
      '/api/v1/incidents/{id}/checklist/{itemId}',
      200,
      () => as('responder').post(`${P}/checklist/reimage`).send({ note: 'n' }),
    ],
    [
      'POST',
      '/api/v1/incidents/{id}/notes',
      201,
      () => as('responder').post(`${P}/notes`).send({ text: 't' }),
    ],
    [
      'POST',
      '/api/v1/incidents/{id}/close',
      202,
      () => as('approver').post(`${P}/close`).send({ resolution: 'resolved' }),
    ],
    [
      'POST',
      '/api/v1/alerts',
      202,
      () =>
        as('ingest').post('/api/v1/alerts').set('Content-Type', 'application/json').send(sampleText('ocsf')),
    ],
    ['POST', '/api/v1/alerts', 202, () => as('ingest').post('/api/v1/alerts').send(sample('alertmanager'))],
    ['GET', '/api/v1/incidents/{id}/timeline', 200, () => as('auditor').get(`${P}/timeline`)],
    ['GET', '/api/v1/incidents/{id}/bundle', 200, () => as('auditor').get(`${P}/bundle`)],
    ['GET', '/healthz', 200, () => request(app).get('/healthz')],
    ['GET', '/api/v1/openapi.json', 200, () => request(app).get('/api/v1/openapi.json')],
  ] as const)('%s %s %i', async (method, path, status, send) => {
    const res = await send();
    expect(res.status).toBe(status);
    expectValid(responseValidator(path, method.toLowerCase(), status), res.body);
  });

  it('problem responses match the Problem schema', async () => {
    const problems = [
      await request(app).get(P),
      await as('ingest').get(P),
      await as('responder').get('/api/v1/incidents/INC-x'),
      await as('responder').get('/api/v1/incidents?limit=1000'),
      await as('ingest').post('/api/v1/alerts').send({ what: 'ever' }),
      await as('approver').post(`${P}/approvals/apr-1`).send({ decision: 'approve', approver: 'x' }),
    ];
    const schema = responseValidator('/api/v1/incidents/{id}', 'get', 404, 'application/problem+json');
    expect(problems.map((r) => r.status)).toEqual([401, 403, 404, 400, 422, 400]);
    for (const res of problems) expectValid(schema, res.body);
  });

  it('the validators are not vacuous', async () => {
    const state = (await as('responder').get(P)).body;
    const schema = responseValidator('/api/v1/incidents/{id}', 'get', 200);
    expect(schema.safeParse({ ...state, phase: 'party' }).success).toBe(false);
    const { scope: _scope, ...missing } = state;
    expect(schema.safeParse(missing).success).toBe(false);
    expect(schema.safeParse({ ...state, approvals: [{ approvalId: 1 }] }).success).toBe(false);
  });
});
