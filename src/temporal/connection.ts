import { readFileSync } from 'node:fs';
import {
  InterceptingCall,
  Metadata,
  status as GrpcStatus,
  type InterceptingListener,
  type Interceptor,
  type InterceptorOptions,
  type NextCall,
  type StatusObject,
} from '@grpc/grpc-js';
import {
  Client,
  Connection,
  defaultGrpcRetryOptions,
  isGrpcServiceError,
  type ClientInterceptors,
  type ConnectionOptions,
  type GrpcRetryOptions,
} from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import type { PemSource, TemporalTlsConfig } from '../config';

/** How to reach a Temporal frontend: what provisioning hands to the worker, the API and the CLI. */
export interface TemporalEndpoint {
  address: string;
  namespace: string;
  apiKey?: string;
  tls?: TemporalTlsConfig | true;
  /** gRPC metadata sent with every call (TEMPORAL_GRPC_META_*, a profile's grpc_meta). */
  grpcMeta?: Record<string, string>;
}

const DEFAULT_UNREACHABLE_HINT =
  'Set TEMPORAL_ADDRESS or a TEMPORAL_PROFILE (with TEMPORAL_NAMESPACE, TEMPORAL_TLS* or TEMPORAL_API_KEY as the ' +
  'server needs) to a running Temporal frontend.';

/**
 * Thrown by {@link connectClient} and {@link connectWorker} when no connection to the Temporal frontend could be
 * established in time (nothing listening, a network in the way, a TLS handshake that never completes).
 * The message is one line: the address, the cause, and what to set.
 */
export class TemporalUnreachableError extends Error {
  override readonly name = 'TemporalUnreachableError';
  constructor(
    readonly address: string,
    readonly namespace: string,
    detail: string,
    hint: string = DEFAULT_UNREACHABLE_HINT,
  ) {
    super(`Temporal at ${address} (namespace ${namespace}) is unreachable: ${detail}. ${hint}`);
  }
}

/**
 * Details of the status a call ends with when its client closes before or while it runs. The code is UNAVAILABLE,
 * so the API answers such a call with 503 and Retry-After, as for any Temporal outage.
 */
const CLIENT_CLOSED = 'Temporal client closed';

function closedStatus(details: string): StatusObject {
  return { code: GrpcStatus.UNAVAILABLE, details, metadata: new Metadata() };
}

type AttemptCall = ReturnType<NextCall>;
type CallInterface = ConstructorParameters<typeof InterceptingCall>[0];

/**
 * The calls of one client connection that have not ended yet, and whether it is closing. Closing first stops
 * every new call and every retry, then waits (bounded) for the attempts on the wire, then ends the rest.
 */
class CallGate {
  closing = false;
  private readonly calls = new Set<RetryingCall>();
  private onIdle: (() => void) | undefined;

  add(call: RetryingCall): void {
    this.calls.add(call);
  }

  delete(call: RetryingCall): void {
    this.calls.delete(call);
    if (this.calls.size === 0) this.onIdle?.();
  }

  async close(graceMs: number): Promise<void> {
    this.closing = true;
    for (const call of [...this.calls]) call.stopRetrying();
    if (this.calls.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.onIdle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.onIdle = undefined;
    }
    for (const call of [...this.calls]) call.abandon();
  }
}

/**
 * One unary call with the SDK's retry policy (as `makeGrpcRetryInterceptor` from @temporalio/client), except that
 * the gate decides whether it may start or be retried, and no attempt is ever created from a bare timer callback
 * where a throw would be uncaught: the SDK's interceptor re-issues the call in a `setTimeout` and crashes the
 * process with "Channel has been shut down" when the connection closed during the back-off.
 */
class RetryingCall implements CallInterface {
  private listener: Partial<InterceptingListener> = {};
  private metadata = new Metadata();
  private message:
    { context: Parameters<CallInterface['sendMessageWithContext']>[0]; value: unknown } | undefined;
  private halfClosed = false;
  private attempt = 0;
  private current: AttemptCall | undefined;
  private backoff: { timer: NodeJS.Timeout; status: StatusObject } | undefined;
  private cancelled = false;
  private done = false;

  constructor(
    private readonly gate: CallGate,
    private readonly options: InterceptorOptions,
    private readonly nextCall: NextCall,
    private readonly retry: GrpcRetryOptions,
  ) {}

  start(metadata: Metadata, listener?: Partial<InterceptingListener>): void {
    this.metadata = metadata;
    this.listener = listener ?? {};
    if (this.gate.closing) {
      this.endSoon(closedStatus(`${CLIENT_CLOSED}: the call was not sent`));
      return;
    }
    this.gate.add(this);
    this.startAttempt();
  }

  sendMessageWithContext(
    context: Parameters<CallInterface['sendMessageWithContext']>[0],
    value: unknown,
  ): void {
    this.message = { context, value };
    this.current?.sendMessageWithContext(context, value);
  }

  sendMessage(value: unknown): void {
    this.sendMessageWithContext({}, value);
  }

  halfClose(): void {
    this.halfClosed = true;
    this.current?.halfClose();
  }

  startRead(): void {
    this.current?.startRead();
  }

  getPeer(): string {
    return this.current?.getPeer() ?? '';
  }

  getAuthContext(): ReturnType<CallInterface['getAuthContext']> {
    return this.current?.getAuthContext() ?? null;
  }

  cancelWithStatus(code: GrpcStatus, details: string): void {
    this.cancelled = true;
    if (this.current) this.current.cancelWithStatus(code, details);
    else this.end({ code, details, metadata: new Metadata() });
  }

  /** The client is closing: a call waiting out a back-off ends now with the failure it would have retried. */
  stopRetrying(): void {
    if (!this.backoff) return;
    const { status } = this.backoff;
    this.end({ ...status, details: `${status.details} (not retried: the Temporal client is closing)` });
  }

  /** The close grace ran out: the attempt on the wire is cancelled and the caller gets a clean failure. */
  abandon(): void {
    const status = closedStatus(`${CLIENT_CLOSED} before the call finished`);
    this.current?.cancelWithStatus(status.code, status.details);
    this.end(status);
  }

  private startAttempt(): void {
    this.backoff = undefined;
    if (this.done) return;
    this.attempt++;
    let metadata: Metadata | undefined;
    let response: { value: unknown } | undefined;
    const listener: Partial<InterceptingListener> = {
      onReceiveMetadata: (md: Metadata) => (metadata = md),
      onReceiveMessage: (value: unknown) => (response = { value }),
      onReceiveStatus: (status: StatusObject) => {
        if (this.done || call !== this.current) return;
        this.current = undefined;
        if (
          status.code !== GrpcStatus.OK &&
          !this.cancelled &&
          !this.gate.closing &&
          this.retry.retryableDecider(this.attempt, status)
        ) {
          const timer = setTimeout(() => this.startAttempt(), this.retry.delayFunction(this.attempt, status));
          this.backoff = { timer, status };
          return;
        }
        this.end(status, metadata, response);
      },
    };
    let call: AttemptCall | undefined;
    // Retries run from a timer: anything thrown here must end the call, not the process.
    try {
      call = this.nextCall(this.options);
      this.current = call;
      call.start(this.metadata, listener);
      if (this.message) call.sendMessageWithContext(this.message.context, this.message.value);
      if (this.halfClosed) call.halfClose();
    } catch (err) {
      this.current = undefined;
      const message = (err as Error).message;
      this.endSoon(
        /shut down/i.test(message)
          ? closedStatus(`${CLIENT_CLOSED}: ${message}`)
          : {
              code: GrpcStatus.INTERNAL,
              details: `Temporal call not issued: ${message}`,
              metadata: new Metadata(),
            },
      );
    }
  }

  private endSoon(status: StatusObject): void {
    process.nextTick(() => this.end(status));
  }

  private end(status: StatusObject, metadata?: Metadata, response?: { value: unknown }): void {
    if (this.done) return;
    this.done = true;
    if (this.backoff) clearTimeout(this.backoff.timer);
    this.backoff = undefined;
    this.current = undefined;
    this.gate.delete(this);
    if (metadata) this.listener.onReceiveMetadata?.(metadata);
    if (response) this.listener.onReceiveMessage?.(response.value);
    this.listener.onReceiveStatus?.(status);
  }
}

function retryingInterceptor(gate: CallGate, retry: GrpcRetryOptions): Interceptor {
  return (options, nextCall) => new InterceptingCall(new RetryingCall(gate, options, nextCall, retry));
}

/**
 * A client connection whose `close()` drains: it refuses new calls and retries at once (they fail with
 * UNAVAILABLE "Temporal client closed ..."), waits up to `closeGraceMs` for the calls on the wire, ends the rest
 * the same way, and only then closes the gRPC channel.
 */
class DrainingConnection extends Connection {
  private gate = new CallGate();
  private closeGraceMs = 0;
  private closing: Promise<void> | undefined;

  static open(options: ConnectionOptions, gate: CallGate, closeGraceMs: number): DrainingConnection {
    const connection = this.lazy(options) as DrainingConnection;
    connection.gate = gate;
    connection.closeGraceMs = closeGraceMs;
    return connection;
  }

  override close(): Promise<void> {
    this.closing ??= (async () => {
      await this.gate.close(this.closeGraceMs);
      await super.close();
    })();
    return this.closing;
  }
}

function pem(source: PemSource): Buffer {
  return 'path' in source ? readFileSync(source.path) : Buffer.from(source.pem);
}

function tlsOptions(tls: TemporalEndpoint['tls']): ConnectionOptions['tls'] {
  if (!tls) return undefined;
  if (tls === true) return true;
  return {
    ...(tls.serverName ? { serverNameOverride: tls.serverName } : {}),
    ...(tls.serverCaCert ? { serverRootCACertificate: pem(tls.serverCaCert) } : {}),
    ...(tls.clientCert && tls.clientKey
      ? { clientCertPair: { crt: pem(tls.clientCert), key: pem(tls.clientKey) } }
      : {}),
  };
}

/** What both kinds of connection take from an endpoint: where, TLS, API key and gRPC metadata. */
export type EndpointConnectionOptions = Pick<
  NativeConnectionOptions & ConnectionOptions,
  'address' | 'tls' | 'apiKey' | 'metadata'
>;

/**
 * The connection options for `Connection.connect` (client) and `NativeConnection.connect` (worker) that an
 * endpoint asks for. Reads the TLS files now, so a certificate replaced on disk is used from the next connection.
 * Thrown: the file system's error when a TLS file became unreadable after the configuration was loaded.
 */
export function endpointConnectionOptions(endpoint: TemporalEndpoint): EndpointConnectionOptions {
  const tls = tlsOptions(endpoint.tls);
  return {
    address: endpoint.address,
    ...(tls ? { tls } : {}),
    ...(endpoint.apiKey ? { apiKey: endpoint.apiKey } : {}),
    ...(endpoint.grpcMeta ? { metadata: { ...endpoint.grpcMeta } } : {}),
  };
}

/** A connect failure that means "nothing answered" (as opposed to, say, a refused API key). */
function isUnreachable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (isGrpcServiceError(e))
      return e.code === GrpcStatus.UNAVAILABLE || e.code === GrpcStatus.DEADLINE_EXCEEDED;
    if (
      e instanceof Error &&
      /before the deadline|ECONNREFUSED|Connection refused|tcp connect error/i.test(e.message)
    )
      return true;
  }
  return false;
}

export interface ConnectClientOptions {
  dataConverter?: DataConverter;
  /**
   * How many times a call is tried when Temporal is unavailable (SDK default 10, about 20 s). The API uses
   * fewer, so an outage reaches alert senders as a prompt 503 with Retry-After rather than a hung request.
   */
  maxAttempts?: number;
  /** How long connecting may take before {@link TemporalUnreachableError} (default 5 s; the SDK's is 10 s). */
  connectTimeoutMs?: number;
  /** How long `client.connection.close()` waits for calls in flight before ending them (default 5 s). */
  closeGraceMs?: number;
  /** The second sentence of the unreachable message: what the user should set or start. */
  unreachableHint?: string;
  /** E.g. the OpenTelemetry client interceptor (`Tracing.clientInterceptors()`), when tracing is on. */
  interceptors?: ClientInterceptors;
}

/**
 * Opens a client connection (API, CLI, tests) to the endpoint's namespace. `dataConverter`: e.g. the
 * encryption converter from `dataConverterFromEnv()` (src/temporal/codec.ts); the worker must use the same one.
 * `client.connection.close()` drains (see {@link ConnectClientOptions.closeGraceMs}): calls issued or retried
 * after it began fail with gRPC UNAVAILABLE "Temporal client closed ...", never with an uncaught exception.
 * Thrown: {@link TemporalUnreachableError} when the frontend does not answer within `connectTimeoutMs`.
 */
export async function connectClient(
  endpoint: TemporalEndpoint,
  opts: ConnectClientOptions = {},
): Promise<Client> {
  const connectTimeoutMs = opts.connectTimeoutMs ?? 5_000;
  const gate = new CallGate();
  const connection = DrainingConnection.open(
    {
      ...endpointConnectionOptions(endpoint),
      connectTimeout: connectTimeoutMs,
      interceptors: [
        retryingInterceptor(
          gate,
          defaultGrpcRetryOptions(opts.maxAttempts ? { maxAttempts: opts.maxAttempts } : {}),
        ),
      ],
    },
    gate,
    opts.closeGraceMs ?? 5_000,
  );
  try {
    await connection.ensureConnected();
  } catch (err) {
    await connection.close();
    if (isUnreachable(err)) {
      const message = (err as Error).message;
      const detail = /before the deadline/i.test(message)
        ? `no connection within ${(connectTimeoutMs / 1000).toFixed(0)} s`
        : message;
      throw new TemporalUnreachableError(endpoint.address, endpoint.namespace, detail, opts.unreachableHint);
    }
    throw err;
  }
  return new Client({
    connection,
    namespace: endpoint.namespace,
    ...(opts.dataConverter ? { dataConverter: opts.dataConverter } : {}),
    ...(opts.interceptors ? { interceptors: opts.interceptors } : {}),
  });
}

/**
 * Opens the worker's native connection to the endpoint.
 * Thrown: {@link TemporalUnreachableError} when the frontend cannot be reached.
 */
export async function connectWorker(endpoint: TemporalEndpoint): Promise<NativeConnection> {
  try {
    return await NativeConnection.connect(endpointConnectionOptions(endpoint));
  } catch (err) {
    if (isUnreachable(err)) {
      const message = (err as Error).message;
      const detail = /Connection refused/i.test(message) ? 'connection refused' : message;
      throw new TemporalUnreachableError(endpoint.address, endpoint.namespace, detail);
    }
    throw err;
  }
}
