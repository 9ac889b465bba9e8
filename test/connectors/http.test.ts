import { Writable } from 'node:stream';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import fc from 'fast-check';
import pino from 'pino';
import {
  DEFAULT_RETRY_AFTER_MS,
  HttpClient,
  allowListEntryFor,
  assertAllowedUrl,
  errorForStatus,
  isAllowedUrl,
  parseRetryAfter,
  retryAfterMsFrom,
} from '../../src/connectors/http';
import { OktaIdentity } from '../../src/connectors/identity/okta';
import { SlackWebhookChannel } from '../../src/connectors/notify/slack';
import { startTracing } from '../../src/telemetry/tracing';
import { ERROR_NAMES, expectConnectorError, json, startContractServer } from './support';

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-28T09:00:00Z');
  it('reads delay-seconds and HTTP-dates', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('1.5', now)).toBe(1_500);
    expect(parseRetryAfter('Sat, 28 Nov 2026 09:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Sat, 28 Nov 2026 08:59:00 GMT', now)).toBe(0); // in the past: retry now
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });

  it('falls back to vendor reset headers, then to a default', () => {
    const h = (init: Record<string, string>) => new Headers(init);
    expect(retryAfterMsFrom(h({ 'retry-after': '3' }), now)).toBe(3_000);
    expect(retryAfterMsFrom(h({ 'x-rate-limit-reset': String(now / 1000 + 9) }), now)).toBe(9_000);
    expect(retryAfterMsFrom(h({ 'x-ratelimit-retryafter': String(now / 1000 + 2) }), now)).toBe(2_000);
    expect(retryAfterMsFrom(h({}), now)).toBe(DEFAULT_RETRY_AFTER_MS);
  });

  it('property: whole seconds round-trip', () => {
    fc.assert(fc.property(fc.nat(86_400), (s) => parseRetryAfter(String(s), now) === s * 1000));
  });
});

describe('errorForStatus', () => {
  it('maps statuses to the taxonomy', () => {
    const ctx = { vendor: 'v', op: 'do it' };
    const kinds = [401, 403, 404, 409, 429, 400, 405, 422, 408, 500, 502, 503, 504].map(
      (s) => errorForStatus(s, new Headers({ 'retry-after': '5' }), ctx).kind,
    );
    expect(kinds).toEqual([
      'auth',
      'auth',
      'not_found',
      'conflict',
      'rate_limited',
      'permanent',
      'permanent',
      'permanent',
      'transient',
      'transient',
      'transient',
      'transient',
      'transient',
    ]);
    const rl = errorForStatus(429, new Headers({ 'retry-after': '5' }), ctx);
    expect(rl.name).toBe(ERROR_NAMES.rate_limited);
    expect(rl.details).toMatchObject({ vendor: 'v', status: 429, retryAfterMs: 5_000 });
    expect(errorForStatus(500, new Headers(), { ...ctx, vendorMessage: 'boom' }).message).toBe(
      'v: do it failed with HTTP 500: boom',
    );
  });
});

describe('outbound allow-list', () => {
  const list = [
    'api.crowdstrike.com',
    '*.okta.com',
    '127.0.0.1:9000',
    'https://hooks.slack.com/services/T0123/',
    'https://events.pagerduty.com/v2',
  ];
  it.each([
    ['https://api.crowdstrike.com/oauth2/token', true],
    ['http://API.CrowdStrike.com:8443/x', true],
    ['https://api.crowdstrike.com.evil.example/x', false],
    ['https://evil.example/?https://api.crowdstrike.com', false],
    ['https://user:pw@api.crowdstrike.com/', false],
    ['ftp://api.crowdstrike.com/', false],
    ['https://acme.okta.com/api/v1/users/x', true],
    ['https://okta.com/', false],
    ['https://acme.okta.com.evil.example/', false],
    ['http://127.0.0.1:9000/lab', true],
    ['http://127.1:9000/lab', true],
    ['http://127.0.0.1:9001/lab', false],
    ['https://hooks.slack.com/services/T0123/B1/xyz', true],
    ['https://hooks.slack.com/services/T0123', true],
    ['https://hooks.slack.com/services/T01234/B1/xyz', false],
    ['http://hooks.slack.com/services/T0123/B1/xyz', false],
    ['https://events.pagerduty.com/v2/enqueue', true],
    ['https://events.pagerduty.com/v2x/enqueue', false],
    ['https://169.254.169.254/latest/meta-data/', false],
    ['not a url', false],
  ])('%s -> %s', (url, allowed) => {
    expect(isAllowedUrl(url, list)).toBe(allowed);
  });

  it('refuses with PermanentConnectorError naming only the origin', () => {
    expect(() => assertAllowedUrl('https://evil.example/services/SECRETPATH', list, 'slack')).toThrow(
      /https:\/\/evil\.example is not on the outbound allow-list/,
    );
    try {
      assertAllowedUrl('https://evil.example/services/SECRETPATH', list);
    } catch (err) {
      expect((err as Error).name).toBe('PermanentConnectorError');
      expect((err as Error).message).not.toContain('SECRETPATH');
    }
  });

  it('builds entries for base URLs', () => {
    expect(allowListEntryFor('https://api.crowdstrike.com')).toBe('https://api.crowdstrike.com/');
    expect(allowListEntryFor('http://127.0.0.1:8090/crowdstrike')).toBe('http://127.0.0.1:8090/crowdstrike/');
    expect(
      isAllowedUrl('http://127.0.0.1:8090/crowdstrike/oauth2/token', [
        allowListEntryFor('http://127.0.0.1:8090/crowdstrike'),
      ]),
    ).toBe(true);
    expect(
      isAllowedUrl('http://127.0.0.1:8090/okta/api', [
        allowListEntryFor('http://127.0.0.1:8090/crowdstrike'),
      ]),
    ).toBe(false);
  });

  it('property: a host-name entry admits that host and no other', () => {
    const label = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/);
    fc.assert(
      fc.property(label, label, label, (a, b, c) => {
        const listed = `${a}.${b}.test`;
        const other = `${c}.${b}.test`;
        expect(isAllowedUrl(`https://${listed}/x`, [listed])).toBe(true);
        expect(isAllowedUrl(`https://${listed}.${c}.example/x`, [listed])).toBe(false);
        if (other !== listed) expect(isAllowedUrl(`https://${other}/x`, [listed])).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
});

describe('HttpClient', () => {
  it('maps a connection reset to TransientConnectorError', async () => {
    const server = await startContractServer((_req, res) => {
      res.socket?.destroy();
    });
    try {
      const http = new HttpClient({ vendor: 'v', allowList: [server.url], timeoutMs: 2_000 });
      const err = await expectConnectorError(
        http.request({ method: 'GET', url: `${server.url}/x`, op: 'probe' }),
        'transient',
      );
      expect(err.message).toMatch(/network error/);
    } finally {
      await server.stop();
    }
  });

  it('maps a refused connection to TransientConnectorError', async () => {
    const server = await startContractServer((_req, res) => json(res, 200, {}));
    await server.stop();
    const http = new HttpClient({ vendor: 'v', allowList: [server.url] });
    await expectConnectorError(
      http.request({ method: 'GET', url: `${server.url}/x`, op: 'probe' }),
      'transient',
    );
  });

  it('maps a timeout (headers or body) to TransientConnectorError', async () => {
    const server = await startContractServer((req, res) => {
      if (req.url === '/slow-body') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"partial":');
      }
      // otherwise: never answers
    });
    try {
      const http = new HttpClient({ vendor: 'v', allowList: [server.url], timeoutMs: 150 });
      await expectConnectorError(
        http.request({ method: 'GET', url: `${server.url}/hang`, op: 'probe' }),
        'transient',
      );
      const err = await expectConnectorError(
        http.request({ method: 'GET', url: `${server.url}/slow-body`, op: 'probe' }),
        'transient',
      );
      expect(err.message).toMatch(/timed out/);
    } finally {
      await server.stop();
    }
  });

  it('keeps connections alive between calls, and retries once when the vendor closed a kept-alive one', async () => {
    const requestsOnSocket = new WeakMap<object, number>();
    let connections = 0;
    const server = await startContractServer((req, res) => {
      const socket = res.socket!;
      const n = (requestsOnSocket.get(socket) ?? 0) + 1;
      requestsOnSocket.set(socket, n);
      if (n === 1) connections++;
      // The third call arrives on a socket the vendor is closing: it resets without answering.
      if (req.url === '/closing' && n > 1) return void socket.destroy();
      json(res, 200, { call: req.url });
    });
    try {
      const http = new HttpClient({ vendor: 'v', allowList: [server.url] });
      for (const path of ['/a', '/b']) {
        const res = await http.request({
          method: 'POST',
          url: `${server.url}${path}`,
          op: 'probe',
          json: {},
        });
        expect(res.json).toEqual({ call: path });
      }
      expect(connections).toBe(1);
      const res = await http.request({ method: 'POST', url: `${server.url}/closing`, op: 'probe', json: {} });
      expect(res.json).toEqual({ call: '/closing' });
      expect(connections).toBe(2);
      expect(server.requests.map((r) => r.url)).toEqual(['/a', '/b', '/closing', '/closing']);
    } finally {
      await server.stop();
    }
  });

  it('reads a compressed answer the vendor sent unasked', async () => {
    const { gzipSync } = await import('node:zlib');
    const server = await startContractServer((_req, res) => {
      res
        .writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' })
        .end(gzipSync(JSON.stringify({ ok: 'ü' })));
    });
    try {
      const http = new HttpClient({ vendor: 'v', allowList: [server.url] });
      const res = await http.request({ method: 'GET', url: `${server.url}/x`, op: 'probe' });
      expect(res.json).toEqual({ ok: 'ü' });
      expect(res.headers.get('content-encoding')).toBe('gzip');
    } finally {
      await server.stop();
    }
  });

  it('does not follow redirects (they could leave the allow-list)', async () => {
    const server = await startContractServer((_req, res) => {
      res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
    });
    try {
      const http = new HttpClient({ vendor: 'v', allowList: [server.url] });
      const err = await expectConnectorError(
        http.request({ method: 'GET', url: `${server.url}/x`, op: 'probe' }),
        'permanent',
      );
      expect(err.message).toMatch(/redirect/);
      expect(server.requests).toHaveLength(1);
    } finally {
      await server.stop();
    }
  });

  it('never logs secrets: tokens, webhook paths, query strings or bodies', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    const logger = pino({ level: 'trace' }, sink);
    const server = await startContractServer((req, res) => {
      if (req.url.startsWith('/api/v1/users/'))
        return json(res, 401, { errorCode: 'E0000011', errorSummary: 'Invalid token provided' });
      json(res, 500, { error: 'x' });
    });
    try {
      const okta = new OktaIdentity({
        baseUrl: server.url,
        apiToken: 'SSWS-SECRET-TOKEN-123',
        allowList: [server.url],
        logger,
      });
      const err = await expectConnectorError(okta.getAccountState('j.doe'), 'auth');
      const hook = new SlackWebhookChannel({
        url: `${server.url}/services/T1/B2/HOOKSECRET456`,
        allowList: [server.url],
        logger,
      });
      const err2 = await expectConnectorError(
        hook.deliver({
          route: 'soc',
          incidentId: 'I',
          subject: 'BODYSECRET789',
          text: 't',
          severity: 'low',
          dedupKey: 'I',
          idempotencyKey: 'I:1',
        }),
        'transient',
      );
      const all =
        lines.join('\n') +
        err.message +
        err2.message +
        JSON.stringify(err.details) +
        JSON.stringify(err2.details);
      expect(lines.length).toBeGreaterThanOrEqual(2);
      for (const secret of ['SECRET-TOKEN-123', 'HOOKSECRET456', 'BODYSECRET789', 'authorization']) {
        expect(all).not.toContain(secret);
      }
      expect(all).toContain('vendor call');
    } finally {
      await server.stop();
    }
  });
});

describe('HttpClient tracing', () => {
  it('sends no traceparent and records nothing when tracing is off', async () => {
    const server = await startContractServer((_req, res) => json(res, 200, {}));
    try {
      await new HttpClient({ vendor: 'v', allowList: [server.url] }).request({
        method: 'GET',
        url: `${server.url}/x`,
        op: 'probe',
      });
      expect(server.requests[0]!.headers.traceparent).toBeUndefined();
    } finally {
      await server.stop();
    }
  });

  it('makes a CLIENT span per call (method, vendor, operation, host, status) and sends it as traceparent', async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = startTracing({
      serviceName: 'quell-test',
      exportTo: { spanProcessor: new SimpleSpanProcessor(exporter) },
    });
    const server = await startContractServer((req, res) =>
      req.url.startsWith('/fail') ? json(res, 503, { error: 'down' }) : json(res, 200, { ok: true }),
    );
    try {
      const http = new HttpClient({
        vendor: 'crowdstrike',
        allowList: [server.url],
        defaultHeaders: { authorization: 'Bearer SECRET-TOKEN' },
      });
      const parent = tracing.tracer.startSpan('RunActivity:isolateHost');
      await context.with(trace.setSpan(context.active(), parent), async () => {
        await http.request({
          method: 'POST',
          url: `${server.url}/ok?token=q`,
          op: 'contain host ws-1',
          json: { a: 1 },
        });
        await http.request({ method: 'GET', url: `${server.url}/fail`, op: 'read host ws-1' });
      });
      parent.end();
      const [ok, failed] = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CLIENT);
      expect(ok!.name).toBe('POST crowdstrike');
      expect(ok!.parentSpanId).toBe(parent.spanContext().spanId);
      expect(ok!.attributes).toEqual({
        'http.request.method': 'POST',
        'server.address': '127.0.0.1',
        'server.port': Number(new URL(server.url).port),
        'quell.connector.vendor': 'crowdstrike',
        'quell.connector.operation': 'contain host ws-1',
        'http.response.status_code': 200,
      });
      expect(ok!.status.code).toBe(SpanStatusCode.UNSET);
      expect(failed!.attributes['http.response.status_code']).toBe(503);
      expect(failed!.status.code).toBe(SpanStatusCode.ERROR);
      // The vendor sees each call's own span as its parent, in the caller's trace.
      const { traceId } = parent.spanContext();
      expect(server.requests.map((r) => r.headers.traceparent)).toEqual([
        `00-${traceId}-${ok!.spanContext().spanId}-01`,
        `00-${traceId}-${failed!.spanContext().spanId}-01`,
      ]);
    } finally {
      await server.stop();
      await tracing.shutdown();
    }
  });
});
