import { statSync } from 'node:fs';
import path from 'node:path';
import {
  loadClientConfig,
  loadClientConfigProfile,
  type ClientConfigProfile,
  type ConfigDataSource,
} from '@temporalio/envconfig';
import { z } from 'zod';
import { ConfigError } from './errors';

/** A PEM file, or PEM written inline in a temporal.toml profile (`tls.*_data`). */
export type PemSource = { path: string } | { pem: string };

export interface TemporalTlsConfig {
  clientCert?: PemSource;
  clientKey?: PemSource;
  serverCaCert?: PemSource;
  serverName?: string;
}

/** An existing Temporal service (cluster, docker-compose, Temporal Cloud): Quell starts no server. */
export interface ExternalTemporal {
  kind: 'external';
  address: string;
  namespace: string;
  apiKey?: string;
  tls?: TemporalTlsConfig | true;
  /** gRPC metadata (HTTP/2 headers) sent with every call: TEMPORAL_GRPC_META_*, a profile's `grpc_meta`. */
  grpcMeta?: Record<string, string>;
  /** The temporal.toml profile the address came from (unset when TEMPORAL_ADDRESS gave it): for the banner. */
  profile?: string;
}

/**
 * Quell's earlier TLS variable names and the standard ones (Temporal environment configuration) they stand for.
 * Both may be set only to the same file.
 */
export const TLS_PATH_ALIASES = [
  ['TEMPORAL_TLS_CERT_PATH', 'TEMPORAL_TLS_CLIENT_CERT_PATH'],
  ['TEMPORAL_TLS_KEY_PATH', 'TEMPORAL_TLS_CLIENT_KEY_PATH'],
  ['TEMPORAL_TLS_CA_PATH', 'TEMPORAL_TLS_SERVER_CA_CERT_PATH'],
] as const;

const GRPC_META_PREFIX = 'TEMPORAL_GRPC_META_';

/** The TOML keys a PEM comes from, and the standard variable that overrides each. */
const PEM_FIELDS = [
  { field: 'clientCert', toml: 'client_cert', variable: 'TEMPORAL_TLS_CLIENT_CERT_PATH' },
  { field: 'clientKey', toml: 'client_key', variable: 'TEMPORAL_TLS_CLIENT_KEY_PATH' },
  { field: 'serverCACert', toml: 'server_ca_cert', variable: 'TEMPORAL_TLS_SERVER_CA_CERT_PATH' },
] as const;

/** The settings envconfig's profile carries, validated before they become the connection Quell makes. */
const externalSchema = z.object({
  address: z.string().regex(/^\S+:\d{1,5}$/, 'must be host:port'),
  namespace: z.string().min(1),
  apiKey: z.string().min(1).optional(),
  grpcMeta: z
    .record(z.string(), z.string().regex(/^[\x20-\x7e]*$/, 'must be printable ASCII'))
    .superRefine((meta, ctx) => {
      for (const key of Object.keys(meta)) {
        if (!/^[0-9a-z][0-9a-z.-]*$/.test(key)) {
          ctx.addIssue({ code: 'custom', path: [key], message: 'is not a gRPC metadata name' });
        } else if (key.endsWith('-bin')) {
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: 'is a binary header, which text configuration cannot carry',
          });
        }
      }
    })
    .optional(),
});

interface Sources {
  /** What the user calls the config file in messages: the variable and path, or the default location. */
  file: string;
  profile: string;
  /** The standard variable -> the name the user actually set (an alias or itself). */
  setAs: Map<string, string>;
}

/**
 * Resolves the Temporal service Quell connects to the standard way, through @temporalio/envconfig: the profile
 * `TEMPORAL_PROFILE` (default `default`) of `TEMPORAL_CONFIG_FILE` (default `~/.config/temporalio/temporal.toml`),
 * each setting overridden by its environment variable (`TEMPORAL_ADDRESS`, `TEMPORAL_TLS_*`,
 * `TEMPORAL_GRPC_META_*`, ...). Returns undefined when neither gives an address (Quell then embeds a server).
 * `flags`: TEMPORAL_TLS and TEMPORAL_TLS_DISABLE_HOST_VERIFICATION as the schema read them (Quell accepts
 * yes/no/on/off; envconfig only 1/true).
 * Thrown: {@link ConfigError} naming the variable, file or profile that is wrong.
 */
export function resolveExternalTemporal(
  env: NodeJS.ProcessEnv,
  flags: { tls?: boolean; disableHostVerification?: boolean },
): ExternalTemporal | undefined {
  if (flags.disableHostVerification) {
    // envconfig 1.24 reads it but drops it, and the TypeScript SDK has no such option: say so rather than verify anyway.
    throw new ConfigError(
      'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION is not supported by the Temporal TypeScript SDK: set ' +
        'TEMPORAL_TLS_SERVER_NAME to the name in the server certificate instead.',
    );
  }
  const { vars, setAs } = envconfigVariables(env, flags.tls);
  const configFile = vars.TEMPORAL_CONFIG_FILE;
  if (configFile !== undefined) {
    let isFile = false;
    try {
      isFile = statSync(configFile).isFile();
    } catch {
      throw new ConfigError(`TEMPORAL_CONFIG_FILE: ${configFile} does not exist.`);
    }
    if (!isFile) throw new ConfigError(`TEMPORAL_CONFIG_FILE: ${configFile} is not a file.`);
  }
  const explicitProfile = vars.TEMPORAL_PROFILE;
  const sources: Sources = {
    file: configFile
      ? `TEMPORAL_CONFIG_FILE (${configFile})`
      : 'the default temporal.toml (temporalio/temporal.toml in $XDG_CONFIG_HOME or ~/.config)',
    profile: explicitProfile ?? 'default',
    setAs,
  };

  let profile: ClientConfigProfile;
  try {
    profile = loadClientConfigProfile({ overrideEnvVars: vars });
  } catch (err) {
    // envconfig 1.24 fails on a file without any [profile...] table (an empty one, say) reading its profiles.
    if (!(err instanceof TypeError && /of undefined/.test(err.message))) throw loadError(err, vars, sources);
    if (explicitProfile !== undefined) {
      throw new ConfigError(
        `TEMPORAL_PROFILE=${explicitProfile}: no such profile in ${sources.file} (it has none).`,
      );
    }
    profile = loadClientConfigProfile({ overrideEnvVars: vars, disableFile: true });
  }
  if (!profile.address) {
    if (explicitProfile === undefined) return undefined;
    throw new ConfigError(
      `TEMPORAL_PROFILE=${explicitProfile}: the profile in ${sources.file} has no address (and TEMPORAL_ADDRESS is not set).`,
    );
  }

  const parsed = externalSchema.safeParse({
    address: profile.address,
    namespace: profile.namespace ?? 'default',
    apiKey: profile.apiKey,
    ...(profile.grpcMeta ? { grpcMeta: normalizeGrpcMeta(profile.grpcMeta, vars) } : {}),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`${settingName(issue.path, sources)} ${issue.message}.`);
  }
  const target = parsed.data;
  if (target.apiKey && target.grpcMeta?.authorization !== undefined) {
    throw new ConfigError(
      `${settingName(['grpcMeta', 'authorization'], sources)} and TEMPORAL_API_KEY (or the profile's api_key) ` +
        'both set the authorization header: keep one.',
    );
  }
  const resolvedTls = tlsSettings(profile, sources);
  return {
    kind: 'external',
    address: target.address,
    namespace: target.namespace,
    ...(target.apiKey ? { apiKey: target.apiKey } : {}),
    ...(resolvedTls ? { tls: resolvedTls } : {}),
    ...(target.grpcMeta && Object.keys(target.grpcMeta).length > 0 ? { grpcMeta: target.grpcMeta } : {}),
    ...(vars.TEMPORAL_ADDRESS === undefined ? { profile: sources.profile } : {}),
  };
}

/**
 * The environment as envconfig reads it: Quell's aliases mapped to the standard names, empty variables dropped
 * (Quell has always treated them as unset, envconfig would let them blank out a profile's value), TEMPORAL_TLS
 * normalised. Empty TEMPORAL_GRPC_META_* stay: envconfig takes them as "remove this header of the profile".
 */
function envconfigVariables(
  env: NodeJS.ProcessEnv,
  tls: boolean | undefined,
): { vars: Record<string, string>; setAs: Map<string, string> } {
  const vars: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (!name.startsWith('TEMPORAL_')) vars[name] = value;
    else if (name.startsWith(GRPC_META_PREFIX) || value.trim() !== '') vars[name] = value.trim();
  }
  const setAs = new Map<string, string>();
  for (const [alias, standard] of TLS_PATH_ALIASES) {
    const aliased = vars[alias];
    delete vars[alias];
    if (vars[standard] !== undefined) {
      setAs.set(standard, standard);
      if (aliased !== undefined && path.resolve(aliased) !== path.resolve(vars[standard])) {
        throw new ConfigError(
          `${alias} (${aliased}) and ${standard} (${vars[standard]}) name different files: ${alias} is Quell's ` +
            `older name for ${standard}; set only one.`,
        );
      }
    } else if (aliased !== undefined) {
      vars[standard] = aliased;
      setAs.set(standard, alias);
    }
  }
  if (tls === undefined) delete vars.TEMPORAL_TLS;
  else vars.TEMPORAL_TLS = String(tls);
  if (vars.TEMPORAL_CONFIG_FILE !== undefined)
    vars.TEMPORAL_CONFIG_FILE = path.resolve(vars.TEMPORAL_CONFIG_FILE);
  return { vars, setAs };
}

function loadError(err: unknown, vars: Record<string, string>, sources: Sources): ConfigError {
  const message = err instanceof Error ? err.message : String(err);
  if (/^Profile '.*' not found/.test(message)) {
    let names: string[] = [];
    try {
      names = Object.keys(loadClientConfig({ overrideEnvVars: vars }).profiles);
    } catch {
      // The file parsed a moment ago; if it no longer does, the message simply lists no profiles.
    }
    return new ConfigError(
      `TEMPORAL_PROFILE=${sources.profile}: no such profile in ${sources.file} ` +
        (names.length > 0 ? `(it has ${names.join(', ')}).` : '(it has none, or there is no such file).'),
    );
  }
  const firstLine = message.split('\n')[0]!.trim();
  if (firstLine.startsWith('Invalid TOML document:')) {
    const line = (err as { line?: number }).line;
    const problem = firstLine.slice('Invalid TOML document:'.length).trim();
    return new ConfigError(`${sources.file} is not valid TOML${line ? ` (line ${line})` : ''}: ${problem}`);
  }
  if (/^Cannot specify both/.test(message)) {
    return new ConfigError(`${sources.file}, profile '${sources.profile}': ${firstLine}.`);
  }
  return new ConfigError(`${sources.file} cannot be read: ${firstLine}`);
}

/** TLS as envconfig decides it (a `tls` table or TEMPORAL_TLS* variable turns it on, an API key implies it). */
function tlsSettings(profile: ClientConfigProfile, sources: Sources): TemporalTlsConfig | true | undefined {
  const t = profile.tls;
  if (!t) return profile.apiKey ? true : undefined;
  if (t.disabled) return undefined;
  const settings: TemporalTlsConfig = {};
  for (const { field, toml, variable } of PEM_FIELDS) {
    const source = t[field];
    if (!source) continue;
    const target = field === 'serverCACert' ? 'serverCaCert' : field;
    settings[target] = pemSource(source, { toml, variable }, sources);
  }
  if (Boolean(settings.clientCert) !== Boolean(settings.clientKey)) {
    throw new ConfigError(
      'A client certificate needs its key (mTLS): set TEMPORAL_TLS_CLIENT_CERT_PATH and ' +
        `TEMPORAL_TLS_CLIENT_KEY_PATH together (or tls.client_cert_* and tls.client_key_* in profile '${sources.profile}').`,
    );
  }
  if (t.serverName) settings.serverName = t.serverName;
  return Object.keys(settings).length > 0 ? settings : true;
}

function pemSource(
  source: ConfigDataSource,
  names: { toml: string; variable: string },
  sources: Sources,
): PemSource {
  if ('data' in source) {
    return { pem: typeof source.data === 'string' ? source.data : Buffer.from(source.data).toString('utf8') };
  }
  const file = path.resolve(source.path);
  let isFile = false;
  try {
    isFile = statSync(file).isFile();
  } catch {
    // reported below, naming where the path came from
  }
  if (!isFile) {
    const variable = sources.setAs.get(names.variable);
    const where = variable ?? `tls.${names.toml}_path of profile '${sources.profile}' in ${sources.file}`;
    throw new ConfigError(`${where}: ${file} does not exist or is not a file.`);
  }
  return { path: file };
}

/**
 * gRPC metadata names as the other Temporal SDKs make them from TEMPORAL_GRPC_META_<NAME>: lower case, every
 * "_" a "-". envconfig 1.24 replaces only the first "_" (X_SOC_TENANT becomes "x-soc_tenant"), so an empty
 * TEMPORAL_GRPC_META_X_SOC_TENANT misses the profile's x-soc-tenant it is meant to remove: done here too.
 */
function normalizeGrpcMeta(
  meta: Record<string, string>,
  vars: Record<string, string>,
): Record<string, string> {
  const name = (key: string) => key.toLowerCase().replaceAll('_', '-');
  const normalized = Object.fromEntries(Object.entries(meta).map(([k, v]) => [name(k), v]));
  for (const [variable, value] of Object.entries(vars)) {
    if (variable.startsWith(GRPC_META_PREFIX) && value === '')
      delete normalized[name(variable.slice(GRPC_META_PREFIX.length))];
  }
  return normalized;
}

function settingName(issuePath: readonly PropertyKey[], sources: Sources): string {
  const [field, key] = issuePath.map(String);
  switch (field) {
    case 'address':
      return `TEMPORAL_ADDRESS (or the address of profile '${sources.profile}')`;
    case 'namespace':
      return `TEMPORAL_NAMESPACE (or the namespace of profile '${sources.profile}')`;
    case 'apiKey':
      return `TEMPORAL_API_KEY (or the api_key of profile '${sources.profile}')`;
    case 'grpcMeta':
      return (
        `gRPC metadata "${key}" (${GRPC_META_PREFIX}${(key ?? '').toUpperCase().replaceAll('-', '_')} ` +
        `or grpc_meta of profile '${sources.profile}')`
      );
    default:
      return field ?? 'Temporal connection settings';
  }
}
