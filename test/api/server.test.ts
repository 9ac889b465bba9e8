import http, { type Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { loadApiSettings } from '../../src/api/rate-limit';
import { createApiServer, type HttpTimeouts } from '../../src/api/server';
import { TOKENS, testApp } from './support/harness';
import { sample } from './support/samples';

/**
 * The HTTP server `quell start` runs, over real loopback sockets: slow senders and idle keep-alive connections
 * are cut near their limits, a full-size body is not, and errors Node detects itself are problem+json.
 */
const SHORT: HttpTimeouts = { headersTimeoutMs: 1_000, requestTimeoutMs: 2_000, keepAliveTimeoutMs: 1_000 };
/** Node checks the timeouts every second; the rest absorbs a busy 2-core machine. */
const SLACK_MS = 2_500;

const servers: Server[] = [];
async function start(timeouts?: HttpTimeouts): Promise<number> {
  const server = createApiServer(testApp().app, timeouts);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}
afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

interface Outcome {
  /** Everything the server sent before closing. */
  received: string;
  /** Milliseconds from connecting to the server closing the connection. */
  closedAfterMs: number;
}

/**
 * Connects, writes `head`, then one byte of `trickle` per second until the server closes the connection (or
 * `giveUpMs` passes, which fails the test).
 */
function trickle(port: number, head: string, drip: string, giveUpMs: number): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    let i = 0;
    const timer = setInterval(() => {
      if (drip && !socket.destroyed && socket.writable) socket.write(drip[i++ % drip.length]!);
    }, 1_000);
    const giveUp = setTimeout(() => {
      clearInterval(timer);
      socket.destroy();
      reject(new Error(`still open after ${giveUpMs} ms; received: ${JSON.stringify(received)}`));
    }, giveUpMs);
    socket.on('connect', () => socket.write(head));
    socket.on('data', (d) => (received += d.toString('utf8')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve({ received, closedAfterMs: Date.now() - started });
    });
  });
}

function parseRaw(raw: string): { status: number; headers: Record<string, string>; body: string } {
  const [head = '', body = ''] = raw.split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const c = l.indexOf(':');
    headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

function expectProblem(raw: string, status: number) {
  const res = parseRaw(raw);
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toBe('application/problem+json');
  expect(JSON.parse(res.body)).toMatchObject({ status, type: expect.any(String), title: expect.any(String) });
}

describe('createApiServer timeouts', () => {
  it('cuts a body trickling a byte a second with a 408 soon after the request timeout', async () => {
    const port = await start(SHORT);
    const out = await trickle(
      port,
      'POST /api/v1/alerts HTTP/1.1\r\nHost: quell\r\nContent-Type: application/json\r\n' +
        `Authorization: Bearer ${TOKENS.ingest}\r\nContent-Length: 1000\r\n\r\n{`,
      '"',
      SHORT.requestTimeoutMs + SLACK_MS + 5_000,
    );
    expectProblem(out.received, 408);
    expect(out.closedAfterMs).toBeGreaterThanOrEqual(SHORT.requestTimeoutMs - 100);
    expect(out.closedAfterMs).toBeLessThanOrEqual(SHORT.requestTimeoutMs + SLACK_MS);
  });

  it('cuts headers trickling a byte a second (slowloris) soon after the headers timeout', async () => {
    const port = await start(SHORT);
    const out = await trickle(
      port,
      'GET /healthz HTTP/1.1\r\nHost: quell\r\nX-Slow: ',
      'a',
      SHORT.headersTimeoutMs + SLACK_MS + 5_000,
    );
    expectProblem(out.received, 408);
    expect(out.closedAfterMs).toBeLessThanOrEqual(SHORT.headersTimeoutMs + SLACK_MS);
  });

  it('closes an idle keep-alive connection after the keep-alive timeout', async () => {
    const port = await start(SHORT);
    const out = await trickle(
      port,
      'GET /healthz HTTP/1.1\r\nHost: quell\r\nConnection: keep-alive\r\n\r\n',
      '',
      SHORT.keepAliveTimeoutMs + SLACK_MS + 5_000,
    );
    const res = parseRaw(out.received);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ status: 'ok' });
    expect(out.closedAfterMs).toBeGreaterThanOrEqual(SHORT.keepAliveTimeoutMs - 100);
    expect(out.closedAfterMs).toBeLessThanOrEqual(SHORT.keepAliveTimeoutMs + SLACK_MS);
  });

  it('accepts a 1 MiB alert over loopback with the default settings', async () => {
    const port = await start(loadApiSettings({}).http);
    const alert = sample('ocsf');
    const base = Buffer.byteLength(JSON.stringify({ ...alert, raw_data: '' }));
    alert.raw_data = 'x'.repeat(1024 * 1024 - base);
    const body = JSON.stringify(alert);
    expect(Buffer.byteLength(body)).toBe(1024 * 1024);
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        {
          port,
          host: '127.0.0.1',
          method: 'POST',
          path: '/api/v1/alerts',
          headers: {
            'Content-Type': 'application/json',
            Authorization: `Bearer ${TOKENS.ingest}`,
            'Content-Length': Buffer.byteLength(body),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    expect(status).toBe(202);
  });
});

describe('createApiServer client errors', () => {
  it('answers a URL over the header size limit with a 431 problem', async () => {
    const port = await start();
    const out = await trickle(
      port,
      `GET /api/v1/incidents?cursor=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: quell\r\n\r\n`,
      '',
      5_000,
    );
    expectProblem(out.received, 431);
  });

  it('answers malformed HTTP with a 400 problem', async () => {
    const port = await start();
    const out = await trickle(port, 'NOT HTTP AT ALL\r\n\r\n', '', 5_000);
    expectProblem(out.received, 400);
  });
});
