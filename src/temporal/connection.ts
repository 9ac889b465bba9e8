import { readFileSync } from 'node:fs';
import {
  Client,
  Connection,
  defaultGrpcRetryOptions,
  makeGrpcRetryInterceptor,
  type ConnectionOptions,
} from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import type { TemporalTlsConfig } from '../config';

/** How to reach a Temporal frontend: what provisioning hands to the worker, the API and the CLI. */
export interface TemporalEndpoint {
  address: string;
  namespace: string;
  apiKey?: string;
  tls?: TemporalTlsConfig | true;
}

function tlsOptions(tls: TemporalEndpoint['tls']): ConnectionOptions['tls'] {
  if (!tls) return undefined;
  if (tls === true) return true;
  return {
    ...(tls.serverName ? { serverNameOverride: tls.serverName } : {}),
    ...(tls.caPath ? { serverRootCACertificate: readFileSync(tls.caPath) } : {}),
    ...(tls.certPath && tls.keyPath
      ? { clientCertPair: { crt: readFileSync(tls.certPath), key: readFileSync(tls.keyPath) } }
      : {}),
  };
}

/**
 * Opens a client connection (API, CLI, tests) to the endpoint's namespace. `dataConverter`: e.g. the
 * encryption converter from `dataConverterFromEnv()` (src/temporal/codec.ts); the worker must use the same one.
 */
export async function connectClient(
  endpoint: TemporalEndpoint,
  opts: {
    dataConverter?: DataConverter;
    /**
     * How many times a call is tried when Temporal is unavailable (SDK default 10, about 20 s). The API uses
     * fewer, so an outage reaches alert senders as a prompt 503 with Retry-After rather than a hung request.
     */
    maxAttempts?: number;
  } = {},
): Promise<Client> {
  const tls = tlsOptions(endpoint.tls);
  const connection = await Connection.connect({
    address: endpoint.address,
    ...(tls ? { tls } : {}),
    ...(endpoint.apiKey ? { apiKey: endpoint.apiKey } : {}),
    ...(opts.maxAttempts
      ? {
          interceptors: [
            makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxAttempts: opts.maxAttempts })),
          ],
        }
      : {}),
  });
  return new Client({
    connection,
    namespace: endpoint.namespace,
    ...(opts.dataConverter ? { dataConverter: opts.dataConverter } : {}),
  });
}

/** Opens the worker's native connection to the endpoint. */
export async function connectWorker(endpoint: TemporalEndpoint): Promise<NativeConnection> {
  const tls: NativeConnectionOptions['tls'] = tlsOptions(endpoint.tls);
  return NativeConnection.connect({
    address: endpoint.address,
    ...(tls ? { tls } : {}),
    ...(endpoint.apiKey ? { apiKey: endpoint.apiKey } : {}),
  });
}
