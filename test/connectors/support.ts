import { randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConnectorError, type ConnectorErrorKind } from '../../src/connectors/errors';
import { type LabServerOptions, type RunningLab, startLabServer } from '../../src/connectors/lab';
import type { ActionContext } from '../../src/connectors/types';

/** An action context naming a fresh incident. */
export function actionCtx(
  incidentId = `INC-${randomBytes(4).toString('hex')}`,
  comment = 'test containment',
): ActionContext {
  return { incidentId, idempotencyKey: `${incidentId}:act-${randomBytes(3).toString('hex')}`, comment };
}

/** A host name no other test uses (the lab provisions it on first lookup). */
export function uniqueHost(prefix = 'ws-t'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export function uniqueAccount(prefix = 'u'): string {
  return `${prefix}.${randomBytes(4).toString('hex')}`;
}

/** Starts a lab on a random loopback port; remember to stop it (see {@link useLab}). */
export async function startTestLab(opts: LabServerOptions = {}): Promise<RunningLab> {
  return startLabServer({ port: 0, host: '127.0.0.1', ...opts });
}

/** Starts a lab before the file's tests and stops it after; faults are cleared after each test. */
export function useLab(opts: LabServerOptions = {}): { readonly lab: RunningLab } {
  const holder: { lab?: RunningLab } = {};
  beforeAll(async () => {
    holder.lab = await startTestLab(opts);
  });
  afterEach(() => {
    holder.lab?.store.clearFaults();
  });
  afterAll(async () => {
    await holder.lab?.stop();
  });
  return {
    get lab(): RunningLab {
      if (!holder.lab) throw new Error('lab not started');
      return holder.lab;
    },
  };
}

/** The allow-list entry admitting the lab (its origin). */
export function labAllowList(lab: RunningLab): string[] {
  return [`${lab.url}/`];
}

/** Awaits a rejection and checks it is a ConnectorError of the given kind (and class name). */
export async function expectConnectorError(
  promise: Promise<unknown>,
  kind: ConnectorErrorKind,
  name?: string,
): Promise<ConnectorError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  if (!(caught instanceof ConnectorError)) {
    const got =
      caught === undefined
        ? 'success'
        : caught instanceof Error
          ? `${caught.name}: ${caught.message}`
          : JSON.stringify(caught);
    throw new Error(`expected a ConnectorError of kind ${kind}, got ${got}`);
  }
  expect(caught.kind).toBe(kind);
  if (name) expect(caught.name).toBe(name);
  return caught;
}

export const ERROR_NAMES: Record<ConnectorErrorKind, string> = {
  auth: 'ConnectorAuthError',
  not_found: 'TargetNotFoundError',
  conflict: 'ConflictError',
  rate_limited: 'RateLimitedError',
  transient: 'TransientConnectorError',
  permanent: 'PermanentConnectorError',
};

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface ContractServer {
  url: string;
  requests: RecordedRequest[];
  stop(): Promise<void>;
}

/**
 * A small loopback HTTP server for contract cases the lab does not produce (redirects, connection resets,
 * HTTP-date Retry-After, odd vendor answers). The handler gets the raw body.
 */
export async function startContractServer(
  handler: (req: RecordedRequest, res: ServerResponse) => void | Promise<void>,
): Promise<ContractServer> {
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rec: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(rec);
      void Promise.resolve(handler(rec, res)).catch(() => {
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

/**
 * The fault cases every lab-backed HTTP connector must map the same way: 5xx -> transient, 4xx ->
 * permanent, 429 -> rate limited with the vendor's delay, a hung request -> transient after the timeout.
 * `invoke` performs one call with a connector whose timeout is `timeoutMs`.
 */
export function faultMatrix(
  getLab: () => RunningLab,
  vendor: string,
  invoke: (timeoutMs: number) => Promise<unknown>,
  opts: { pathPattern?: string; retryAfterToleranceMs?: number } = {},
): void {
  const match = () => ({
    vendor: vendor as never,
    ...(opts.pathPattern ? { pathPattern: opts.pathPattern } : {}),
  });
  it('maps a 5xx answer to TransientConnectorError', async () => {
    getLab().store.addFault({ match: match(), fault: '5xx', times: 1 });
    const err = await expectConnectorError(invoke(2_000), 'transient', ERROR_NAMES.transient);
    expect(err.retryable).toBe(true);
  });
  it('maps a malformed-request 4xx to PermanentConnectorError', async () => {
    getLab().store.addFault({ match: match(), fault: '4xx', times: 1 });
    const err = await expectConnectorError(invoke(2_000), 'permanent', ERROR_NAMES.permanent);
    expect(err.retryable).toBe(false);
  });
  it('maps 429 to RateLimitedError carrying the vendor delay', async () => {
    getLab().store.addFault({ match: match(), fault: '429', retryAfterSeconds: 7, times: 1 });
    const err = await expectConnectorError(invoke(2_000), 'rate_limited', ERROR_NAMES.rate_limited);
    const tolerance = opts.retryAfterToleranceMs ?? 0;
    expect(err.details.retryAfterMs).toBeGreaterThanOrEqual(7_000 - tolerance);
    expect(err.details.retryAfterMs).toBeLessThanOrEqual(7_000 + tolerance);
    expect(err.retryable).toBe(true);
  });
  it('maps a request that hangs past the timeout to TransientConnectorError', async () => {
    getLab().store.addFault({ match: match(), fault: 'timeout', holdMs: 3_000, times: 1 });
    const started = Date.now();
    const err = await expectConnectorError(invoke(250), 'transient', ERROR_NAMES.transient);
    expect(err.message).toMatch(/timed out/);
    expect(Date.now() - started).toBeLessThan(2_500);
  });
}
