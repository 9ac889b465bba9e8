import request from 'supertest';
import { SIGNING, bearer, signed, testApp } from './support/harness';
import { sampleText } from './support/samples';

const now = () => Math.floor(Date.now() / 1000);

describe('HMAC-signed alert sources', () => {
  const { app, incidents, log } = testApp();
  const body = sampleText('generic');
  const post = (headers: Record<string, string>, payload: string | Buffer = body) => {
    let req = request(app).post('/api/v1/alerts').set('Content-Type', 'application/json');
    for (const [k, v] of Object.entries(headers)) req = req.set(k, v);
    // Raw bytes as given (superagent would otherwise JSON-serialize a Buffer).
    return req.serialize((x) => x).send(payload);
  };

  beforeEach(() => incidents.reset());

  it('accepts a valid signature and records the alert as raised by source:<name>', async () => {
    const res = await post({ 'X-Quell-Source': SIGNING.source, 'X-Quell-Signature': signed(body) });
    expect(res.status).toBe(202);
    expect(incidents.callsOf('ingestAlert')).toHaveLength(1);
    expect(incidents.callsOf('ingestAlert')[0]![1]).toBe(`source:${SIGNING.source}`);
  });

  it('accepts the second (rotated) secret, and any matching v1 among several', async () => {
    await post({
      'X-Quell-Source': SIGNING.source,
      'X-Quell-Signature': signed(body, SIGNING.secrets[1]),
    }).expect(202);
    const t = now();
    const good = signed(body, SIGNING.secrets[1], t).split(',')[1]!;
    const header = `t=${t},v1=${'00'.repeat(32)},${good}`;
    await post({ 'X-Quell-Source': SIGNING.source, 'X-Quell-Signature': header }).expect(202);
  });

  it('verifies the exact raw bytes (whitespace and unicode included)', async () => {
    const raw = Buffer.from(
      `  {"source":"edr-lab","id":"d-ü","title":"Ünïcode ✓","severity":"low"}\n`,
      'utf8',
    );
    await post(
      { 'X-Quell-Source': SIGNING.source, 'X-Quell-Signature': signed(raw.toString('utf8')) },
      raw,
    ).expect(202);
    const reformatted = Buffer.from(JSON.stringify(JSON.parse(raw.toString('utf8'))));
    const res = await post(
      { 'X-Quell-Source': SIGNING.source, 'X-Quell-Signature': signed(raw.toString('utf8')) },
      reformatted,
    );
    expect(res.status).toBe(401);
  });

  it.each([
    ['expired (older than 300 s)', () => signed(body, SIGNING.secrets[0], now() - 301), 'Signature expired.'],
    [
      'from the future (beyond 300 s)',
      () => signed(body, SIGNING.secrets[0], now() + 301),
      'Signature expired.',
    ],
    ['over a different body', () => signed(body.replace('critical', 'low')), 'Signature invalid.'],
    ['with a wrong secret', () => signed(body, 'not-the-secret-0123456789'), 'Signature invalid.'],
    ['with another source’s secret', () => signed(body, SIGNING.otherSecret), 'Signature invalid.'],
    ['malformed', () => 'sha256=abc', 'Signature invalid.'],
  ])('rejects a signature %s with 401', async (_what, header, detail) => {
    const res = await post({ 'X-Quell-Source': SIGNING.source, 'X-Quell-Signature': header() });
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 401, detail });
    expect(incidents.calls).toEqual([]);
  });

  it('accepts within the tolerance', async () => {
    await post({
      'X-Quell-Source': SIGNING.source,
      'X-Quell-Signature': signed(body, SIGNING.secrets[0], now() - 290),
    }).expect(202);
  });

  it('rejects a missing header and an unknown source', async () => {
    expect((await post({ 'X-Quell-Source': SIGNING.source })).body.detail).toBe('Signature missing.');
    expect((await post({ 'X-Quell-Signature': signed(body) })).body.detail).toBe('Signature missing.');
    const unknown = await post({ 'X-Quell-Source': 'nobody', 'X-Quell-Signature': signed(body) });
    expect(unknown.status).toBe(401);
    expect(unknown.body.detail).toBe('Signature invalid.');
    expect(incidents.calls).toEqual([]);
  });

  it('tampered body: the signature is checked before the JSON is parsed', async () => {
    const notJson = '{"source": oops';
    const res = await post({ 'X-Quell-Source': SIGNING.source, 'X-Quell-Signature': signed(body) }, notJson);
    expect(res.status).toBe(401);
    const signedGarbage = await post(
      { 'X-Quell-Source': SIGNING.source, 'X-Quell-Signature': signed(notJson) },
      notJson,
    );
    expect(signedGarbage.status).toBe(400);
    expect(signedGarbage.body.title).toBe('Malformed JSON');
  });

  it('signature headers take precedence over a bearer token (no mixing)', async () => {
    const res = await post({
      Authorization: bearer('admin'),
      'X-Quell-Source': SIGNING.source,
      'X-Quell-Signature': signed(body, 'wrong-secret-0123456789'),
    });
    expect(res.status).toBe(401);
  });

  it('never logs the signature or the secret', async () => {
    await post({ 'X-Quell-Source': SIGNING.source, 'X-Quell-Signature': signed(body) });
    const text = log.text();
    expect(text).not.toContain('v1=');
    for (const s of SIGNING.secrets) expect(text).not.toContain(s);
  });
});
