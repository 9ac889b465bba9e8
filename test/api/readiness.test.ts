import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { Client, Connection } from '@temporalio/client';
import { TEST_ENV, requireEnv } from '../support/env';
import { testApp } from './support/harness';

/** /readyz is the one route that uses the Temporal client: checked against the run's real dev server. */
describe('GET /readyz against the Temporal dev server', () => {
  let connection: Connection;
  let client: Client;

  beforeAll(async () => {
    connection = await Connection.connect({ address: requireEnv(TEST_ENV.address) });
    client = new Client({ connection, namespace: requireEnv(TEST_ENV.namespace) });
  });
  afterAll(async () => {
    await connection?.close();
  });

  it('answers 503 when Temporal is reachable but no worker polls the task queue (no auth needed)', async () => {
    const { app } = testApp({ client, taskQueue: `no-worker-${randomUUID()}` });
    const res = await request(app).get('/readyz').expect(503);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({
      ready: false,
      temporal: { reachable: true },
      // No worker ever reported on this queue, so the poller list decides.
      worker: { polling: false, pollers: 0, source: 'pollers' },
    });
  });
});
