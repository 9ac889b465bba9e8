/**
 * The Temporal codec server (POST /api/v1/codec/decode and /encode): the protocol's shape, validation, the key
 * cases, auth and CORS, over the real app with Quell's AES-GCM codec. The same routes against histories of a
 * real dev server: test/integration/codec-server.test.ts.
 */
import { randomBytes } from 'node:crypto';
import type { Payload } from '@temporalio/common';
import request from 'supertest';
import { loadConfig } from '../../src/config';
import { codecCorsOrigins, codecEndpointForUi } from '../../src/runtime';
import { CODEC_LIMITS } from '../../src/api/routes/codec';
import { AesGcmPayloadCodec, parseEncryptionKeys } from '../../src/temporal/codec';
import { bearer, testApp, type TokenName } from './support/harness';

const DECODE = '/api/v1/codec/decode';
const ENCODE = '/api/v1/codec/encode';
const UI = 'http://localhost:8233';
const key = () => randomBytes(32).toString('base64');
const K1 = key();
const codec = new AesGcmPayloadCodec(parseEncryptionKeys(`k2:${key()},k1:${K1}`));
const foreign = new AesGcmPayloadCodec(parseEncryptionKeys(`elsewhere:${key()}`));

const b64 = (s: string | Uint8Array) => Buffer.from(s).toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');
const jsonPayload = (value: unknown): Payload => ({
  metadata: { encoding: new TextEncoder().encode('json/plain') },
  data: new TextEncoder().encode(JSON.stringify(value)),
});
const toWire = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, b64(v)])),
  data: b64(p.data ?? new Uint8Array()),
});

const { app } = testApp({ codecServer: { codec, namespace: 'default', corsOrigins: [UI] } });
const plainApp = testApp({ codecServer: { namespace: 'default' } }).app;

const post = (path: string, body: unknown, who: TokenName = 'auditor', target = app) =>
  request(target)
    .post(path)
    .set('Authorization', bearer(who))
    .set('X-Namespace', 'default')
    .send(body as object);

describe('POST /api/v1/codec/decode', () => {
  it('decrypts what the codec encrypted, in order, as proto3 JSON', async () => {
    const alert = { host: 'ws-042', user: 'j.doe', comment: 'beaconing to 203.0.113.9' };
    const encrypted = await codec.encode([jsonPayload(alert), jsonPayload('second')]);
    expect(unb64(toWire(encrypted[0]!).metadata.encoding!)).toBe('binary/encrypted');
    const res = await post(DECODE, { payloads: encrypted.map(toWire) }).expect(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body.payloads).toHaveLength(2);
    expect(unb64(res.body.payloads[0].metadata.encoding)).toBe('json/plain');
    expect(JSON.parse(unb64(res.body.payloads[0].data))).toEqual(alert);
    expect(JSON.parse(unb64(res.body.payloads[1].data))).toBe('second');
  });

  it('passes payloads that are not encrypted through unchanged, and {} is no payloads', async () => {
    const plain = toWire(jsonPayload({ id: 'INC-1' }));
    expect((await post(DECODE, { payloads: [plain] }).expect(200)).body).toEqual({ payloads: [plain] });
    expect((await post(DECODE, {}).expect(200)).body).toEqual({ payloads: [] });
  });

  it('decrypts with any listed key (rotation) and accepts URL-safe, unpadded base64', async () => {
    const old = new AesGcmPayloadCodec(parseEncryptionKeys(`k1:${K1}`));
    const [sealed] = await old.encode([jsonPayload('rotated')]);
    const wire = toWire(sealed!);
    wire.data = wire.data.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    const res = await post(DECODE, { payloads: [wire] }).expect(200);
    expect(JSON.parse(unb64(res.body.payloads[0].data))).toBe('rotated');
  });

  it('answers 422 naming the key when a payload is encrypted with a key this server lacks', async () => {
    const [sealed] = await foreign.encode([jsonPayload('secret')]);
    const res = await post(DECODE, { payloads: [toWire(sealed!)] }).expect(422);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 422, keyIds: ['elsewhere'] });
    expect(res.body.type).toMatch(/encryption-key-unavailable$/);
    expect(res.body.detail).toContain('"elsewhere"');
    expect(JSON.stringify(res.body)).not.toContain('secret');
  });

  it('answers 422 when a payload does not authenticate (altered or wrong key material)', async () => {
    const [sealed] = await codec.encode([jsonPayload('secret')]);
    const data = Buffer.from(sealed!.data!);
    data.writeUInt8(data.readUInt8(data.length - 1) ^ 1, data.length - 1);
    const res = await post(DECODE, {
      payloads: [{ ...toWire(sealed!), data: data.toString('base64') }],
    }).expect(422);
    expect(res.body.type).toMatch(/payload-not-decryptable$/);
    const short = await post(DECODE, { payloads: [{ ...toWire(sealed!), data: b64('x') }] }).expect(422);
    expect(short.body.detail).toMatch(/too short/);
  });

  it("refuses another namespace than Quell's (X-Namespace), and serves requests without the header", async () => {
    const res = await request(app)
      .post(DECODE)
      .set('Authorization', bearer('auditor'))
      .set('X-Namespace', 'payments')
      .send({ payloads: [] })
      .expect(400);
    expect(res.body.errors).toEqual([
      { path: 'header.X-Namespace', message: expect.stringContaining('"default"') },
    ]);
    await request(app)
      .post(DECODE)
      .set('Authorization', bearer('auditor'))
      .send({ payloads: [] })
      .expect(200);
  });
});

describe('codec request validation: 400 naming the field, never a 500', () => {
  const good = toWire(jsonPayload('x'));
  const cases: [string, unknown, string][] = [
    ['data not base64', { payloads: [{ ...good, data: 'not base64!' }] }, 'payloads.0.data'],
    ['data of impossible length', { payloads: [{ ...good, data: 'abcde' }] }, 'payloads.0.data'],
    [
      'metadata value not base64',
      { payloads: [{ metadata: { encoding: 'json plain!' }, data: good.data }] },
      'payloads.0.metadata.encoding',
    ],
    [
      'metadata value not a string',
      { payloads: [{ metadata: { encoding: 5 } }] },
      'payloads.0.metadata.encoding',
    ],
    ['an unknown payload field', { payloads: [{ ...good, dta: 'eA==' }] }, 'payloads.0.dta'],
    ['an unknown top-level field', { payload: [good] }, 'payload'],
    ['payloads not a list', { payloads: good }, 'payloads'],
    ['a payload not an object', { payloads: ['eA=='] }, 'payloads.0'],
    [
      'too many payloads',
      { payloads: Array.from({ length: CODEC_LIMITS.payloads + 1 }, () => ({})) },
      'payloads',
    ],
    [
      'too much metadata',
      {
        payloads: [{ metadata: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'eA=='])) }],
      },
      'payloads.0.metadata',
    ],
  ];
  it.each(cases)('%s', async (_what, body, path) => {
    for (const route of [DECODE, ENCODE]) {
      const res = await post(route, body);
      expect({ route, status: res.status }).toEqual({ route, status: 400 });
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(path);
    }
  });

  it('malformed JSON, a wrong content type and an oversized body are 4xx problems', async () => {
    const raw = (route: string, type: string, body: string) =>
      request(app).post(route).set('Authorization', bearer('auditor')).set('Content-Type', type).send(body);
    expect((await raw(DECODE, 'application/json', '{"payloads": [')).status).toBe(400);
    expect((await raw(DECODE, 'text/plain', '{}')).status).toBe(415);
    const big = JSON.stringify({ payloads: [{ data: 'A'.repeat(1_200_000) }] });
    expect((await raw(DECODE, 'application/json', big)).status).toBe(413);
  });
});

describe('POST /api/v1/codec/encode', () => {
  it('encrypts with the first key, so the worker and /decode read it back', async () => {
    const res = await post(
      ENCODE,
      { payloads: [toWire(jsonPayload({ approve: true }))] },
      'responder',
    ).expect(200);
    const out = res.body.payloads[0];
    expect(unb64(out.metadata.encoding)).toBe('binary/encrypted');
    expect(unb64(out.metadata['encryption-key-id'])).toBe('k2');
    expect(unb64(out.data)).not.toContain('approve');
    const back = await post(DECODE, { payloads: [out] }).expect(200);
    expect(JSON.parse(unb64(back.body.payloads[0].data))).toEqual({ approve: true });
  });
});

describe('codec routes with encryption off', () => {
  it('encode and decode leave plain payloads unchanged (as Quell stores them then)', async () => {
    const plain = toWire(jsonPayload('x'));
    for (const route of [ENCODE, DECODE]) {
      expect((await post(route, { payloads: [plain] }, 'auditor', plainApp).expect(200)).body).toEqual({
        payloads: [plain],
      });
    }
  });

  it('decode refuses encrypted payloads with 422 saying encryption is off', async () => {
    const [sealed] = await codec.encode([jsonPayload('x')]);
    const res = await post(DECODE, { payloads: [toWire(sealed!)] }, 'auditor', plainApp).expect(422);
    expect(res.body).toMatchObject({ keyIds: ['k2'] });
    expect(res.body.detail).toContain('encryption is off');
  });
});

describe('codec auth', () => {
  const allowed: TokenName[] = ['responder', 'auditor', 'admin', 'responderApprover'];
  it.each([DECODE, ENCODE])(
    '%s: 401 without a token, 403 for ingest and approver, 200 for readers',
    async (route) => {
      const [sealed] = await codec.encode([jsonPayload('secret')]);
      const body = { payloads: [toWire(sealed!)] };
      const anonymous = await request(app).post(route).send(body);
      expect(anonymous.status).toBe(401);
      expect(JSON.stringify(anonymous.body)).not.toContain(b64('"secret"'));
      for (const who of ['ingest', 'approver'] as const) {
        const res = await post(route, body, who);
        expect({ who, status: res.status }).toEqual({ who, status: 403 });
        expect(JSON.stringify(res.body)).not.toContain(b64('"secret"'));
      }
      for (const who of allowed) expect((await post(route, body, who)).status).toBe(200);
    },
  );
});

describe('codec CORS', () => {
  const preflight = (route: string, origin: string) =>
    request(app)
      .options(route)
      .set('Origin', origin)
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'authorization,content-type,x-namespace');

  it.each([DECODE, ENCODE])("%s: answers the configured UI origin's preflight", async (route) => {
    const res = await preflight(route, UI).expect(204);
    expect(res.headers['access-control-allow-origin']).toBe(UI);
    expect(res.headers['access-control-allow-methods']).toBe('POST');
    expect(res.headers['access-control-allow-headers']).toBe('authorization, content-type, x-namespace');
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
    expect(res.headers.vary).toMatch(/Origin/);
  });

  it('gives other origins no CORS headers, on preflights and on requests', async () => {
    for (const origin of ['https://evil.example', 'http://localhost:8234', 'null']) {
      const pre = await preflight(DECODE, origin);
      expect(pre.headers['access-control-allow-origin']).toBeUndefined();
      expect(pre.headers['access-control-allow-methods']).toBeUndefined();
      const res = await post(DECODE, { payloads: [] }).set('Origin', origin).expect(200);
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
      expect(res.headers.vary).toMatch(/Origin/);
    }
  });

  it('the UI origin can read answers and refusals (so the UI falls back to ciphertext)', async () => {
    const ok = await post(DECODE, { payloads: [] }).set('Origin', UI).expect(200);
    expect(ok.headers['access-control-allow-origin']).toBe(UI);
    const refused = await request(app).post(DECODE).set('Origin', UI).send({ payloads: [] }).expect(401);
    expect(refused.headers['access-control-allow-origin']).toBe(UI);
  });

  it('other routes get no CORS headers even from the UI origin', async () => {
    const res = await request(app)
      .get('/api/v1/me')
      .set('Origin', UI)
      .set('Authorization', bearer('auditor'));
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('an app without configured origins answers no one', async () => {
    const none = await request(plainApp)
      .options(DECODE)
      .set('Origin', UI)
      .set('Access-Control-Request-Method', 'POST');
    expect(none.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('QUELL_CODEC_CORS_ORIGINS and the UI codec endpoint', () => {
  it('parses comma-separated origins and names a bad entry', () => {
    expect(
      loadConfig({ QUELL_CODEC_CORS_ORIGINS: 'https://ui.example.com/, http://LOCALHOST:8233' }).api
        .codecCorsOrigins,
    ).toEqual(['https://ui.example.com', 'http://localhost:8233']);
    expect(loadConfig({}).api.codecCorsOrigins).toBeUndefined();
    for (const bad of ['*', 'http://ui.example.com/path', 'ui.example.com', 'ftp://ui.example.com']) {
      expect(() => loadConfig({ QUELL_CODEC_CORS_ORIGINS: bad })).toThrow(
        /QUELL_CODEC_CORS_ORIGINS: .*is not an origin/,
      );
    }
  });

  it('defaults to the embedded dev server UI (both loopback names), else none', () => {
    const api = { host: '127.0.0.1', port: 8080 };
    expect(codecCorsOrigins(api, { kind: 'embedded', uiUrl: 'http://127.0.0.1:8233' })).toEqual([
      'http://127.0.0.1:8233',
      'http://localhost:8233',
    ]);
    expect(codecCorsOrigins(api, { kind: 'embedded' })).toEqual([]);
    expect(codecCorsOrigins(api, { kind: 'external' })).toEqual([]);
    expect(
      codecCorsOrigins(
        { ...api, codecCorsOrigins: ['https://ui.example.com'] },
        { kind: 'embedded', uiUrl: 'http://127.0.0.1:8233' },
      ),
    ).toEqual(['https://ui.example.com']);
  });

  it('points the embedded UI at the configured API address; not at all with port 0', () => {
    expect(codecEndpointForUi({ host: '127.0.0.1', port: 8080 })).toBe('http://127.0.0.1:8080/api/v1/codec');
    expect(codecEndpointForUi({ host: '0.0.0.0', port: 9000 })).toBe('http://localhost:9000/api/v1/codec');
    expect(codecEndpointForUi({ host: '::1', port: 9000 })).toBe('http://[::1]:9000/api/v1/codec');
    expect(codecEndpointForUi({ host: '127.0.0.1', port: 0 })).toBeUndefined();
  });
});
