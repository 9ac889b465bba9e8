import type { Server } from 'node:http';
import fc from 'fast-check';
import request from 'supertest';
import type { z } from 'zod';
import {
  actionResolutionBody,
  approvalDecisionBody,
  checklistBody,
  closeBody,
  noteBody,
} from '../../src/api/schemas';
import { detectAlertFormat, normalizeAlertBody } from '../../src/ingest';
import { INCIDENT_ID } from './support/fake-incidents';
import { SIGNING, bearer, signed, testApp } from './support/harness';
import { sample } from './support/samples';

/**
 * Thousands of malformed and hostile requests to every write endpoint. The properties: never a 5xx; every
 * error is problem+json; a request the API refuses reaches IncidentOperations not at all; a request it accepts
 * was valid (checked independently against the same schemas); and nothing pollutes Object.prototype.
 * QUELL_FUZZ_RUNS sets the runs per property (default 300); QUELL_FUZZ_SEED replays a failure.
 */
const RUNS = Number(process.env.QUELL_FUZZ_RUNS ?? 300);
const SEED = process.env.QUELL_FUZZ_SEED ? Number(process.env.QUELL_FUZZ_SEED) : undefined;
const fcOptions = { numRuns: RUNS, ...(SEED !== undefined ? { seed: SEED } : {}) };
jest.setTimeout(Math.max(120_000, RUNS * 400));

const P = `/api/v1/incidents/${INCIDENT_ID}`;
const JSON_TYPE = 'application/json';

interface Endpoint {
  name: string;
  path: string;
  /** The strict schema of a responder body; undefined for alert intake (checked by normalizing). */
  schema?: z.ZodType;
  valid: () => unknown;
}

const ENDPOINTS: Endpoint[] = [
  { name: 'POST /alerts', path: '/api/v1/alerts', valid: () => sample('generic') },
  {
    name: 'POST approvals',
    path: `${P}/approvals/apr-1`,
    schema: approvalDecisionBody,
    valid: () => ({ decision: 'approve', comment: 'ok' }),
  },
  {
    name: 'POST retry',
    path: `${P}/actions/act-1/retry`,
    schema: actionResolutionBody,
    valid: () => ({ comment: 'again' }),
  },
  {
    name: 'POST skip',
    path: `${P}/actions/act-1/skip`,
    schema: actionResolutionBody,
    valid: () => ({ comment: 'skip it' }),
  },
  {
    name: 'POST checklist',
    path: `${P}/checklist/reimage`,
    schema: checklistBody,
    valid: () => ({ note: 'done' }),
  },
  { name: 'POST notes', path: `${P}/notes`, schema: noteBody, valid: () => ({ text: 'note', kind: 'note' }) },
  {
    name: 'POST close',
    path: `${P}/close`,
    schema: closeBody,
    valid: () => ({ resolution: 'resolved', comment: 'ok' }),
  },
];
const ALERT_SAMPLES = ['generic', 'ocsf', 'elastic', 'alertmanager'] as const;

// ---- Arbitraries ----

const HOSTILE_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  '__defineGetter__',
];
const FIELD_KEYS = [
  'decision',
  'comment',
  'note',
  'text',
  'kind',
  'resolution',
  'approver',
  'actor',
  'subject',
  'roles',
  'by',
  'source',
  'id',
  'title',
  'severity',
  'hosts',
  'ips',
  'labels',
  'class_uid',
  'finding_info',
  'time',
  'metadata',
  'version',
  'alerts',
  'receiver',
  'status',
  'kibana.alert.uuid',
  'event.kind',
  '@timestamp',
];
const HUGE = ['x'.repeat(300_000), '\u0000'.repeat(50_000), '😀'.repeat(60_000), 'é'.repeat(120_000)];

const key = fc.oneof(
  fc.constantFrom(...HOSTILE_KEYS, ...FIELD_KEYS),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 10 }),
);
const scalar = fc.oneof(
  fc.constantFrom(
    null,
    true,
    false,
    0,
    -1,
    1e308,
    -0,
    2 ** 53 + 1,
    '',
    ' ',
    'approve',
    'resolved',
    'note',
    'critical',
    2004,
    '4',
  ),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({ unit: 'grapheme', maxLength: 50 }),
  fc.constantFrom(...HUGE),
);
/** Any JSON value, nested. */
const value: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(tie('v'), { maxLength: 5 }),
    fc.array(fc.tuple(key, tie('v')), { maxLength: 5 }).map((entries) => ({ __entries: entries })),
  ),
})).v;

/** Serializes, writing `{__entries}` objects entry by entry (so `__proto__` and duplicate keys survive). */
function isEntries(v: unknown): v is { __entries: [string, unknown][] } {
  return v !== null && typeof v === 'object' && Array.isArray((v as { __entries?: unknown }).__entries);
}
function toJson(v: unknown): string {
  if (isEntries(v)) {
    return `{${v.__entries.map(([k, x]) => `${JSON.stringify(k)}:${toJson(x)}`).join(',')}}`;
  }
  if (Array.isArray(v)) return `[${Array.from(v, toJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    // Own keys as they are, `__proto__` included (a mutation may have defined one).
    return `{${Object.keys(v)
      .map((k) => `${JSON.stringify(k)}:${toJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** A valid body with some fields replaced, removed or added (at any depth). */
function mutated(valid: () => unknown) {
  return fc
    .array(fc.record({ at: fc.nat(), op: fc.constantFrom('set', 'delete', 'add'), key, value }), {
      minLength: 0, // sometimes unmodified, so the accepting path is exercised too
      maxLength: 4,
    })
    .map((ops) => {
      const body = valid() as Record<string, unknown>;
      for (const o of ops) {
        const targets: Record<string, unknown>[] = [];
        // Generated `{__entries}` values are leaves: mutating their insides would break the serializer.
        const walk = (x: unknown) => {
          if (x !== null && typeof x === 'object' && !isEntries(x)) {
            targets.push(x as Record<string, unknown>);
            for (const child of Object.values(x)) walk(child);
          }
        };
        walk(body);
        const target = targets[o.at % targets.length]!;
        const keys = Object.keys(target);
        const k = o.op === 'add' || keys.length === 0 ? o.key : keys[o.at % keys.length]!;
        // An array serializes by its indices only; other keys (`length` cannot even be redefined) change nothing.
        if (Array.isArray(target) && !/^\d+$/.test(k)) continue;
        if (o.op === 'delete') delete target[k];
        else
          Object.defineProperty(target, k, {
            value: o.value,
            enumerable: true,
            writable: true,
            configurable: true,
          });
      }
      return toJson(body);
    });
}

const deep = fc
  .record({ n: fc.integer({ min: 40, max: 50_000 }), obj: fc.boolean() })
  .map(({ n, obj }) => (obj ? `${'{"a":'.repeat(n)}1${'}'.repeat(n)}` : `${'['.repeat(n)}${']'.repeat(n)}`));
const contentType = fc.oneof(
  { weight: 8, arbitrary: fc.constant(JSON_TYPE) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'application/json; charset=utf-8',
      'application/alert+json',
      'application/json; charset=utf-16',
      'text/plain',
      'application/xml',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/json; charset',
      ';;;',
      '',
    ),
  },
);

function payload(ep: Endpoint) {
  const validBodies =
    ep.schema === undefined
      ? fc.constantFrom(...ALERT_SAMPLES).chain((s) => mutated(() => sample(s)))
      : mutated(ep.valid);
  const body = fc.oneof(
    { weight: 4, arbitrary: validBodies },
    { weight: 3, arbitrary: value.map(toJson) },
    { weight: 1, arbitrary: deep },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '{"__proto__":{"polluted":1}}',
        '{"constructor":{"prototype":{"polluted":1}}}',
        `{"text":"${'x'.repeat(1_100_000)}"}`,
      ),
    },
  );
  return fc.record({ body, contentType });
}

/**
 * What the API should have accepted, decided independently of the app from its documented rules: a JSON media
 * type (application/json or application/*+json) in UTF-8 if a charset is named; an empty body counts as `{}`
 * on responder routes (all their fields may be optional) and is refused on alert intake; then the same schemas
 * or the same normalizer.
 */
function shouldAccept(ep: Endpoint, type: string, body: string | Buffer): boolean {
  const length = Buffer.isBuffer(body) ? body.length : Buffer.byteLength(body);
  if (length === 0 && ep.schema) return ep.schema.safeParse({}).success;
  const [media = '', ...params] = type.split(';').map((p) => p.trim().toLowerCase());
  if (!/^application\/([\w.-]+\+)?json$/.test(media)) return false;
  const charset = params.map((p) => /^charset\s*=\s*"?([^"]+)"?$/.exec(p)?.[1]).find(Boolean);
  if (charset && !/^utf-?8$/.test(charset)) return false;
  let parsed: unknown;
  try {
    parsed = JSON.parse(
      Buffer.isBuffer(body) ? new TextDecoder('utf-8', { fatal: true }).decode(body) : body,
    );
  } catch {
    return false;
  }
  if (ep.schema) return ep.schema.safeParse(parsed).success;
  const format = detectAlertFormat(parsed);
  return format !== undefined && normalizeAlertBody(parsed, format, new Date().toISOString()).ok;
}

describe('fuzzing every write endpoint with malformed and hostile bodies', () => {
  const { app, incidents } = testApp({ rateLimit: false });
  let server: Server;
  const counts: Record<string, { runs: number; accepted: number; byStatus: Record<number, number> }> = {};

  beforeAll(async () => {
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    process.stdout.write(`fuzz runs per property: ${RUNS}\n${JSON.stringify(counts, null, 1)}\n`);
  });

  function check(name: string, res: request.Response, callsBefore: number, accepted: boolean) {
    const c = (counts[name] ??= { runs: 0, accepted: 0, byStatus: {} });
    c.runs++;
    c.byStatus[res.status] = (c.byStatus[res.status] ?? 0) + 1;
    expect(res.status).toBeLessThan(500);
    expect(res.headers['x-request-id']).toBeDefined();
    const calls = incidents.calls.length - callsBefore;
    if (res.status >= 400) {
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({
        status: res.status,
        type: expect.any(String),
        detail: expect.any(String),
      });
      expect(calls).toBe(0);
    } else {
      c.accepted++;
      expect(accepted).toBe(true);
      expect(calls).toBeGreaterThan(0);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  }

  it.each(ENDPOINTS.map((e) => [e.name, e] as const))('%s', async (name, ep) => {
    await fc.assert(
      fc.asyncProperty(payload(ep), async ({ body, contentType: type }) => {
        const before = incidents.calls.length;
        let req = request(server).post(ep.path).set('Authorization', bearer('admin'));
        if (type) req = req.set('Content-Type', type);
        const res = await req.serialize((x) => x).send(body);
        check(name, res, before, shouldAccept(ep, type, body));
      }),
      fcOptions,
    );
  });

  it('POST /alerts with forged signatures', async () => {
    const header = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc
        .tuple(
          fc.integer(),
          fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 }),
        )
        .map(([t, h]) => `t=${t},v1=${h}`),
      fc.constant(signed('{"other":"body"}')),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          source: fc.oneof(fc.constant(SIGNING.source), fc.string({ maxLength: 30 })),
          header,
          body: value.map(toJson),
        }),
        async ({ source, header: sig, body }) => {
          const before = incidents.calls.length;
          const res = await request(server)
            .post('/api/v1/alerts')
            .set('Content-Type', JSON_TYPE)
            .set('X-Quell-Source', source.replace(/[^\x20-\x7e]/g, '?'))
            .set('X-Quell-Signature', sig.replace(/[^\x20-\x7e]/g, '?'))
            .send(body);
          check('POST /alerts (signed)', res, before, false);
          // The raw body must be read to verify it, so an oversized one is refused (413) before verification.
          expect([401, 413]).toContain(res.status);
        },
      ),
      fcOptions,
    );
  });

  it('hostile path parameters and queries', async () => {
    const segment = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 60 }),
      fc.constantFrom('..', '%', '%00', 'INC-', INCIDENT_ID),
    );
    await fc.assert(
      fc.asyncProperty(segment, segment, fc.string({ maxLength: 80 }), async (a, b, q) => {
        const before = incidents.calls.length;
        const path = `/api/v1/incidents/${encodeURIComponent(a)}/approvals/${encodeURIComponent(b)}?${encodeURIComponent(q)}=${encodeURIComponent(a)}`;
        const res = await request(server)
          .post(path)
          .set('Authorization', bearer('admin'))
          .send({ decision: 'approve' });
        expect(res.status).toBeLessThan(500);
        if (res.status >= 400) expect(incidents.calls.length).toBe(before);
        const list = await request(server)
          .get(`/api/v1/incidents?${encodeURIComponent(q)}=${encodeURIComponent(b)}`)
          .set('Authorization', bearer('admin'));
        expect(list.status).toBeLessThan(500);
      }),
      fcOptions,
    );
  });
});
