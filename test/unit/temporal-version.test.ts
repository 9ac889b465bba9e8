import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config';
import { verifyTemporalCli } from '../../src/temporal/cli-binary';
import { SQL_DYNAMIC_CONFIG } from '../../src/temporal/postgres-server';
import { serverCacheDir, TEMPORAL_SERVER_VERSION } from '../../src/temporal/server-binary';
import { TEST_ENV } from '../support/env';

/**
 * One Temporal Server release everywhere: the dev server `quell start` runs (bundled in the Temporal CLI),
 * the PostgreSQL-backed server `quell temporal serve` builds, and the images docker-compose.yml runs, with
 * the same dynamic config for both PostgreSQL-backed servers.
 */

const execFileAsync = promisify(execFile);
const root = path.resolve(__dirname, '..', '..');

interface ComposeService {
  image?: string;
  environment?: Record<string, string>;
  volumes?: string[];
}
const compose = parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, ComposeService>;
};

function image(service: string): { name: string; tag: string } {
  const ref = compose.services[service]?.image;
  if (!ref) throw new Error(`docker-compose.yml: service ${service} has no image`);
  const i = ref.lastIndexOf(':');
  return { name: ref.slice(0, i), tag: ref.slice(i + 1) };
}

// The CLI the jest global setup runs the dev server with; unset only when it fell back to the SDK's download.
const cliPath = process.env[TEST_ENV.cliPath];
if (!cliPath) {
  console.warn(
    `temporal-version.test.ts: SKIPPING the Temporal CLI checks: ${TEST_ENV.cliPath} is not set, so the test ` +
      'dev server is not a CLI Quell found or built (run `quell temporal provision`).',
  );
}
const serverBinary = path.join(serverCacheDir(loadConfig({}).temporalServer.cacheDir), 'temporal-server');
const serverBuilt = existsSync(serverBinary);
if (!serverBuilt) {
  console.warn(
    `temporal-version.test.ts: SKIPPING the built server check: ${serverBinary} is missing ` +
      '(`quell temporal provision --server` builds it).',
  );
}

describe(`Temporal Server ${TEMPORAL_SERVER_VERSION} everywhere`, () => {
  (cliPath ? it : it.skip)(
    'is the server the Temporal CLI of the dev server bundles, and so is the UI',
    async () => {
      const cli = await verifyTemporalCli(cliPath!);
      expect(cli.serverVersion).toBe(TEMPORAL_SERVER_VERSION);
      // docker-compose's UI image is the UI release that CLI bundles.
      expect(/\bUI ([0-9][^,)\s]*)/.exec(cli.version)?.[1]).toBe(image('temporal-ui').tag);
    },
  );

  (serverBuilt ? it : it.skip)('is the server `quell temporal serve` builds', async () => {
    const { stdout } = await execFileAsync(serverBinary, ['--version']);
    expect(stdout.trim()).toBe(`temporal version ${TEMPORAL_SERVER_VERSION}`);
  });

  it('is the server image docker-compose.yml runs, with admin-tools (the schema) of the same release', () => {
    expect(image('temporal')).toEqual({ name: 'temporalio/server', tag: TEMPORAL_SERVER_VERSION });
    for (const step of ['temporal-schema-setup', 'temporal-namespace-setup']) {
      const tools = image(step);
      expect(tools.name).toBe('temporalio/admin-tools');
      // Before 1.30, admin-tools tags name the tools inside: <server>-tctl-<version>-cli-<version>.
      expect(tools.tag.split('-')[0]).toBe(TEMPORAL_SERVER_VERSION);
      expect(tools.tag).toMatch(/^[\d.]+(-tctl-[\d.]+-cli-[\d.]+)?$/);
    }
  });

  it('gives the compose server the dynamic config `quell temporal serve` copies', () => {
    const temporal = compose.services.temporal!;
    // Relative to the server's working directory in the image, /etc/temporal.
    const inContainer = path.posix.resolve('/etc/temporal', temporal.environment!.DYNAMIC_CONFIG_FILE_PATH!);
    const onHost = (temporal.volumes ?? [])
      .map((v) => v.split(':'))
      .filter(([, target]) => inContainer.startsWith(`${target}/`))
      .map(([source, target]) => path.resolve(root, source!, path.posix.relative(target!, inContainer)));
    expect(onHost).toEqual([SQL_DYNAMIC_CONFIG]);
    expect(path.relative(root, SQL_DYNAMIC_CONFIG)).toBe(
      path.join('deploy', 'temporal', 'dynamicconfig', 'development-sql.yaml'),
    );
  });
});
