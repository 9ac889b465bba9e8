import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { METHODS } from 'node:http';
import path from 'node:path';
import express from 'express';
import request from 'supertest';
import { testApp } from './support/harness';

/**
 * Characterisation of what the API serves: the OpenAPI document byte for byte (its SHA-256, with a readable
 * line and a hash per operation and per component schema so a failure says where it moved) and the express
 * router stack in registration order (each middleware's mount path; each route's methods, path and the length
 * of its handler chain). A restructuring of src/api/ must not move either: the document's path order is the
 * route table's order, which is also the order express matches routes in.
 *
 * After a deliberate change of the API, rewrite the golden file with
 * `UPDATE_API_GOLDEN=1 npx jest test/api/served-api-golden.test.ts` and review its diff.
 */
const GOLDEN = path.join(__dirname, 'golden', 'served-api.json');

interface Golden {
  documentSha256: string;
  documentBytes: number;
  operations: string[];
  operationSha256: Record<string, string>;
  componentSchemaSha256: Record<string, string>;
  routerStack: string[];
  /** Per served path: what `OPTIONS` answers in `Allow` (the 405 fallbacks). */
  allow: Record<string, string>;
}

type JsonSchema = Record<string, unknown>;
interface Operation {
  operationId: string;
  security: Record<string, unknown>[];
  'x-quell-roles'?: string[];
  parameters?: { name: string; in: string; required: boolean }[];
  requestBody?: { required: boolean; content: Record<string, { schema: { $ref: string } }> };
  responses: Record<string, { content?: Record<string, { schema: { $ref: string } }> }>;
}
interface Doc {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, JsonSchema> };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const short = (value: unknown) => sha256(JSON.stringify(value)).slice(0, 16);
const refName = (ref: string) => ref.replace('#/components/schemas/', '');

/** One line per operation: what a reader checks first when the document moved. */
function describeOperation(method: string, route: string, op: Operation): string {
  const auth =
    op.security.length === 0
      ? 'public'
      : `${op.security.map((s) => Object.keys(s).join('+')).join('|')} roles=${(op['x-quell-roles'] ?? []).join(',')}`;
  const params = (op.parameters ?? []).map((p) => `${p.in}:${p.name}${p.required ? '' : '?'}`).join(',');
  const body = op.requestBody
    ? Object.entries(op.requestBody.content)
        .map(([type, c]) => `${type}=${refName(c.schema.$ref)}${op.requestBody!.required ? '' : '?'}`)
        .join(',')
    : '-';
  const responses = Object.entries(op.responses)
    .map(([status, r]) => {
      const content = Object.entries(r.content ?? {}).map(([type, c]) => `${type}=${refName(c.schema.$ref)}`);
      return content.length > 0 ? `${status}(${content.join(',')})` : status;
    })
    .join(' ');
  return `${method.toUpperCase()} ${route} ${op.operationId} [${auth}] params(${params}) body(${body}) -> ${responses}`;
}

interface Layer {
  rawPath?: string;
  route?: { path: string; methods: Record<string, boolean>; stack: unknown[] };
}

/**
 * The app's router stack, in order: `use <mount>` for middleware, `<METHODS> <path> x<handlers>` for routes
 * (`app.all` registers its handler once per method Node knows: `ALL`, with the handlers per method).
 */
function describeStack(app: express.Express): string[] {
  return (app.router as unknown as { stack: Layer[] }).stack.map((layer) => {
    if (!layer.route) return `use ${layer.rawPath ?? '?'}`;
    const methods = Object.entries(layer.route.methods)
      .filter(([, on]) => on)
      .map(([m]) => m.toUpperCase());
    const all = METHODS.every((m) => methods.includes(m));
    const handlers = layer.route.stack.length / (all ? methods.length : 1);
    return `${all ? 'ALL' : methods.join(',')} ${layer.route.path} x${handlers}`;
  });
}

async function allowHeaders(app: express.Express): Promise<Record<string, string>> {
  const allow: Record<string, string> = {};
  for (const layer of (app.router as unknown as { stack: Layer[] }).stack) {
    const route = layer.route?.path;
    if (!route || route in allow) continue;
    // The fallbacks do not validate parameters: any value reaches them.
    const res = await request(app)
      .options(route.replace(/:(\w+)/g, '$1'))
      .expect(204);
    allow[route] = String(res.headers.allow);
  }
  return allow;
}

async function characterise(): Promise<Golden> {
  const { app } = testApp({ labRouter: express.Router() });
  const res = await request(app).get('/api/v1/openapi.json').expect(200);
  const doc = JSON.parse(res.text) as Doc;
  const operations: string[] = [];
  const operationSha256: Record<string, string> = {};
  for (const [route, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      operations.push(describeOperation(method, route, op));
      operationSha256[op.operationId] = short(op);
    }
  }
  return {
    documentSha256: sha256(res.text),
    documentBytes: Buffer.byteLength(res.text),
    operations,
    operationSha256,
    componentSchemaSha256: Object.fromEntries(
      Object.entries(doc.components.schemas).map(([name, s]) => [name, short(s)]),
    ),
    routerStack: describeStack(app),
    allow: await allowHeaders(app),
  };
}

describe('served API golden: the OpenAPI document and the router stack are what was recorded', () => {
  let actual: Golden;
  let golden: Golden;
  beforeAll(async () => {
    actual = await characterise();
    if (process.env.UPDATE_API_GOLDEN === '1') writeFileSync(GOLDEN, `${JSON.stringify(actual, null, 2)}\n`);
    golden = JSON.parse(readFileSync(GOLDEN, 'utf8')) as Golden;
  });

  it('lists the same operations, in the same order', () => {
    expect(actual.operations).toEqual(golden.operations);
  });

  it('has the same operation objects', () => {
    expect(Object.entries(actual.operationSha256)).toEqual(Object.entries(golden.operationSha256));
  });

  it('has the same component schemas, in the same order', () => {
    expect(Object.entries(actual.componentSchemaSha256)).toEqual(
      Object.entries(golden.componentSchemaSha256),
    );
  });

  it('serves the same document, byte for byte', () => {
    expect({ sha256: actual.documentSha256, bytes: actual.documentBytes }).toEqual({
      sha256: golden.documentSha256,
      bytes: golden.documentBytes,
    });
  });

  it('registers the same middleware and routes, in the same order, with chains of the same length', () => {
    expect(actual.routerStack).toEqual(golden.routerStack);
  });

  it('answers OPTIONS with the same Allow header on every path', () => {
    expect(Object.entries(actual.allow)).toEqual(Object.entries(golden.allow));
  });
});
