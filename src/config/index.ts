import net from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors';
import { resolveExternalTemporal, type ExternalTemporal } from './temporal-profile';

export { ConfigError } from './errors';
export type { ExternalTemporal, PemSource, TemporalTlsConfig } from './temporal-profile';

const port = z.coerce.number().int().min(0).max(65535);
const boolFromEnv = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off', ''])
  .transform((v) => ['1', 'true', 'yes', 'on'].includes(v));
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

/** `IP:port` or `[IPv6]:port`, split; undefined when it is not one. */
export function parseBindAddress(v: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(v);
  if (!m) return undefined;
  const host = m[1] ?? m[2]!;
  const port = Number(m[3]);
  return (m[1] ? net.isIPv6(host) : net.isIPv4(host)) && port >= 1 && port <= 65535
    ? { host, port }
    : undefined;
}

/**
 * An IP literal and a port, as the SDK's Prometheus exporter binds it (it parses a socket address: no host names,
 * and a port it picked itself could not be scraped).
 */
const bindAddress = optionalString.refine((v) => v === undefined || parseBindAddress(v) !== undefined, {
  message:
    'expected IP:port, e.g. 127.0.0.1:9464, 0.0.0.0:9464 or [::]:9464 (an IP address, not a host name)',
});

/**
 * Comma-separated browser origins (`scheme://host[:port]`, no path): exactly what a browser sends in `Origin`.
 * No `*`: these pages receive decrypted payloads.
 */
const originList = z
  .string()
  .optional()
  .transform((v, ctx) => {
    if (v === undefined || v.trim() === '') return undefined;
    const origins: string[] = [];
    for (const entry of v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      let origin: string | undefined;
      try {
        const url = new URL(entry);
        if (
          (url.protocol === 'http:' || url.protocol === 'https:') &&
          url.origin === entry.replace(/\/$/, '').toLowerCase()
        )
          origin = url.origin;
      } catch {
        // reported below
      }
      if (!origin) {
        ctx.addIssue({
          code: 'custom',
          message: `"${entry}" is not an origin like https://temporal-ui.example.com or http://localhost:8233 (scheme, host and port only)`,
        });
        return z.NEVER;
      }
      if (!origins.includes(origin)) origins.push(origin);
    }
    return origins;
  });

/** An OTLP/HTTP endpoint: an http(s) URL (a collector, Jaeger, Tempo...), as the OpenTelemetry variables take it. */
const otlpUrl = optionalString.refine(
  (v) => {
    if (v === undefined) return true;
    try {
      const url = new URL(v);
      return url.protocol === 'http:' || url.protocol === 'https:';
    } catch {
      return false;
    }
  },
  { message: 'expected an http(s) URL of an OTLP/HTTP receiver, e.g. http://otel-collector:4318' },
);

/** The samplers of the OpenTelemetry specification (OTEL_TRACES_SAMPLER). */
export const TRACE_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;
export type TraceSampler = (typeof TRACE_SAMPLERS)[number];

/** A whole number in [min, max]; empty is unset (as compose's `${VAR:-}` passes it). */
const optionalInt = (min: number, max: number) =>
  z.preprocess(
    (v) => (typeof v === 'string' && v.trim() === '' ? undefined : v),
    z.coerce.number().int().min(min).max(max).optional(),
  );

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  QUELL_DATA_DIR: z.string().min(1).default('./data'),
  QUELL_API_HOST: z.string().min(1).default('127.0.0.1'),
  QUELL_API_PORT: port.default(8080),
  QUELL_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  QUELL_TASK_QUEUE: z.string().min(1).default('quell-incidents'),
  QUELL_PLAYBOOKS_DIR: z.string().min(1).default('./playbooks'),
  /** A prebuilt workflow bundle (e.g. made at image build time); without it the worker bundles at start. */
  QUELL_WORKFLOW_BUNDLE: optionalString,
  QUELL_ACTIONS: optionalString,
  QUELL_LAB_HOST: z.string().min(1).default('127.0.0.1'),
  QUELL_LAB_PORT: port.default(8081),
  /** Temporal UI origins allowed to call the codec routes; unset: the embedded dev server's UI, if Quell runs one. */
  QUELL_CODEC_CORS_ORIGINS: originList,
  QUELL_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(10_000),
  /** How long the API waits for a worker to take a request before asking Temporal whether any worker is live. */
  QUELL_WORKER_WAIT_MS: z.coerce.number().int().min(100).max(60_000).default(5_000),
  /** Where a worker process serves the Temporal SDK's Prometheus metrics; unset, it serves none. */
  QUELL_SDK_METRICS_ADDRESS: bindAddress,
  // Worker tuning (README, "Tuning workers"); unset, the Temporal SDK's defaults.
  QUELL_WORKER_WORKFLOW_TASK_SLOTS: optionalInt(2, 1_000),
  QUELL_WORKER_ACTIVITY_SLOTS: optionalInt(1, 10_000),
  QUELL_WORKER_WORKFLOW_POLLERS: optionalInt(1, 100),
  QUELL_WORKER_ACTIVITY_POLLERS: optionalInt(1, 100),
  QUELL_WORKER_CACHED_INCIDENTS: optionalInt(0, 1_000_000),
  // An existing Temporal service (cluster, docker-compose, Temporal Cloud), read by @temporalio/envconfig from
  // these, TEMPORAL_CONFIG_FILE/TEMPORAL_PROFILE, TEMPORAL_TLS_* and TEMPORAL_GRPC_META_*. Without an address
  // from any of them, Quell embeds a dev server.
  TEMPORAL_ADDRESS: optionalString,
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TLS: boolFromEnv.optional(),
  TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: boolFromEnv.optional(),
  // Embedded dev server settings.
  TEMPORAL_CLI_PATH: optionalString,
  QUELL_TEMPORAL_IP: z.string().min(1).default('127.0.0.1'),
  QUELL_TEMPORAL_PORT: port.default(7233),
  QUELL_TEMPORAL_UI_PORT: port.default(8233),
  QUELL_TEMPORAL_HEADLESS: boolFromEnv.default(false),
  QUELL_TEMPORAL_CACHE_DIR: optionalString,
  QUELL_TEMPORAL_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('warn'),
  // Tracing, under the OpenTelemetry SDK's standard names; OTEL_EXPORTER_OTLP_HEADERS (credentials for the
  // receiver) is read by the exporter itself and never parsed or logged here.
  OTEL_SDK_DISABLED: boolFromEnv.default(false),
  OTEL_EXPORTER_OTLP_ENDPOINT: otlpUrl,
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlpUrl,
  // Quell's exporter speaks http/protobuf (the specification's default); another protocol would silently not arrive.
  OTEL_EXPORTER_OTLP_PROTOCOL: z.enum(['http/protobuf', '']).optional(),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: z.enum(['http/protobuf', '']).optional(),
  OTEL_SERVICE_NAME: optionalString,
  OTEL_TRACES_SAMPLER: z.enum([...TRACE_SAMPLERS, '']).optional(),
  OTEL_TRACES_SAMPLER_ARG: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : Number(v)))
    .refine((v) => v === undefined || (Number.isFinite(v) && v >= 0 && v <= 1), {
      message: 'expected a sampling ratio between 0 and 1, e.g. 0.25',
    }),
  // `quell temporal serve`: the PostgreSQL Temporal Server stores its data in (postgres://user:password@host:5432).
  QUELL_TEMPORAL_POSTGRES_URL: optionalString,
});

export type QuellEnv = z.infer<typeof envSchema>;

/** Where Quell finds Temporal: an existing service, or a dev server it starts itself. */
export type TemporalTarget =
  | ExternalTemporal
  | {
      kind: 'embedded';
      namespace: string;
      ip: string;
      port: number;
      uiPort: number;
      headless: boolean;
      cliPath?: string;
      cacheDir: string;
      dbFile: string;
      logLevel: 'debug' | 'info' | 'warn' | 'error';
    };

export interface QuellConfig {
  env: QuellEnv['NODE_ENV'];
  dataDir: string;
  api: {
    host: string;
    port: number;
    /** QUELL_CODEC_CORS_ORIGINS; undefined: the embedded dev server's UI origin when Quell runs it, else none. */
    codecCorsOrigins?: string[];
  };
  logLevel: QuellEnv['QUELL_LOG_LEVEL'];
  taskQueue: string;
  playbooksDir: string;
  shutdownGraceMs: number;
  /** See QUELL_WORKER_WAIT_MS. */
  workerWaitMs: number;
  /** QUELL_WORKER_*: only what is set; the rest are the SDK's defaults. */
  workerTuning: WorkerTuning;
  /** Where the built-in lab estate listens when a capability uses it (and QUELL_LAB_URL does not point elsewhere). */
  lab: { host: string; port: number };
  workflowBundlePath?: string;
  /** QUELL_ACTIONS: files of the deployment's own catalogue actions (absolute paths), beside the built-in ones. */
  actionFiles: string[];
  /** QUELL_SDK_METRICS_ADDRESS: where a process running a worker serves the SDK's `temporal_*` metrics. */
  sdkMetrics?: { bindAddress: string; host: string; port: number };
  temporal: TemporalTarget;
  /** The PostgreSQL-backed server `quell temporal serve` runs; read whether or not TEMPORAL_ADDRESS is set. */
  temporalServer: TemporalServerSettings;
  /** OpenTelemetry tracing; absent (tracing off) unless an OTLP endpoint is set and OTEL_SDK_DISABLED is not. */
  tracing?: TracingSettings;
}

/** How much one worker process takes on at once (README, "Tuning workers"). */
export interface WorkerTuning {
  /** QUELL_WORKER_WORKFLOW_TASK_SLOTS: workflow tasks in progress at once (the SDK's default: 40). */
  workflowTaskSlots?: number;
  /** QUELL_WORKER_ACTIVITY_SLOTS: activities (vendor calls) in progress at once (the SDK's default: 100). */
  activitySlots?: number;
  /** QUELL_WORKER_WORKFLOW_POLLERS: concurrent polls for workflow tasks (the SDK's default: 10). */
  workflowPollers?: number;
  /** QUELL_WORKER_ACTIVITY_POLLERS: concurrent polls for activity tasks (the SDK's default: 10). */
  activityPollers?: number;
  /** QUELL_WORKER_CACHED_INCIDENTS: incidents kept in memory between tasks (the SDK's default follows the heap). */
  cachedIncidents?: number;
}

/** Where spans go and which are kept (see src/telemetry/tracing.ts). */
export interface TracingSettings {
  /** The OTLP/HTTP traces URL: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given, else OTEL_EXPORTER_OTLP_ENDPOINT + `/v1/traces`. */
  tracesUrl: string;
  /** OTEL_SERVICE_NAME; unset, each process names itself by its role (quell, quell-api, quell-worker). */
  serviceName?: string;
  /** OTEL_TRACES_SAMPLER; unset, parentbased_always_on (the SDK's default). */
  sampler?: TraceSampler;
  /** OTEL_TRACES_SAMPLER_ARG: the ratio of the traceidratio samplers (default 1). */
  samplerRatio?: number;
}

/** Where `quell temporal serve` listens, where it keeps its files, and the PostgreSQL it stores data in. */
export interface TemporalServerSettings {
  /** QUELL_TEMPORAL_IP: the interface every server role binds to. */
  ip: string;
  /** QUELL_TEMPORAL_PORT: the frontend's gRPC port (0 picks a free one). */
  port: number;
  namespace: string;
  /** The Temporal CLI cache; the server build lives beside it (serverCacheDir). */
  cacheDir: string;
  /** `<QUELL_DATA_DIR>/temporal-server`: the server's config and log. */
  dir: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** QUELL_TEMPORAL_POSTGRES_URL as given (parsed by the command, which needs it). */
  postgresUrl?: string;
}

/** The project root: where `package.json` lives, two levels above this file in source and in `dist/`. */
export function projectRoot(): string {
  const here = __dirname;
  const up = path.resolve(here, '..', '..');
  return path.basename(up) === 'dist' ? path.resolve(up, '..') : up;
}

/** The specification's rule: the signal endpoint as is, else the base endpoint with the signal's path appended. */
function tracingSettings(e: QuellEnv): TracingSettings | undefined {
  if (e.OTEL_SDK_DISABLED) return undefined;
  const tracesUrl =
    e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
    (e.OTEL_EXPORTER_OTLP_ENDPOINT
      ? `${e.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`
      : undefined);
  if (!tracesUrl) return undefined;
  return {
    tracesUrl,
    ...(e.OTEL_SERVICE_NAME ? { serviceName: e.OTEL_SERVICE_NAME } : {}),
    ...(e.OTEL_TRACES_SAMPLER ? { sampler: e.OTEL_TRACES_SAMPLER } : {}),
    ...(e.OTEL_TRACES_SAMPLER_ARG !== undefined ? { samplerRatio: e.OTEL_TRACES_SAMPLER_ARG } : {}),
  };
}

/**
 * Thrown (as {@link ConfigError}) when more workflow tasks may run at once than incidents fit in the cache: the
 * SDK would quietly lower the slots to the cache size.
 */
function workerTuningOf(e: QuellEnv): WorkerTuning {
  const tuning: WorkerTuning = {
    ...(e.QUELL_WORKER_WORKFLOW_TASK_SLOTS !== undefined
      ? { workflowTaskSlots: e.QUELL_WORKER_WORKFLOW_TASK_SLOTS }
      : {}),
    ...(e.QUELL_WORKER_ACTIVITY_SLOTS !== undefined ? { activitySlots: e.QUELL_WORKER_ACTIVITY_SLOTS } : {}),
    ...(e.QUELL_WORKER_WORKFLOW_POLLERS !== undefined
      ? { workflowPollers: e.QUELL_WORKER_WORKFLOW_POLLERS }
      : {}),
    ...(e.QUELL_WORKER_ACTIVITY_POLLERS !== undefined
      ? { activityPollers: e.QUELL_WORKER_ACTIVITY_POLLERS }
      : {}),
    ...(e.QUELL_WORKER_CACHED_INCIDENTS !== undefined
      ? { cachedIncidents: e.QUELL_WORKER_CACHED_INCIDENTS }
      : {}),
  };
  const { cachedIncidents, workflowTaskSlots } = tuning;
  if (cachedIncidents === 1) {
    throw new ConfigError(
      'Invalid configuration in environment variables:\n  QUELL_WORKER_CACHED_INCIDENTS: must be 0 (no cache) or at least 2',
    );
  }
  if (cachedIncidents && workflowTaskSlots && workflowTaskSlots > cachedIncidents) {
    throw new ConfigError(
      `Invalid configuration in environment variables:\n  QUELL_WORKER_WORKFLOW_TASK_SLOTS: ${workflowTaskSlots} is more than QUELL_WORKER_CACHED_INCIDENTS (${cachedIncidents}); a workflow task needs its incident in the cache`,
    );
  }
  return tuning;
}

function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`).join('\n');
}

/**
 * Parses Quell's configuration from the environment, once, at start-up.
 * Thrown: {@link ConfigError} naming each invalid variable.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): QuellConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(`Invalid configuration in environment variables:\n${formatIssues(parsed.error)}`);
  }
  const e = parsed.data;
  const dataDir = path.resolve(e.QUELL_DATA_DIR);
  const cacheDir = path.resolve(
    e.QUELL_TEMPORAL_CACHE_DIR ?? path.join(projectRoot(), '.cache', 'temporal-cli'),
  );
  // An empty TEMPORAL_TLS is unset, as every other empty variable (the schema reads it as "off").
  const tls = env.TEMPORAL_TLS?.trim() ? e.TEMPORAL_TLS : undefined;
  let temporal: TemporalTarget;
  const external = resolveExternalTemporal(env, {
    ...(tls !== undefined ? { tls } : {}),
    ...(e.TEMPORAL_TLS_DISABLE_HOST_VERIFICATION !== undefined
      ? { disableHostVerification: e.TEMPORAL_TLS_DISABLE_HOST_VERIFICATION }
      : {}),
  });
  if (external) {
    temporal = external;
  } else {
    temporal = {
      kind: 'embedded',
      namespace: e.TEMPORAL_NAMESPACE,
      ip: e.QUELL_TEMPORAL_IP,
      port: e.QUELL_TEMPORAL_PORT,
      uiPort: e.QUELL_TEMPORAL_UI_PORT,
      headless: e.QUELL_TEMPORAL_HEADLESS,
      ...(e.TEMPORAL_CLI_PATH ? { cliPath: path.resolve(e.TEMPORAL_CLI_PATH) } : {}),
      cacheDir,
      dbFile: path.join(dataDir, 'temporal.sqlite'),
      logLevel: e.QUELL_TEMPORAL_LOG_LEVEL,
    };
  }
  const tracing = tracingSettings(e);
  return {
    env: e.NODE_ENV,
    dataDir,
    api: {
      host: e.QUELL_API_HOST,
      port: e.QUELL_API_PORT,
      ...(e.QUELL_CODEC_CORS_ORIGINS ? { codecCorsOrigins: e.QUELL_CODEC_CORS_ORIGINS } : {}),
    },
    logLevel: e.QUELL_LOG_LEVEL,
    taskQueue: e.QUELL_TASK_QUEUE,
    playbooksDir: path.resolve(e.QUELL_PLAYBOOKS_DIR),
    shutdownGraceMs: e.QUELL_SHUTDOWN_GRACE_MS,
    workerWaitMs: e.QUELL_WORKER_WAIT_MS,
    workerTuning: workerTuningOf(e),
    lab: { host: e.QUELL_LAB_HOST, port: e.QUELL_LAB_PORT },
    ...(e.QUELL_WORKFLOW_BUNDLE ? { workflowBundlePath: path.resolve(e.QUELL_WORKFLOW_BUNDLE) } : {}),
    actionFiles: (e.QUELL_ACTIONS ?? '')
      .split(',')
      .map((f) => f.trim())
      .filter(Boolean)
      .map((f) => path.resolve(f)),
    ...(e.QUELL_SDK_METRICS_ADDRESS
      ? {
          sdkMetrics: {
            bindAddress: e.QUELL_SDK_METRICS_ADDRESS,
            ...parseBindAddress(e.QUELL_SDK_METRICS_ADDRESS)!,
          },
        }
      : {}),
    temporal,
    ...(tracing ? { tracing } : {}),
    temporalServer: {
      ip: e.QUELL_TEMPORAL_IP,
      port: e.QUELL_TEMPORAL_PORT,
      namespace: e.TEMPORAL_NAMESPACE,
      cacheDir,
      dir: path.join(dataDir, 'temporal-server'),
      logLevel: e.QUELL_TEMPORAL_LOG_LEVEL,
      ...(e.QUELL_TEMPORAL_POSTGRES_URL ? { postgresUrl: e.QUELL_TEMPORAL_POSTGRES_URL } : {}),
    },
  };
}
