import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import express from 'express';
import { createLabRouter } from './router';
import { LabStore, type LabStoreOptions } from './store';

export interface LabServerOptions extends Omit<LabStoreOptions, 'statePath'> {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1: the lab has no authentication of its own. */
  host?: string;
  /** Persist the estate to `<dataDir>/lab/state.json` (atomically); in memory when absent. */
  dataDir?: string;
}

export interface RunningLab {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  url: string;
  store: LabStore;
  /** Stops listening, drops open connections (held 'timeout' requests too) and flushes the state file. */
  stop(): Promise<void>;
}

/**
 * Starts the built-in lab estate: an HTTP server speaking the vendors' contracts (see
 * {@link createLabRouter}) over a {@link LabStore}.
 */
export async function startLabServer(opts: LabServerOptions = {}): Promise<RunningLab> {
  const { port = 0, host = '127.0.0.1', dataDir, ...storeOpts } = opts;
  const store = await LabStore.open({
    ...storeOpts,
    ...(dataDir ? { statePath: path.join(path.resolve(dataDir), 'lab', 'state.json') } : {}),
  });
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(createLabRouter(store));
  const server = http.createServer(app);
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  let stopped: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${addr.port}`,
    store,
    stop: () => {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }).then(() => store.flush());
      return stopped;
    },
  };
}
