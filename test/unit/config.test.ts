import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config';
import { workerOptionsOf } from '../../src/worker';

describe('loadConfig', () => {
  it('defaults to an embedded dev server with its data under ./data', () => {
    const config = loadConfig({});
    expect(config.api).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(config.temporal).toMatchObject({
      kind: 'embedded',
      namespace: 'default',
      port: 7233,
      uiPort: 8233,
      headless: false,
      dbFile: path.resolve('data', 'temporal.sqlite'),
    });
  });

  it('connects to an existing server when TEMPORAL_ADDRESS is set, with TLS and API key from the environment', () => {
    const config = loadConfig({
      TEMPORAL_ADDRESS: 'my-ns.a1b2c.tmprl.cloud:7233',
      TEMPORAL_NAMESPACE: 'my-ns.a1b2c',
      TEMPORAL_API_KEY: 'secret-key',
    });
    expect(config.temporal).toEqual({
      kind: 'external',
      address: 'my-ns.a1b2c.tmprl.cloud:7233',
      namespace: 'my-ns.a1b2c',
      apiKey: 'secret-key',
      tls: true,
    });
  });

  it('names each invalid variable', () => {
    let error: unknown;
    try {
      loadConfig({ QUELL_API_PORT: 'eighty', QUELL_LOG_LEVEL: 'chatty' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/QUELL_API_PORT/);
    expect((error as Error).message).toMatch(/QUELL_LOG_LEVEL/);
  });

  it('takes QUELL_SDK_METRICS_ADDRESS as an IP and a port, and names it when it is not one', () => {
    expect(loadConfig({}).sdkMetrics).toBeUndefined();
    expect(loadConfig({ QUELL_SDK_METRICS_ADDRESS: '0.0.0.0:9464' }).sdkMetrics).toEqual({
      bindAddress: '0.0.0.0:9464',
      host: '0.0.0.0',
      port: 9464,
    });
    expect(loadConfig({ QUELL_SDK_METRICS_ADDRESS: '[::1]:9464' }).sdkMetrics).toMatchObject({
      host: '::1',
      port: 9464,
    });
    for (const bad of [
      'localhost:9464',
      '127.0.0.1',
      '127.0.0.1:0',
      '127.0.0.1:70000',
      '::1:9464',
      '[nope]:1',
    ]) {
      expect(() => loadConfig({ QUELL_SDK_METRICS_ADDRESS: bad })).toThrow(
        /QUELL_SDK_METRICS_ADDRESS: expected IP:port/,
      );
    }
  });

  it('reads the worker tuning variables, keeps the SDK defaults for the rest, and names a bad one', () => {
    expect(loadConfig({}).workerTuning).toEqual({});
    expect(loadConfig({ QUELL_WORKER_ACTIVITY_SLOTS: ' ' }).workerTuning).toEqual({});
    const tuned = loadConfig({
      QUELL_WORKER_WORKFLOW_TASK_SLOTS: '80',
      QUELL_WORKER_ACTIVITY_SLOTS: '20',
      QUELL_WORKER_WORKFLOW_POLLERS: '16',
      QUELL_WORKER_ACTIVITY_POLLERS: '4',
      QUELL_WORKER_CACHED_INCIDENTS: '5000',
    });
    expect(tuned.workerTuning).toEqual({
      workflowTaskSlots: 80,
      activitySlots: 20,
      workflowPollers: 16,
      activityPollers: 4,
      cachedIncidents: 5000,
    });
    expect(workerOptionsOf(tuned.workerTuning)).toEqual({
      maxConcurrentWorkflowTaskExecutions: 80,
      maxConcurrentActivityTaskExecutions: 20,
      workflowTaskPollerBehavior: { type: 'simple-maximum', maximum: 16 },
      activityTaskPollerBehavior: { type: 'simple-maximum', maximum: 4 },
      maxCachedWorkflows: 5000,
    });
    expect(workerOptionsOf({ activitySlots: 7 })).toEqual({ maxConcurrentActivityTaskExecutions: 7 });
    expect(() => loadConfig({ QUELL_WORKER_ACTIVITY_SLOTS: '0' })).toThrow(/QUELL_WORKER_ACTIVITY_SLOTS/);
    expect(() => loadConfig({ QUELL_WORKER_WORKFLOW_TASK_SLOTS: 'many' })).toThrow(
      /QUELL_WORKER_WORKFLOW_TASK_SLOTS/,
    );
    expect(() => loadConfig({ QUELL_WORKER_CACHED_INCIDENTS: '1' })).toThrow(
      /QUELL_WORKER_CACHED_INCIDENTS: must be 0 \(no cache\) or at least 2/,
    );
    // A workflow task needs its incident cached: the SDK would lower the slots quietly.
    expect(() =>
      loadConfig({ QUELL_WORKER_WORKFLOW_TASK_SLOTS: '50', QUELL_WORKER_CACHED_INCIDENTS: '20' }),
    ).toThrow(/QUELL_WORKER_WORKFLOW_TASK_SLOTS: 50 is more than QUELL_WORKER_CACHED_INCIDENTS \(20\)/);
    expect(
      loadConfig({ QUELL_WORKER_WORKFLOW_TASK_SLOTS: '50', QUELL_WORKER_CACHED_INCIDENTS: '0' }).workerTuning,
    ).toEqual({ workflowTaskSlots: 50, cachedIncidents: 0 });
  });

  it('reads the settings of `quell temporal serve` whether or not TEMPORAL_ADDRESS is set', () => {
    const env = {
      QUELL_DATA_DIR: '/var/lib/quell',
      QUELL_TEMPORAL_IP: '0.0.0.0',
      QUELL_TEMPORAL_PORT: '7300',
      QUELL_TEMPORAL_CACHE_DIR: '/opt/quell/temporal-cli',
      QUELL_TEMPORAL_POSTGRES_URL: ' postgres://temporal:pw@db:5432 ',
    };
    const expected = {
      ip: '0.0.0.0',
      port: 7300,
      namespace: 'default',
      cacheDir: '/opt/quell/temporal-cli',
      dir: '/var/lib/quell/temporal-server',
      logLevel: 'warn',
      postgresUrl: 'postgres://temporal:pw@db:5432',
    };
    expect(loadConfig(env).temporalServer).toEqual(expected);
    expect(loadConfig({ ...env, TEMPORAL_ADDRESS: '127.0.0.1:7300' }).temporalServer).toEqual(expected);
    expect(loadConfig({}).temporalServer.postgresUrl).toBeUndefined();
  });
});
