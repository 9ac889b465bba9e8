import path from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { ConfigError } from '../config';
import {
  type BuildContext,
  type ResolveContext,
  type SettingsOf,
  checkUrl,
  optionalString,
  optionalUrl,
} from './descriptor';
import { FilesystemEvidenceStore } from './evidence/filesystem';
import { allowListEntryFor, isAllowedUrl } from './http';
import { DEFAULT_INTEL_CACHE_MAX_ENTRIES, DEFAULT_INTEL_CACHE_TTL_SECONDS, IntelCache } from './intel/cache';
import { createThreatIntel } from './intel/fanout';
import type { ThreatIntel, ThreatIntelSource } from './intel/types';
import type { ChannelOf, ChannelResolveContext } from './notify/channel';
import { NotificationRouter } from './notify/router';
import {
  type AnyChannel,
  type AnyVendor,
  CAPABILITIES,
  CHANNEL_TYPES,
  type Capability,
  INTEL,
  TICKETS,
} from './registry';
import type { TicketSystem } from './tickets/types';
import type { Connectors, EdrConnector, FirewallConnector, IdentityConnector, LogSource } from './types';

export { ConfigError };

export interface ConnectorsOptions {
  /** Quell's data directory (evidence lives under `<dataDir>/evidence`). */
  dataDir: string;
  /** Where the built-in lab estate listens, e.g. `http://127.0.0.1:8090`; `QUELL_LAB_URL` overrides it. */
  labUrl: string;
  logger?: Logger;
}

/** Default notification routes with nothing configured: all to the lab's Slack-style webhook receiver. */
export const DEFAULT_LAB_ROUTES = ['soc', 'oncall', 'management', 'responders'] as const;

type Simplify<T> = { [K in keyof T]: T[K] } & {};
/** The settings of whichever vendor of a capability is selected, tagged with its key. */
type Selected<V> = { [K in keyof V & string]: Simplify<{ kind: K } & SettingsOf<V[K]>> }[keyof V & string];
type Vendors<K extends keyof typeof CAPABILITIES> = (typeof CAPABILITIES)[K]['vendors'];

/** A resolved notification channel: what the channel type named by its `type` builds. */
export type ResolvedChannel = {
  [K in keyof typeof CHANNEL_TYPES]: ChannelOf<(typeof CHANNEL_TYPES)[K]>;
}[keyof typeof CHANNEL_TYPES];

type IntelSources = typeof INTEL.sources;
/** One threat-intelligence source as resolved: its key, whether it is the lab's, and its settings. */
export type ResolvedIntelSource = {
  [K in keyof IntelSources]:
    | Simplify<{ kind: K; lab: false } & SettingsOf<IntelSources[K]>>
    | Simplify<{ kind: K; lab: true } & SettingsOf<(typeof INTEL.lab)[K]>>;
}[keyof IntelSources];

/** Threat intelligence as resolved from QUELL_INTEL and the cache variables. */
export interface ResolvedIntelConfig {
  /** `lab`, `none` or the sources named, as given (normalized). */
  selection: string;
  /** Empty for `none`. */
  sources: ResolvedIntelSource[];
  cache: { ttlSeconds: number; maxEntries: number };
}

/** The validated connector configuration: what {@link createConnectors} builds from. */
export interface ResolvedConnectorsConfig {
  labUrl: string;
  /** Whether any capability (or notification route) goes to the lab: the caller must run it at labUrl. */
  usesLab: boolean;
  timeoutMs: number;
  allowList: string[];
  edr: Selected<Vendors<'edr'>>;
  identity: Selected<Vendors<'identity'>>;
  firewall: Selected<Vendors<'firewall'>>;
  logs: Selected<Vendors<'logs'>>;
  /** The ticket system, when QUELL_TICKETS selects one (absent for `none`, the default). */
  tickets?: Exclude<Selected<typeof TICKETS.vendors>, { kind: 'none' }>;
  evidence: { kind: 'filesystem'; dataDir: string };
  routes: Record<string, ResolvedChannel[]>;
  intel: ResolvedIntelConfig;
}

// ---------------------------------------------------------------------------------------------------------
// Reading the environment
// ---------------------------------------------------------------------------------------------------------

const commonEnv = {
  QUELL_LAB_URL: optionalUrl,
  QUELL_OUTBOUND_ALLOWLIST: optionalString,
  QUELL_HTTP_TIMEOUT_MS: z.coerce.number().int().min(100).max(300_000).default(10_000),
  QUELL_NOTIFY_ROUTES: optionalString,
  QUELL_INTEL: optionalString,
  QUELL_INTEL_CACHE_TTL: z.coerce
    .number()
    .int()
    .min(0)
    .max(7 * 86_400)
    .default(DEFAULT_INTEL_CACHE_TTL_SECONDS),
  QUELL_INTEL_CACHE_SIZE: z.coerce
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .default(DEFAULT_INTEL_CACHE_MAX_ENTRIES),
};
type CommonEnv = z.output<z.ZodObject<typeof commonEnv>>;

const capabilities: Capability<unknown>[] = Object.values(CAPABILITIES);
const ticketVendors: Record<string, AnyVendor<TicketSystem | undefined>> = TICKETS.vendors;
const intelSources: Record<string, AnyVendor<ThreatIntelSource>> = INTEL.sources;
const labIntelSources: Record<string, AnyVendor<ThreatIntelSource>> = INTEL.lab;
const channelTypes: Record<string, AnyChannel> = CHANNEL_TYPES;

function selectorOf(cap: Capability<unknown>) {
  return z.enum(Object.keys(cap.vendors) as [string, ...string[]]).default('lab');
}

// One object, so that zod reports problems in this order: selectors, common variables, each vendor's.
const envSchema = z.object({
  ...Object.fromEntries(capabilities.map((cap) => [cap.selector, selectorOf(cap)])),
  [TICKETS.selector]: z.enum(Object.keys(ticketVendors) as [string, ...string[]]).default(TICKETS.default),
  ...commonEnv,
  ...Object.assign({}, ...capabilities.flatMap((cap) => Object.values(cap.vendors).map((v) => v.env))),
  ...Object.assign({}, ...Object.values(ticketVendors).map((v) => v.env)),
  ...Object.assign({}, ...Object.values(intelSources).map((v) => v.env)),
});

const [firstChannel, ...otherChannels] = Object.values(channelTypes).map((t) => t.schema);
const channelSchema = z.discriminatedUnion('type', [firstChannel!, ...otherChannels]);
type ChannelEntry = { type: string } & Record<string, unknown>;

const routesSchema = z.record(
  z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'route names are letters, digits, ".", "_" and "-"'),
  z.union([channelSchema, z.array(channelSchema).min(1)]),
);

function formatIssues(prefix: string, error: z.ZodError): string {
  return error.issues
    .map((i) => `  ${[prefix, ...i.path.map(String)].filter(Boolean).join('.')}: ${i.message}`)
    .join('\n');
}

function fail(lines: string[]): never {
  throw new ConfigError(`Invalid connector configuration in environment variables:\n${lines.join('\n')}`);
}

/** The connector environment, parsed: everything later steps use, so the environment is read only here. */
interface ConnectorsEnv {
  e: CommonEnv & Record<string, unknown>;
  /** The route entries, each route's as given (one entry or a fan-out array). */
  routes?: Record<string, ChannelEntry | ChannelEntry[]>;
  /** The values of the variables that route entries name for their secrets (trimmed; unset is undefined). */
  secrets: Map<string, string | undefined>;
}

/** Parses the environment; a malformed variable or route entry is thrown at once (the rest is not checked). */
function readEnv(env: NodeJS.ProcessEnv): ConnectorsEnv {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) fail([formatIssues('', parsed.error)]);
  const e = parsed.data as CommonEnv & Record<string, unknown>;
  const secrets = new Map<string, string | undefined>();
  if (!e.QUELL_NOTIFY_ROUTES) return { e, secrets };
  let json: unknown;
  try {
    json = JSON.parse(e.QUELL_NOTIFY_ROUTES);
  } catch {
    fail(['  QUELL_NOTIFY_ROUTES: not valid JSON']);
  }
  const r = routesSchema.safeParse(json);
  if (!r.success) fail([formatIssues('QUELL_NOTIFY_ROUTES', r.error)]);
  const routes = r.data as Record<string, ChannelEntry | ChannelEntry[]>;
  for (const entry of Object.values(routes).flat()) {
    for (const field of channelTypes[entry.type]!.secrets) {
      const name = entry[field];
      if (typeof name === 'string') secrets.set(name, env[name]?.trim());
    }
  }
  return { e, routes, secrets };
}

// ---------------------------------------------------------------------------------------------------------
// Resolution
// ---------------------------------------------------------------------------------------------------------

function vendorContext(
  e: Record<string, unknown>,
  selection: string,
  labUrl: string,
  problems: string[],
): ResolveContext<Record<string, unknown>> {
  return {
    labUrl,
    selection,
    need(name) {
      const v = e[name];
      if (typeof v !== 'string' || !v) {
        problems.push(`  ${name}: required when ${selection}`);
        return '';
      }
      return v;
    },
    checkedUrl(name, value) {
      const problem = checkUrl(value);
      if (problem) problems.push(`  ${name}: ${problem}`);
      return value;
    },
    problem(subject, message) {
      problems.push(`  ${subject}: ${message}`);
    },
  };
}

/** The routes' channels, resolved; with no routes configured, the default routes as `lab` entries. */
function resolveRoutes(
  parsed: ConnectorsEnv,
  labUrl: string,
  problems: string[],
): { routes: Record<string, ResolvedChannel[]>; usesLab: boolean } {
  const given = parsed.routes ?? Object.fromEntries(DEFAULT_LAB_ROUTES.map((r) => [r, { type: 'lab' }]));
  let usesLab = false;
  const routes: Record<string, ResolvedChannel[]> = {};
  for (const [route, value] of Object.entries(given)) {
    const list = Array.isArray(value) ? value : [value];
    routes[route] = list.map((entry, i) => {
      const where = `QUELL_NOTIFY_ROUTES.${route}${Array.isArray(value) ? `[${i}]` : ''}`;
      const ctx: ChannelResolveContext = {
        labUrl,
        route,
        secret(field, name) {
          if (!name) return '';
          const v = parsed.secrets.get(name);
          if (!v) problems.push(`  ${where}.${field}: environment variable ${name} is not set`);
          return v ?? '';
        },
        problem(message, field) {
          problems.push(`  ${where}${field ? `.${field}` : ''}: ${message}`);
        },
      };
      const type = channelTypes[entry.type]!;
      if (type.lab) usesLab = true;
      return { ...type.resolve(entry, ctx), route } as ResolvedChannel;
    });
  }
  return { routes, usesLab };
}

/**
 * Webhook targets come from configuration too, but they are arbitrary URLs: each must be on the allow-list
 * or under its channel type's `alsoAllowed` (Slack incoming webhooks: hooks.slack.com), which is then added.
 */
function checkWebhooks(routes: Record<string, ResolvedChannel[]>, allowList: string[], problems: string[]) {
  for (const [route, chans] of Object.entries(routes)) {
    chans.forEach((c, i) => {
      const hook = channelTypes[c.type]!.webhook;
      const target = hook?.url(c);
      if (!hook || !target || checkUrl(target)) return;
      const extra = hook.alsoAllowed ? [hook.alsoAllowed] : [];
      if (!isAllowedUrl(target, [...allowList, ...extra])) {
        const where = `QUELL_NOTIFY_ROUTES.${route}${chans.length > 1 ? `[${i}]` : ''}`;
        problems.push(`  ${where}: ${new URL(target).origin} is not on QUELL_OUTBOUND_ALLOWLIST`);
      } else if (hook.alsoAllowed && !isAllowedUrl(target, allowList)) {
        allowList.push(hook.alsoAllowed);
      }
    });
  }
}

/** The sources QUELL_INTEL names: `lab` (the default) every source in the lab, `none` none, else a list. */
function intelSelection(
  value: string | undefined,
  problems: string[],
): { selection: string; keys: string[]; lab: boolean } {
  const all = Object.keys(intelSources);
  const given = (value ?? 'lab').toLowerCase();
  if (given === 'lab') return { selection: 'lab', keys: all, lab: true };
  if (given === 'none') return { selection: 'none', keys: [], lab: false };
  const keys = given.split(',').map((s) => s.trim());
  const wrong = keys.filter((k) => !all.includes(k));
  if (wrong.length) {
    problems.push(
      `  QUELL_INTEL: ${wrong.map((k) => JSON.stringify(k)).join(', ')} ${wrong.length > 1 ? 'are not sources' : 'is not a source'}` +
        ` (a comma-separated list of ${all.join(', ')}; or lab, or none)`,
    );
  }
  if (new Set(keys).size < keys.length) problems.push('  QUELL_INTEL: names a source twice');
  const valid = [...new Set(keys.filter((k) => all.includes(k)))];
  return { selection: valid.join(','), keys: valid, lab: false };
}

function resolveIntel(
  e: CommonEnv & Record<string, unknown>,
  labUrl: string,
  problems: string[],
  allow: (u: string) => void,
): { intel: ResolvedIntelConfig; usesLab: boolean } {
  const { selection, keys, lab } = intelSelection(e.QUELL_INTEL, problems);
  const sources = keys.map((kind) => {
    const vendor = (lab ? labIntelSources : intelSources)[kind]!;
    const where = lab ? `${INTEL.selector}=lab` : `${INTEL.selector} includes ${kind}`;
    const settings = vendor.resolve(e, vendorContext(e, where, labUrl, problems));
    vendor.endpoints(settings).forEach(allow);
    return { kind, lab, ...settings } as ResolvedIntelSource;
  });
  return {
    intel: {
      selection,
      sources,
      cache: { ttlSeconds: e.QUELL_INTEL_CACHE_TTL, maxEntries: e.QUELL_INTEL_CACHE_SIZE },
    },
    usesLab: lab,
  };
}

/** The parsed environment with the lab at `defaultLabUrl` (unless QUELL_LAB_URL says where it is). */
function resolveAt(parsed: ConnectorsEnv, dataDir: string, defaultLabUrl: string): ResolvedConnectorsConfig {
  const { e } = parsed;
  const problems: string[] = [];
  const labUrl = (e.QUELL_LAB_URL ?? defaultLabUrl).replace(/\/+$/, '');
  if (!e.QUELL_LAB_URL) {
    const problem = checkUrl(labUrl);
    if (problem) problems.push(`  QUELL_LAB_URL (or the default lab URL ${labUrl}): ${problem}`);
  }
  let usesLab = false;
  const vendorEntries: string[] = [];
  const allow = (u: string) => {
    if (u && !checkUrl(u)) vendorEntries.push(allowListEntryFor(u));
  };
  const selected: Record<string, { kind: string }> = {};
  for (const [name, cap] of Object.entries(CAPABILITIES) as [string, Capability<unknown>][]) {
    const kind = e[cap.selector] as string;
    const vendor = cap.vendors[kind]!;
    const settings = vendor.resolve(e, vendorContext(e, `${cap.selector}=${kind}`, labUrl, problems));
    selected[name] = { kind, ...settings };
    vendor.endpoints(settings).forEach(allow);
    if (vendor.lab) usesLab = true;
  }
  const ticketKind = e[TICKETS.selector] as string;
  if (ticketKind !== TICKETS.default) {
    const vendor = ticketVendors[ticketKind]!;
    const settings = vendor.resolve(
      e,
      vendorContext(e, `${TICKETS.selector}=${ticketKind}`, labUrl, problems),
    );
    selected.tickets = { kind: ticketKind, ...settings };
    vendor.endpoints(settings).forEach(allow);
    if (vendor.lab) usesLab = true;
  }
  const { intel, usesLab: intelUsesLab } = resolveIntel(e, labUrl, problems, allow);
  usesLab ||= intelUsesLab;

  // The operator's allow-list entries, then the endpoints of the vendors and channels configured.
  const explicit = (e.QUELL_OUTBOUND_ALLOWLIST ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const entry of explicit) {
    if (entry.includes('://') && checkUrl(entry) !== undefined) {
      problems.push(`  QUELL_OUTBOUND_ALLOWLIST: ${JSON.stringify(entry)} ${checkUrl(entry)}`);
    }
  }
  const { routes, usesLab: routesUseLab } = resolveRoutes(parsed, labUrl, problems);
  for (const c of Object.values(routes).flat()) channelTypes[c.type]!.endpoints(c).forEach(allow);
  usesLab ||= routesUseLab;
  if (usesLab) vendorEntries.push(allowListEntryFor(labUrl));
  const allowList = [...new Set([...explicit, ...vendorEntries])];
  checkWebhooks(routes, allowList, problems);
  if (problems.length) fail(problems);

  return {
    labUrl,
    usesLab,
    timeoutMs: e.QUELL_HTTP_TIMEOUT_MS,
    allowList: [...new Set(allowList)],
    ...(selected as Pick<ResolvedConnectorsConfig, 'edr' | 'identity' | 'firewall' | 'logs' | 'tickets'>),
    evidence: { kind: 'filesystem', dataDir: path.resolve(dataDir) },
    routes,
    intel,
  };
}

/** The connector environment, read and checked once. */
export interface ConnectorsPlan {
  /** The configuration, with the lab at the URL given when planning (or QUELL_LAB_URL). */
  readonly config: ResolvedConnectorsConfig;
  /**
   * The same configuration with the lab at `labUrl` (unless QUELL_LAB_URL names one), for a caller that
   * started the lab itself; the environment is not read again. Thrown: {@link ConfigError} when the
   * configuration does not hold there (a webhook allowed only at the other lab address).
   */
  at(labUrl: string): ResolvedConnectorsConfig;
}

/**
 * Reads and checks the connector configuration from the environment. Secrets are read only from the
 * environment (notification routes name the variables that hold them). Thrown: {@link ConfigError} naming
 * each invalid variable.
 */
export function planConnectors(env: NodeJS.ProcessEnv, opts: ConnectorsOptions): ConnectorsPlan {
  const parsed = readEnv(env);
  return {
    config: resolveAt(parsed, opts.dataDir, opts.labUrl),
    at: (labUrl) => resolveAt(parsed, opts.dataDir, labUrl),
  };
}

/**
 * Parses and checks the connector configuration from the environment. Secrets are read only from the
 * environment (notification routes name the variables that hold them). Thrown: {@link ConfigError} naming
 * each invalid variable.
 */
export function resolveConnectorsConfig(
  env: NodeJS.ProcessEnv,
  opts: ConnectorsOptions,
): ResolvedConnectorsConfig {
  return planConnectors(env, opts).config;
}

// ---------------------------------------------------------------------------------------------------------
// Construction and description
// ---------------------------------------------------------------------------------------------------------

function vendorOf<C = unknown>(cap: Capability<C>, selected: { kind: string }): AnyVendor<C> {
  return cap.vendors[selected.kind]!;
}

function channelTypeOf(c: ResolvedChannel): AnyChannel {
  return channelTypes[c.type]!;
}

function intelVendorOf(s: ResolvedIntelSource): AnyVendor<ThreatIntelSource> {
  return (s.lab ? labIntelSources : intelSources)[s.kind]!;
}

/**
 * The configured threat-intelligence sources fanned out behind one cache (QUELL_INTEL_CACHE_TTL,
 * QUELL_INTEL_CACHE_SIZE); undefined for QUELL_INTEL=none.
 */
export function buildThreatIntel(cfg: ResolvedConnectorsConfig, ctx: BuildContext): ThreatIntel | undefined {
  const { sources, cache } = cfg.intel;
  if (!sources.length) return undefined;
  return createThreatIntel(
    sources.map((s) => intelVendorOf(s).build(s, ctx)),
    { cache: new IntelCache({ ttlMs: cache.ttlSeconds * 1000, maxEntries: cache.maxEntries }) },
  );
}

/** Builds the connectors from an already resolved configuration. */
export function buildConnectors(cfg: ResolvedConnectorsConfig, logger?: Logger): Connectors {
  const log = logger?.child({ component: 'connectors' });
  const ctx: BuildContext = { allowList: cfg.allowList, timeoutMs: cfg.timeoutMs, logger: log };
  const { edr, identity, firewall, logs } = CAPABILITIES;
  const tickets = cfg.tickets ? ticketVendors[cfg.tickets.kind]!.build(cfg.tickets, ctx) : undefined;
  const intel = buildThreatIntel(cfg, ctx);
  return {
    edr: vendorOf<EdrConnector>(edr, cfg.edr).build(cfg.edr, ctx),
    identity: vendorOf<IdentityConnector>(identity, cfg.identity).build(cfg.identity, ctx),
    firewall: vendorOf<FirewallConnector>(firewall, cfg.firewall).build(cfg.firewall, ctx),
    logs: vendorOf<LogSource>(logs, cfg.logs).build(cfg.logs, ctx),
    evidence: new FilesystemEvidenceStore({ dataDir: cfg.evidence.dataDir }),
    notifier: new NotificationRouter(
      Object.fromEntries(
        Object.entries(cfg.routes).map(([route, chans]) => [
          route,
          chans.map((c) => channelTypeOf(c).build(c, ctx)),
        ]),
      ),
      { logger: log },
    ),
    ...(tickets ? { tickets } : {}),
    ...(intel ? { intel } : {}),
  };
}

/**
 * The connectors chosen by the environment. With nothing configured every capability uses the built-in lab
 * estate at `opts.labUrl` (through the CrowdStrike, Okta, Cloudflare and Slack-webhook connectors, with the
 * lab's credentials), evidence goes to `<dataDir>/evidence`, logs come from the lab, and the notification
 * routes soc, oncall, management and responders all go to the lab's webhook receiver. The caller starts
 * the lab (see `startLabServer`). Thrown: {@link ConfigError} naming each invalid variable.
 */
export function createConnectors(env: NodeJS.ProcessEnv, opts: ConnectorsOptions): Connectors {
  return buildConnectors(resolveConnectorsConfig(env, opts), opts.logger);
}

/** One human-readable line per capability, for the start banner: vendors and origins, never secrets. */
export function describeConnectors(cfg: ResolvedConnectorsConfig): string[] {
  const line = (label: string, text: string) => `${`${label}:`.padEnd(14)}${text}`;
  const routes = Object.entries(cfg.routes)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([r, chans]) => `${r} -> ${chans.map((c) => channelTypeOf(c).describe(c)).join(' + ')}`)
    .join('; ');
  const { edr, identity, firewall, logs } = CAPABILITIES;
  return [
    line(edr.label, vendorOf<unknown>(edr, cfg.edr).describe(cfg.edr)),
    line(identity.label, vendorOf<unknown>(identity, cfg.identity).describe(cfg.identity)),
    line(firewall.label, vendorOf<unknown>(firewall, cfg.firewall).describe(cfg.firewall)),
    line(logs.label, vendorOf<unknown>(logs, cfg.logs).describe(cfg.logs)),
    line(
      'Evidence',
      `filesystem, SHA-256 content-addressed, write-once (${path.join(cfg.evidence.dataDir, 'evidence')})`,
    ),
    line('Notify', routes),
    // Only when selected: the banner of a configuration without ticket sync is unchanged.
    ...(cfg.tickets ? [line(TICKETS.label, ticketVendors[cfg.tickets.kind]!.describe(cfg.tickets))] : []),
    line(INTEL.label, describeIntel(cfg.intel)),
  ];
}

function describeIntel(intel: ResolvedIntelConfig): string {
  if (!intel.sources.length) return 'none';
  const { ttlSeconds, maxEntries } = intel.cache;
  const cache = ttlSeconds ? `cached ${ttlSeconds} s, at most ${maxEntries} findings` : 'not cached';
  return `${intel.sources.map((s) => intelVendorOf(s).describe(s)).join(' + ')}; ${cache}`;
}

/**
 * One human-readable line per capability, for the start banner. Names vendors and endpoints (origins
 * only), never secrets. Thrown: {@link ConfigError} like {@link createConnectors}.
 */
export function connectorsSummary(env: NodeJS.ProcessEnv, opts: ConnectorsOptions): string[] {
  return describeConnectors(resolveConnectorsConfig(env, opts));
}
