import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import {
  SignedWebhookChannel,
  signQuellPayload,
  verifyQuellSignature,
} from '../../src/connectors/notify/webhook';
import type { Notification } from '../../src/connectors/types';
import { type ContractServer, ERROR_NAMES, expectConnectorError, json, startContractServer } from './support';

const SECRET = 'whsec_test_0123456789';

function note(over: Partial<Notification> = {}): Notification {
  return {
    route: 'siem',
    incidentId: 'INC-5',
    subject: 'Blocked 203.0.113.9',
    text: 'Firewall block applied',
    severity: 'low',
    dedupKey: 'INC-5',
    idempotencyKey: 'INC-5:hook-1',
    ...over,
  };
}

describe('SignedWebhookChannel', () => {
  let server: ContractServer;
  let answer: { status: number; body: unknown; headers?: Record<string, string>; hang?: boolean } = {
    status: 200,
    body: { id: 'd-1' },
  };
  beforeAll(async () => {
    server = await startContractServer((_req, res) => {
      if (answer.hang) return; // never answers
      json(res, answer.status, answer.body, answer.headers);
    });
  });
  afterAll(async () => {
    await server.stop();
  });
  beforeEach(() => {
    answer = { status: 200, body: { id: 'd-1' } };
  });

  const channel = (timeoutMs = 2_000) =>
    new SignedWebhookChannel({
      url: `${server.url}/hooks/quell`,
      secret: SECRET,
      allowList: [server.url],
      timeoutMs,
    });

  it('signs the raw body exactly like Quell verifies inbound webhooks', async () => {
    const res = await channel().deliver(note({ link: 'http://x/i/5' }));
    expect(res.vendorRef).toBe('d-1');
    const req = server.requests.at(-1)!;
    const header = req.headers['x-quell-signature'] as string;
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    const t = /t=(\d+)/.exec(header)![1]!;
    const expected = createHmac('sha256', SECRET).update(`${t}.${req.body}`).digest('hex');
    expect(header).toBe(`t=${t},v1=${expected}`);
    expect(verifyQuellSignature(SECRET, header, req.body)).toBe(true);
    expect(verifyQuellSignature(SECRET, header, `${req.body} `)).toBe(false);
    expect(verifyQuellSignature('other-secret', header, req.body)).toBe(false);
    expect(req.headers['idempotency-key']).toBe('INC-5:hook-1');
    expect(JSON.parse(req.body)).toMatchObject({
      type: 'quell.notification',
      route: 'siem',
      incidentId: 'INC-5',
      severity: 'low',
      eventAction: 'trigger',
      link: 'http://x/i/5',
    });
  });

  it('maps answers to the error taxonomy', async () => {
    const cases: [number, string, Record<string, string>?][] = [
      [401, 'auth'],
      [403, 'auth'],
      [404, 'not_found'],
      [409, 'conflict'],
      [422, 'permanent'],
      [500, 'transient'],
      [503, 'transient'],
      [429, 'rate_limited', { 'retry-after': '4' }],
    ];
    for (const [status, kind, headers] of cases) {
      answer = { status, body: { error: `status ${status}` }, ...(headers ? { headers } : {}) };
      const err = await expectConnectorError(
        channel().deliver(note()),
        kind as never,
        ERROR_NAMES[kind as keyof typeof ERROR_NAMES],
      );
      if (status === 429) expect(err.details.retryAfterMs).toBe(4_000);
      expect(err.message).not.toContain(SECRET);
    }
  });

  it('times out a receiver that does not answer (transient)', async () => {
    answer = { status: 200, body: {}, hang: true };
    await expectConnectorError(channel(200).deliver(note()), 'transient');
  });

  it('verification: tolerance window and key rotation', () => {
    const body = '{"a":1}';
    const now = 1_800_000_000;
    const header = signQuellPayload(SECRET, body, now);
    expect(verifyQuellSignature(SECRET, header, body, { nowSeconds: now + 299 })).toBe(true);
    expect(verifyQuellSignature(SECRET, header, body, { nowSeconds: now + 301 })).toBe(false);
    const rotated = `${header},v1=${'0'.repeat(64)}`;
    expect(verifyQuellSignature(SECRET, rotated, body, { nowSeconds: now })).toBe(true);
    expect(verifyQuellSignature(SECRET, undefined, body)).toBe(false);
    expect(verifyQuellSignature(SECRET, 'v1=abc', body)).toBe(false);
  });

  it('property: a signature verifies for its body and no other', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.integer({ min: 0, max: 2_000_000_000 }), (body, other, t) => {
        const header = signQuellPayload(SECRET, body, t);
        expect(verifyQuellSignature(SECRET, header, body, { nowSeconds: t })).toBe(true);
        if (other !== body)
          expect(verifyQuellSignature(SECRET, header, other, { nowSeconds: t })).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
});
