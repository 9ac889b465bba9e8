import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '../../src/config';
import { connectClient, connectWorker } from '../../src/temporal/connection';
import { provisionTemporal } from '../../src/temporal/provision';
import { requireEnv, TEST_ENV } from '../support/env';
import { spawnApi, type ApiProcess } from '../support/quell-process';
import { uniqueTaskQueue } from '../support/temporal';

const execFileAsync = promisify(execFile);
const root = path.resolve(__dirname, '..', '..');

/** The environment without any Temporal setting of the shell or the jest run. */
function envWithoutTemporal(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('TEMPORAL_')));
}

describe('quell api pointed at a cluster by a temporal.toml profile alone', () => {
  let dir: string;
  let configFile: string;
  let api: ApiProcess | undefined;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-profile-'));
    await fs.mkdir(path.join(dir, 'playbooks'));
    configFile = path.join(dir, 'temporal.toml');
    // A decoy default profile: a profile that is not picked must not be used.
    await fs.writeFile(
      configFile,
      [
        '[profile.default]',
        'address = "127.0.0.1:1"',
        '',
        '[profile.soc-staging]',
        `address = "${requireEnv(TEST_ENV.address)}"`,
        `namespace = "${requireEnv(TEST_ENV.namespace)}"`,
        '',
        '[profile.soc-staging.grpc_meta]',
        'x-soc-tenant = "eu"',
        '',
      ].join('\n'),
    );
  });

  afterAll(async () => {
    if (api && api.child.exitCode === null) {
      api.child.kill('SIGTERM');
      await api.exited;
    }
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('names the profile address in its banner, starts no server, and /readyz reaches Temporal', async () => {
    const address = requireEnv(TEST_ENV.address);
    api = await spawnApi({
      port: 0,
      taskQueue: uniqueTaskQueue('profile'),
      playbooksDir: path.join(root, 'playbooks'),
      dataDir: dir,
      tokens: {},
      env: {
        TEMPORAL_CONFIG_FILE: configFile,
        TEMPORAL_PROFILE: 'soc-staging',
        TEMPORAL_GRPC_META_X_QUELL_TEST: '1',
      },
    });
    const output = api.output();
    expect(output).toContain(
      `Temporal:    ${address} (namespace ${requireEnv(TEST_ENV.namespace)}, external, temporal.toml profile soc-staging)`,
    );
    expect(output).not.toContain('Temporal UI');
    const apiUrl = /API: {9}(http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
    expect(apiUrl).toBeDefined();

    const res = await fetch(`${apiUrl}/readyz`);
    const body = (await res.json()) as { temporal: { reachable: boolean; error?: string } };
    // No worker polls this queue, so not ready (503); Temporal itself answered through the profile's connection.
    expect(body.temporal).toEqual({ reachable: true });
  });

  it('the worker and client connections take the profile and TEMPORAL_GRPC_META_* metadata', async () => {
    const config = loadConfig({
      ...envWithoutTemporal(),
      TEMPORAL_CONFIG_FILE: configFile,
      TEMPORAL_PROFILE: 'soc-staging',
      TEMPORAL_GRPC_META_X_QUELL_TEST: '1',
    });
    const endpoint = await provisionTemporal(config);
    expect(endpoint.grpcMeta).toEqual({ 'x-soc-tenant': 'eu', 'x-quell-test': '1' });
    const worker = await connectWorker(endpoint);
    await worker.close();
    const client = await connectClient(endpoint);
    try {
      const { namespaceInfo } = await client.workflowService.describeNamespace({
        namespace: endpoint.namespace,
      });
      expect(namespaceInfo?.name).toBe(requireEnv(TEST_ENV.namespace));
    } finally {
      await client.connection.close();
    }
  });

  it('exits 2 with one line naming the profile when TEMPORAL_PROFILE is not in the file', async () => {
    const failure = await execFileAsync(process.execPath, [path.join(root, 'bin', 'quell.js'), 'api'], {
      cwd: root,
      env: {
        ...envWithoutTemporal(),
        TEMPORAL_CONFIG_FILE: configFile,
        TEMPORAL_PROFILE: 'soc-prod',
        QUELL_DATA_DIR: dir,
      },
    }).then(
      () => undefined,
      (err: { code: number; stdout: string; stderr: string }) => err,
    );
    expect(failure?.code).toBe(2);
    expect(failure?.stderr).toBe(
      `quell: TEMPORAL_PROFILE=soc-prod: no such profile in TEMPORAL_CONFIG_FILE (${configFile}) ` +
        '(it has default, soc-staging).\n',
    );
  });
});
