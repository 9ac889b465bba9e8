import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig, type QuellConfig } from '../../src/config';
import { endpointConnectionOptions } from '../../src/temporal/connection';
import { provisionTemporal } from '../../src/temporal/provision';

let dir: string;
let certPath: string;
let keyPath: string;
let caPath: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'quell-envconfig-'));
  certPath = path.join(dir, 'client.pem');
  keyPath = path.join(dir, 'client.key');
  caPath = path.join(dir, 'ca.pem');
  writeFileSync(certPath, '-----BEGIN CERTIFICATE-----\nclient\n-----END CERTIFICATE-----\n');
  writeFileSync(keyPath, '-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n');
  writeFileSync(caPath, '-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
function toml(text: string): string {
  const file = path.join(dir, `temporal-${++fileCount}.toml`);
  writeFileSync(file, text);
  return file;
}

/** A platform team's file: a staging cluster with mTLS and a Cloud namespace with an API key. */
function clusterFile(): string {
  return toml(`
[profile.default]
address = "staging.temporal.internal:7233"
namespace = "security-staging"

[profile.default.tls]
client_cert_path = "${certPath}"
client_key_path = "${keyPath}"
server_ca_cert_path = "${caPath}"
server_name = "frontend.temporal.internal"

[profile.default.grpc_meta]
x-soc-tenant = "eu"

[profile.cloud]
address = "security.a1b2c.tmprl.cloud:7233"
namespace = "security.a1b2c"
api_key = "cloud-key"
`);
}

function temporalOf(env: NodeJS.ProcessEnv): QuellConfig['temporal'] {
  return loadConfig(env).temporal;
}

function configError(env: NodeJS.ProcessEnv): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).not.toContain('\n');
    return (err as Error).message;
  }
  throw new Error('loadConfig accepted the configuration');
}

describe('Temporal connection from temporal.toml and the standard variables (@temporalio/envconfig)', () => {
  it('a profile with an address alone makes Temporal external, with its namespace, mTLS and metadata', () => {
    expect(temporalOf({ TEMPORAL_CONFIG_FILE: clusterFile() })).toEqual({
      kind: 'external',
      address: 'staging.temporal.internal:7233',
      namespace: 'security-staging',
      tls: {
        clientCert: { path: certPath },
        clientKey: { path: keyPath },
        serverCaCert: { path: caPath },
        serverName: 'frontend.temporal.internal',
      },
      grpcMeta: { 'x-soc-tenant': 'eu' },
      profile: 'default',
    });
  });

  it('TEMPORAL_PROFILE picks another profile; an API key implies TLS', () => {
    expect(temporalOf({ TEMPORAL_CONFIG_FILE: clusterFile(), TEMPORAL_PROFILE: 'cloud' })).toEqual({
      kind: 'external',
      address: 'security.a1b2c.tmprl.cloud:7233',
      namespace: 'security.a1b2c',
      apiKey: 'cloud-key',
      tls: true,
      profile: 'cloud',
    });
  });

  it('finds temporal.toml in the default place ($XDG_CONFIG_HOME/temporalio) and embeds a server without one', () => {
    const xdg = path.join(dir, 'xdg');
    mkdirSync(path.join(xdg, 'temporalio'), { recursive: true });
    writeFileSync(
      path.join(xdg, 'temporalio', 'temporal.toml'),
      '[profile.default]\naddress = "127.0.0.1:7300"\n',
    );
    expect(temporalOf({ XDG_CONFIG_HOME: xdg })).toMatchObject({
      kind: 'external',
      address: '127.0.0.1:7300',
    });
    expect(temporalOf({ XDG_CONFIG_HOME: path.join(dir, 'no-such-dir') })).toMatchObject({
      kind: 'embedded',
    });
    expect(temporalOf({ HOME: dir })).toMatchObject({ kind: 'embedded' });
  });

  it('a file without profiles (an empty one) gives no settings: the variables alone decide', () => {
    const empty = toml('');
    expect(temporalOf({ TEMPORAL_CONFIG_FILE: empty })).toMatchObject({ kind: 'embedded' });
    expect(temporalOf({ TEMPORAL_CONFIG_FILE: empty, TEMPORAL_ADDRESS: 'temporal.internal:7233' })).toEqual({
      kind: 'external',
      address: 'temporal.internal:7233',
      namespace: 'default',
    });
    expect(configError({ TEMPORAL_CONFIG_FILE: empty, TEMPORAL_PROFILE: 'soc-prod' })).toMatch(
      /^TEMPORAL_PROFILE=soc-prod: no such profile in TEMPORAL_CONFIG_FILE \(.*\) \(it has none\)\.$/,
    );
  });

  it('each variable overrides its setting in the profile; an empty variable does not blank it', () => {
    const file = clusterFile();
    const overridden = temporalOf({
      TEMPORAL_CONFIG_FILE: file,
      TEMPORAL_ADDRESS: 'dr.temporal.internal:7233',
      TEMPORAL_NAMESPACE: 'security-dr',
      TEMPORAL_TLS_SERVER_NAME: 'dr.temporal.internal',
    });
    expect(overridden).toMatchObject({
      address: 'dr.temporal.internal:7233',
      namespace: 'security-dr',
      tls: { clientCert: { path: certPath }, serverName: 'dr.temporal.internal' },
    });
    // The address is the variable's, not the profile's: the banner names no profile.
    expect(overridden).not.toHaveProperty('profile');
    expect(
      temporalOf({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_ADDRESS: '', TEMPORAL_NAMESPACE: ' ' }),
    ).toMatchObject({
      address: 'staging.temporal.internal:7233',
      namespace: 'security-staging',
      profile: 'default',
    });
  });

  it('TEMPORAL_TLS (yes/no as every Quell boolean) switches TLS on or off over an API key or a tls table', () => {
    const file = clusterFile();
    expect(
      temporalOf({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'cloud', TEMPORAL_TLS: 'no' }),
    ).not.toHaveProperty('tls');
    expect(temporalOf({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_TLS: 'off' })).not.toHaveProperty('tls');
    expect(temporalOf({ TEMPORAL_ADDRESS: 'temporal.internal:7233', TEMPORAL_TLS: 'yes' })).toMatchObject({
      tls: true,
    });
    expect(temporalOf({ TEMPORAL_ADDRESS: 'temporal.internal:7233' })).not.toHaveProperty('tls');
  });

  it('takes PEM written inline in the profile', () => {
    const file = toml(`
[profile.default]
address = "temporal.internal:7233"
[profile.default.tls]
server_ca_cert_data = "-----BEGIN CERTIFICATE-----\\ninline\\n-----END CERTIFICATE-----"
`);
    expect(temporalOf({ TEMPORAL_CONFIG_FILE: file })).toMatchObject({
      tls: { serverCaCert: { pem: '-----BEGIN CERTIFICATE-----\ninline\n-----END CERTIFICATE-----' } },
    });
  });

  describe("Quell's older TLS names", () => {
    it('still work, standing for the standard ones', () => {
      expect(
        temporalOf({
          TEMPORAL_ADDRESS: 'temporal.internal:7233',
          TEMPORAL_TLS_CERT_PATH: certPath,
          TEMPORAL_TLS_KEY_PATH: keyPath,
          TEMPORAL_TLS_CA_PATH: caPath,
        }),
      ).toEqual({
        kind: 'external',
        address: 'temporal.internal:7233',
        namespace: 'default',
        tls: { clientCert: { path: certPath }, clientKey: { path: keyPath }, serverCaCert: { path: caPath } },
      });
    });

    it('may be set beside the standard name to the same file, and override a profile like it', () => {
      const other = path.join(dir, 'other-ca.pem');
      writeFileSync(other, 'ca');
      expect(
        temporalOf({
          TEMPORAL_CONFIG_FILE: clusterFile(),
          TEMPORAL_TLS_CA_PATH: other,
          TEMPORAL_TLS_SERVER_CA_CERT_PATH: path.relative(process.cwd(), other),
        }),
      ).toMatchObject({ tls: { serverCaCert: { path: other } } });
    });

    it('refuse a conflict with the standard name, naming both', () => {
      const other = path.join(dir, 'other.pem');
      writeFileSync(other, 'cert');
      expect(
        configError({
          TEMPORAL_ADDRESS: 'temporal.internal:7233',
          TEMPORAL_TLS_CERT_PATH: certPath,
          TEMPORAL_TLS_CLIENT_CERT_PATH: other,
          TEMPORAL_TLS_KEY_PATH: keyPath,
        }),
      ).toMatch(
        /^TEMPORAL_TLS_CERT_PATH \(.*\) and TEMPORAL_TLS_CLIENT_CERT_PATH \(.*\) name different files/,
      );
    });
  });

  describe('gRPC metadata', () => {
    it('comes from TEMPORAL_GRPC_META_* (NAME_WITH_UNDERSCORES -> name-with-underscores) and the profile', () => {
      const target = temporalOf({
        TEMPORAL_CONFIG_FILE: clusterFile(),
        TEMPORAL_GRPC_META_X_QUELL_TEST: '1',
        TEMPORAL_GRPC_META_X_SOC_ROUTING_KEY: 'eu-west',
      });
      expect(target).toMatchObject({
        grpcMeta: { 'x-soc-tenant': 'eu', 'x-quell-test': '1', 'x-soc-routing-key': 'eu-west' },
      });
    });

    it('an empty TEMPORAL_GRPC_META_<NAME> removes the profile header', () => {
      expect(
        temporalOf({ TEMPORAL_CONFIG_FILE: clusterFile(), TEMPORAL_GRPC_META_X_SOC_TENANT: '' }),
      ).not.toHaveProperty('grpcMeta');
    });

    it('is what the client and worker connections are opened with', async () => {
      const config = loadConfig({
        TEMPORAL_ADDRESS: '127.0.0.1:7233',
        TEMPORAL_API_KEY: 'k',
        TEMPORAL_GRPC_META_X_QUELL_TEST: '1',
      });
      // The endpoint the API, worker and CLI connect with is the provisioned one.
      const endpoint = await provisionTemporal(config);
      expect(endpointConnectionOptions(endpoint)).toEqual({
        address: '127.0.0.1:7233',
        apiKey: 'k',
        tls: true,
        metadata: { 'x-quell-test': '1' },
      });
    });

    it('refuses a binary header, a value gRPC cannot carry, and an authorization header beside an API key', () => {
      const base = { TEMPORAL_ADDRESS: 'temporal.internal:7233' };
      expect(configError({ ...base, TEMPORAL_GRPC_META_TRACE_BIN: 'AAEC' })).toMatch(
        /gRPC metadata "trace-bin" \(TEMPORAL_GRPC_META_TRACE_BIN .*binary header/,
      );
      expect(configError({ ...base, TEMPORAL_GRPC_META_X_TENANT: 'é' })).toMatch(/X_TENANT.*printable ASCII/);
      expect(
        configError({ ...base, TEMPORAL_API_KEY: 'k', TEMPORAL_GRPC_META_AUTHORIZATION: 'Bearer other' }),
      ).toMatch(/authorization.*TEMPORAL_API_KEY.*keep one/);
    });
  });

  describe('errors name what is wrong', () => {
    it('a TEMPORAL_CONFIG_FILE that does not exist', () => {
      expect(configError({ TEMPORAL_CONFIG_FILE: path.join(dir, 'missing.toml') })).toBe(
        `TEMPORAL_CONFIG_FILE: ${path.join(dir, 'missing.toml')} does not exist.`,
      );
      expect(configError({ TEMPORAL_CONFIG_FILE: dir })).toMatch(
        /^TEMPORAL_CONFIG_FILE: .* is not a file\.$/,
      );
    });

    it('a file that is not TOML, with the line', () => {
      const file = toml('[profile.default]\naddress = "a:1"\nnamespace = \n');
      expect(configError({ TEMPORAL_CONFIG_FILE: file })).toMatch(
        new RegExp(`^TEMPORAL_CONFIG_FILE \\(${file}\\) is not valid TOML \\(line 3\\): `),
      );
    });

    it('a profile that is not in the file, listing those that are', () => {
      expect(configError({ TEMPORAL_CONFIG_FILE: clusterFile(), TEMPORAL_PROFILE: 'prod' })).toMatch(
        /^TEMPORAL_PROFILE=prod: no such profile in TEMPORAL_CONFIG_FILE \(.*\) \(it has default, cloud\)\.$/,
      );
      expect(configError({ HOME: dir, TEMPORAL_PROFILE: 'prod' })).toMatch(
        /^TEMPORAL_PROFILE=prod: no such profile in the default temporal.toml/,
      );
    });

    it('a profile asked for by name that has no address', () => {
      const file = toml('[profile.ns-only]\nnamespace = "security"\n');
      expect(configError({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'ns-only' })).toMatch(
        /^TEMPORAL_PROFILE=ns-only: the profile in .* has no address/,
      );
    });

    it('a certificate path that does not exist: the variable that set it, or the profile key', () => {
      const missing = path.join(dir, 'missing.pem');
      const base = { TEMPORAL_ADDRESS: 'temporal.internal:7233', TEMPORAL_TLS_KEY_PATH: keyPath };
      expect(configError({ ...base, TEMPORAL_TLS_CLIENT_CERT_PATH: missing })).toBe(
        `TEMPORAL_TLS_CLIENT_CERT_PATH: ${missing} does not exist or is not a file.`,
      );
      expect(configError({ ...base, TEMPORAL_TLS_CERT_PATH: missing })).toBe(
        `TEMPORAL_TLS_CERT_PATH: ${missing} does not exist or is not a file.`,
      );
      const file = toml(
        `[profile.default]\naddress = "a:7233"\n[profile.default.tls]\nserver_ca_cert_path = "${missing}"\n`,
      );
      expect(configError({ TEMPORAL_CONFIG_FILE: file })).toMatch(
        /^tls\.server_ca_cert_path of profile 'default' in TEMPORAL_CONFIG_FILE \(.*\): .*missing\.pem does not exist/,
      );
    });

    it('half an mTLS pair', () => {
      expect(configError({ TEMPORAL_ADDRESS: 'x:7233', TEMPORAL_TLS_CERT_PATH: certPath })).toMatch(
        /TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH together/,
      );
    });

    it('both a path and inline data for one PEM', () => {
      const file = toml(
        `[profile.default]\naddress = "a:7233"\n[profile.default.tls]\nclient_cert_path = "${certPath}"\nclient_cert_data = "x"\nclient_key_path = "${keyPath}"\n`,
      );
      expect(configError({ TEMPORAL_CONFIG_FILE: file })).toMatch(
        /profile 'default': Cannot specify both client_cert_path and client_cert_data/,
      );
    });

    it('an address that is not host:port', () => {
      expect(configError({ TEMPORAL_ADDRESS: 'temporal.internal' })).toMatch(
        /^TEMPORAL_ADDRESS .* must be host:port/,
      );
    });

    it('TEMPORAL_TLS_DISABLE_HOST_VERIFICATION, which the TypeScript SDK cannot do', () => {
      expect(
        configError({
          TEMPORAL_ADDRESS: 'x:7233',
          TEMPORAL_TLS: '1',
          TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'true',
        }),
      ).toMatch(/TEMPORAL_TLS_DISABLE_HOST_VERIFICATION is not supported.*TEMPORAL_TLS_SERVER_NAME/);
      expect(
        temporalOf({ TEMPORAL_ADDRESS: 'x:7233', TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'false' }),
      ).toMatchObject({ kind: 'external' });
    });
  });
});
