import path from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { ConfigError } from '../config';
import { CrowdStrikeEdr } from './edr/crowdstrike';
import { DEFENDER_DEFAULT_BASE_URL, DefenderEdr } from './edr/defender';
import { azureAdTokenUrl } from './oauth';
import { FilesystemEvidenceStore } from './evidence/filesystem';
import { CLOUDFLARE_DEFAULT_BASE_URL, CloudflareFirewall } from './firewall/cloudflare';
import { NftablesFirewall } from './firewall/nftables';
import { type AllowList, allowListEntryFor, isAllowedUrl } from './http';
import { GRAPH_DEFAULT_BASE_URL, GraphIdentity } from './identity/graph';
import { OktaIdentity } from './identity/okta';
import { LAB_CREDENTIALS, LAB_PREFIXES } from './lab/credentials';
import { FileLogSource } from './logs/files';
import { LabLogSource } from './logs/lab';
import type { NotificationChannel } from './notify/channel';
import { EmailChannel } from './notify/email';
import { PAGERDUTY_DEFAULT_BASE_URL, PagerDutyChannel } from './notify/pagerduty';
import { NotificationRouter } from './notify/router';
import { SLACK_DEFAULT_BASE_URL, SlackWebApiChannel, SlackWebhookChannel } from './notify/slack';
import { SignedWebhookChannel } from './notify/webhook';
import type { Connectors } from './types';

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

// ---------------------------------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------------------------------

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** An http(s) URL; plain http only to loopback (credentials never cross a network in clear text). */
function checkUrl(v: string): string | undefined {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return 'must be an absolute URL';
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return 'must be an http(s) URL';
  if (u.protocol === 'http:' && !isLoopback(u.hostname))
    return 'must use https (http is allowed for loopback only)';
  if (u.username || u.password) return 'must not contain credentials';
  return undefined;
}

const url = z.string().superRefine((v, ctx) => {
  const problem = checkUrl(v);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
const optionalUrl = optionalString.pipe(url.optional());

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');

const envSchema = z.object({
  QUELL_EDR: z.enum(['lab', 'crowdstrike', 'defender']).default('lab'),
  QUELL_IDP: z.enum(['lab', 'okta', 'graph']).default('lab'),
  QUELL_FIREWALL: z.enum(['lab', 'cloudflare', 'nftables']).default('lab'),
  QUELL_LOGS: z.enum(['lab', 'files']).default('lab'),
  QUELL_LAB_URL: optionalUrl,
  QUELL_OUTBOUND_ALLOWLIST: optionalString,
  QUELL_HTTP_TIMEOUT_MS: z.coerce.number().int().min(100).max(300_000).default(10_000),
  QUELL_NOTIFY_ROUTES: optionalString,

  QUELL_CROWDSTRIKE_BASE_URL: optionalUrl,
  QUELL_CROWDSTRIKE_CLIENT_ID: optionalString,
  QUELL_CROWDSTRIKE_CLIENT_SECRET: optionalString,

  QUELL_DEFENDER_BASE_URL: optionalUrl,
  QUELL_DEFENDER_TOKEN_URL: optionalString,
  QUELL_DEFENDER_TENANT_ID: optionalString,
  QUELL_DEFENDER_CLIENT_ID: optionalString,
  QUELL_DEFENDER_CLIENT_SECRET: optionalString,
  QUELL_DEFENDER_ISOLATION_TYPE: z.enum(['Full', 'Selective']).default('Full'),

  QUELL_OKTA_BASE_URL: optionalUrl,
  QUELL_OKTA_API_TOKEN: optionalString,

  QUELL_GRAPH_BASE_URL: optionalUrl,
  QUELL_GRAPH_TOKEN_URL: optionalString,
  QUELL_GRAPH_TENANT_ID: optionalString,
  QUELL_GRAPH_CLIENT_ID: optionalString,
  QUELL_GRAPH_CLIENT_SECRET: optionalString,

  QUELL_CLOUDFLARE_BASE_URL: optionalUrl,
  QUELL_CLOUDFLARE_API_TOKEN: optionalString,
  QUELL_CLOUDFLARE_ZONE_ID: optionalString,
  QUELL_CLOUDFLARE_ACCOUNT_ID: optionalString,
  QUELL_CLOUDFLARE_GATEWAY_ACCOUNT_ID: optionalString,

  QUELL_NFT_PATH: optionalString,
  QUELL_NFT_NETNS: optionalString,
  QUELL_NFT_TABLE: optionalString,

  QUELL_LOGS_DIR: optionalString,
  QUELL_LOGS_PATTERNS: optionalString,
});

const channelSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('lab'),
    /** Webhook name at the lab (`/slack/webhook/<name>`); default the route name. */
    name: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/)
      .optional(),
  }),
  z.strictObject({ type: z.literal('slack-webhook'), url: url.optional(), urlEnv: envName.optional() }),
  z.strictObject({
    type: z.literal('slack'),
    channel: z.string().min(1),
    tokenEnv: envName,
    baseUrl: url.optional(),
  }),
  z.strictObject({
    type: z.literal('pagerduty'),
    routingKeyEnv: envName,
    baseUrl: url.optional(),
    component: z.string().min(1).optional(),
  }),
  z.strictObject({
    type: z.literal('email'),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).optional(),
    secure: z.boolean().optional(),
    requireTLS: z.boolean().optional(),
    userEnv: envName.optional(),
    passwordEnv: envName.optional(),
    from: z.string().min(3),
    to: z.array(z.string().min(3)).min(1),
    rejectUnauthorized: z.boolean().optional(),
  }),
  z.strictObject({ type: z.literal('webhook'), url, secretEnv: envName }),
]);
type ChannelConfig = z.infer<typeof channelSchema>;

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

// ---------------------------------------------------------------------------------------------------------
// Resolution
// ---------------------------------------------------------------------------------------------------------

type ResolvedChannel =
  | { type: 'slack-webhook'; route: string; url: string; lab: boolean }
  | { type: 'slack'; route: string; channel: string; token: string; baseUrl: string }
  | { type: 'pagerduty'; route: string; routingKey: string; baseUrl: string; component?: string }
  | ({ type: 'email'; route: string; user?: string; password?: string } & Omit<
      Extract<ChannelConfig, { type: 'email' }>,
      'type' | 'userEnv' | 'passwordEnv'
    >)
  | { type: 'webhook'; route: string; url: string; secret: string };

/** The validated connector configuration: what {@link createConnectors} builds from. */
export interface ResolvedConnectorsConfig {
  labUrl: string;
  /** Whether any capability (or notification route) goes to the lab: the caller must run it at labUrl. */
  usesLab: boolean;
  timeoutMs: number;
  allowList: string[];
  edr:
    | { kind: 'lab'; baseUrl: string }
    | { kind: 'crowdstrike'; baseUrl: string; clientId: string; clientSecret: string }
    | {
        kind: 'defender';
        baseUrl: string;
        tokenUrl: string;
        tenantId: string;
        clientId: string;
        clientSecret: string;
        isolationType: 'Full' | 'Selective';
      };
  identity:
    | { kind: 'lab'; baseUrl: string }
    | { kind: 'okta'; baseUrl: string; apiToken: string }
    | {
        kind: 'graph';
        baseUrl: string;
        tokenUrl: string;
        tenantId: string;
        clientId: string;
        clientSecret: string;
      };
  firewall:
    | { kind: 'lab'; baseUrl: string }
    | {
        kind: 'cloudflare';
        baseUrl: string;
        apiToken: string;
        zoneId?: string;
        accountId?: string;
        gatewayAccountId?: string;
      }
    | { kind: 'nftables'; nftPath?: string; netns?: string; table?: string };
  logs: { kind: 'lab'; labUrl: string } | { kind: 'files'; root: string; patterns?: string[] };
  evidence: { kind: 'filesystem'; dataDir: string };
  routes: Record<string, ResolvedChannel[]>;
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
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) fail([formatIssues('', parsed.error)]);
  const e = parsed.data;
  const problems: string[] = [];
  const need = (name: keyof typeof e, why: string): string => {
    const v = e[name];
    if (typeof v !== 'string' || !v) {
      problems.push(`  ${name}: required when ${why}`);
      return '';
    }
    return v;
  };
  const labUrl = (e.QUELL_LAB_URL ?? opts.labUrl).replace(/\/+$/, '');
  if (!e.QUELL_LAB_URL) {
    const problem = checkUrl(labUrl);
    if (problem) problems.push(`  QUELL_LAB_URL (or the default lab URL ${labUrl}): ${problem}`);
  }
  const tokenUrl = (name: 'QUELL_DEFENDER_TOKEN_URL' | 'QUELL_GRAPH_TOKEN_URL', tenant: string): string => {
    const raw = azureAdTokenUrl(tenant, e[name]);
    const problem = checkUrl(raw);
    if (problem) problems.push(`  ${name}: ${problem}`);
    return raw;
  };

  let edr: ResolvedConnectorsConfig['edr'];
  if (e.QUELL_EDR === 'crowdstrike') {
    edr = {
      kind: 'crowdstrike',
      baseUrl: e.QUELL_CROWDSTRIKE_BASE_URL ?? 'https://api.crowdstrike.com',
      clientId: need('QUELL_CROWDSTRIKE_CLIENT_ID', 'QUELL_EDR=crowdstrike'),
      clientSecret: need('QUELL_CROWDSTRIKE_CLIENT_SECRET', 'QUELL_EDR=crowdstrike'),
    };
  } else if (e.QUELL_EDR === 'defender') {
    const tenantId = need('QUELL_DEFENDER_TENANT_ID', 'QUELL_EDR=defender');
    edr = {
      kind: 'defender',
      baseUrl: e.QUELL_DEFENDER_BASE_URL ?? DEFENDER_DEFAULT_BASE_URL,
      tokenUrl: tokenUrl('QUELL_DEFENDER_TOKEN_URL', tenantId),
      tenantId,
      clientId: need('QUELL_DEFENDER_CLIENT_ID', 'QUELL_EDR=defender'),
      clientSecret: need('QUELL_DEFENDER_CLIENT_SECRET', 'QUELL_EDR=defender'),
      isolationType: e.QUELL_DEFENDER_ISOLATION_TYPE,
    };
  } else {
    edr = { kind: 'lab', baseUrl: `${labUrl}${LAB_PREFIXES.crowdstrike}` };
  }

  let identity: ResolvedConnectorsConfig['identity'];
  if (e.QUELL_IDP === 'okta') {
    identity = {
      kind: 'okta',
      baseUrl: need('QUELL_OKTA_BASE_URL', 'QUELL_IDP=okta'),
      apiToken: need('QUELL_OKTA_API_TOKEN', 'QUELL_IDP=okta'),
    };
  } else if (e.QUELL_IDP === 'graph') {
    const tenantId = need('QUELL_GRAPH_TENANT_ID', 'QUELL_IDP=graph');
    identity = {
      kind: 'graph',
      baseUrl: e.QUELL_GRAPH_BASE_URL ?? GRAPH_DEFAULT_BASE_URL,
      tokenUrl: tokenUrl('QUELL_GRAPH_TOKEN_URL', tenantId),
      tenantId,
      clientId: need('QUELL_GRAPH_CLIENT_ID', 'QUELL_IDP=graph'),
      clientSecret: need('QUELL_GRAPH_CLIENT_SECRET', 'QUELL_IDP=graph'),
    };
  } else {
    identity = { kind: 'lab', baseUrl: `${labUrl}${LAB_PREFIXES.okta}` };
  }

  let firewall: ResolvedConnectorsConfig['firewall'];
  if (e.QUELL_FIREWALL === 'cloudflare') {
    if (Boolean(e.QUELL_CLOUDFLARE_ZONE_ID) === Boolean(e.QUELL_CLOUDFLARE_ACCOUNT_ID)) {
      problems.push(
        '  QUELL_CLOUDFLARE_ZONE_ID / QUELL_CLOUDFLARE_ACCOUNT_ID: set exactly one when QUELL_FIREWALL=cloudflare',
      );
    }
    firewall = {
      kind: 'cloudflare',
      baseUrl: e.QUELL_CLOUDFLARE_BASE_URL ?? CLOUDFLARE_DEFAULT_BASE_URL,
      apiToken: need('QUELL_CLOUDFLARE_API_TOKEN', 'QUELL_FIREWALL=cloudflare'),
      ...(e.QUELL_CLOUDFLARE_ZONE_ID ? { zoneId: e.QUELL_CLOUDFLARE_ZONE_ID } : {}),
      ...(e.QUELL_CLOUDFLARE_ACCOUNT_ID ? { accountId: e.QUELL_CLOUDFLARE_ACCOUNT_ID } : {}),
      ...(e.QUELL_CLOUDFLARE_GATEWAY_ACCOUNT_ID
        ? { gatewayAccountId: e.QUELL_CLOUDFLARE_GATEWAY_ACCOUNT_ID }
        : {}),
    };
  } else if (e.QUELL_FIREWALL === 'nftables') {
    if (e.QUELL_NFT_TABLE && !/^[A-Za-z][A-Za-z0-9_]{0,31}$/.test(e.QUELL_NFT_TABLE)) {
      problems.push('  QUELL_NFT_TABLE: must be a letter followed by letters, digits or "_" (at most 32)');
    }
    if (e.QUELL_NFT_NETNS && !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(e.QUELL_NFT_NETNS)) {
      problems.push('  QUELL_NFT_NETNS: not a valid network namespace name');
    }
    firewall = {
      kind: 'nftables',
      ...(e.QUELL_NFT_PATH ? { nftPath: e.QUELL_NFT_PATH } : {}),
      ...(e.QUELL_NFT_NETNS ? { netns: e.QUELL_NFT_NETNS } : {}),
      ...(e.QUELL_NFT_TABLE ? { table: e.QUELL_NFT_TABLE } : {}),
    };
  } else {
    firewall = { kind: 'lab', baseUrl: `${labUrl}${LAB_PREFIXES.cloudflare}` };
  }

  let logs: ResolvedConnectorsConfig['logs'];
  if (e.QUELL_LOGS === 'files') {
    const root = need('QUELL_LOGS_DIR', 'QUELL_LOGS=files');
    const patterns = e.QUELL_LOGS_PATTERNS?.split(',')
      .map((p) => p.trim())
      .filter(Boolean);
    if (patterns?.some((p) => p.includes('/') || p.includes('\\'))) {
      problems.push('  QUELL_LOGS_PATTERNS: file name patterns only (no "/")');
    }
    logs = { kind: 'files', root: root ? path.resolve(root) : '', ...(patterns?.length ? { patterns } : {}) };
  } else {
    logs = { kind: 'lab', labUrl };
  }

  // Allow-list: the operator's entries, plus the vendor endpoints configured above.
  const explicit = (e.QUELL_OUTBOUND_ALLOWLIST ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const entry of explicit) {
    if (entry.includes('://') && checkUrl(entry) !== undefined) {
      problems.push(`  QUELL_OUTBOUND_ALLOWLIST: ${JSON.stringify(entry)} ${checkUrl(entry)}`);
    }
  }
  const vendorEntries: string[] = [];
  const allow = (u: string) => {
    if (u && !checkUrl(u)) vendorEntries.push(allowListEntryFor(u));
  };
  let usesLab =
    edr.kind === 'lab' || identity.kind === 'lab' || firewall.kind === 'lab' || logs.kind === 'lab';
  if (edr.kind === 'crowdstrike') allow(edr.baseUrl);
  if (edr.kind === 'defender') {
    allow(edr.baseUrl);
    allow(edr.tokenUrl);
  }
  if (identity.kind === 'okta') allow(identity.baseUrl);
  if (identity.kind === 'graph') {
    allow(identity.baseUrl);
    allow(identity.tokenUrl);
  }
  if (firewall.kind === 'cloudflare') allow(firewall.baseUrl);

  // Notification routes.
  const routes: Record<string, ResolvedChannel[]> = {};
  if (!e.QUELL_NOTIFY_ROUTES) {
    usesLab = true;
    for (const r of DEFAULT_LAB_ROUTES) {
      routes[r] = [
        { type: 'slack-webhook', route: r, url: `${labUrl}${LAB_PREFIXES.slack}/webhook/${r}`, lab: true },
      ];
    }
  } else {
    let json: unknown;
    try {
      json = JSON.parse(e.QUELL_NOTIFY_ROUTES);
    } catch {
      fail(['  QUELL_NOTIFY_ROUTES: not valid JSON']);
    }
    const r = routesSchema.safeParse(json);
    if (!r.success) fail([formatIssues('QUELL_NOTIFY_ROUTES', r.error)]);
    for (const [route, value] of Object.entries(r.data)) {
      const list = Array.isArray(value) ? value : [value];
      routes[route] = list.map((c, i): ResolvedChannel => {
        const where = `QUELL_NOTIFY_ROUTES.${route}${Array.isArray(value) ? `[${i}]` : ''}`;
        const secret = (field: string, name: string | undefined): string => {
          if (!name) return '';
          const v = env[name]?.trim();
          if (!v) problems.push(`  ${where}.${field}: environment variable ${name} is not set`);
          return v ?? '';
        };
        switch (c.type) {
          case 'lab':
            usesLab = true;
            return {
              type: 'slack-webhook',
              route,
              url: `${labUrl}${LAB_PREFIXES.slack}/webhook/${c.name ?? route}`,
              lab: true,
            };
          case 'slack-webhook': {
            if (Boolean(c.url) === Boolean(c.urlEnv)) {
              problems.push(`  ${where}: set exactly one of url and urlEnv`);
              return { type: 'slack-webhook', route, url: '', lab: false };
            }
            const hookUrl = c.url ?? secret('urlEnv', c.urlEnv);
            const problem = hookUrl ? checkUrl(hookUrl) : undefined;
            if (problem) problems.push(`  ${where}.${c.url ? 'url' : 'urlEnv'}: ${problem}`);
            return { type: 'slack-webhook', route, url: hookUrl, lab: false };
          }
          case 'slack': {
            const baseUrl = c.baseUrl ?? SLACK_DEFAULT_BASE_URL;
            allow(baseUrl);
            return {
              type: 'slack',
              route,
              channel: c.channel,
              token: secret('tokenEnv', c.tokenEnv),
              baseUrl,
            };
          }
          case 'pagerduty': {
            const baseUrl = c.baseUrl ?? PAGERDUTY_DEFAULT_BASE_URL;
            allow(baseUrl);
            return {
              type: 'pagerduty',
              route,
              routingKey: secret('routingKeyEnv', c.routingKeyEnv),
              baseUrl,
              ...(c.component ? { component: c.component } : {}),
            };
          }
          case 'email': {
            if (Boolean(c.userEnv) !== Boolean(c.passwordEnv)) {
              problems.push(`  ${where}: set both userEnv and passwordEnv, or neither`);
            }
            const { type: _t, userEnv, passwordEnv, ...rest } = c;
            return {
              type: 'email',
              route,
              ...rest,
              ...(userEnv ? { user: secret('userEnv', userEnv) } : {}),
              ...(passwordEnv ? { password: secret('passwordEnv', passwordEnv) } : {}),
            };
          }
          case 'webhook':
            return { type: 'webhook', route, url: c.url, secret: secret('secretEnv', c.secretEnv) };
        }
      });
    }
  }
  if (usesLab) vendorEntries.push(allowListEntryFor(labUrl));
  const allowList = [...new Set([...explicit, ...vendorEntries])];

  // Webhook targets come from configuration too, but they are arbitrary URLs: they must be on the
  // allow-list (Slack incoming webhooks may also use Slack's own hooks.slack.com).
  for (const [route, chans] of Object.entries(routes)) {
    chans.forEach((c, i) => {
      if ((c.type !== 'slack-webhook' && c.type !== 'webhook') || !c.url || checkUrl(c.url)) return;
      const extra = c.type === 'slack-webhook' ? ['https://hooks.slack.com/'] : [];
      if (!isAllowedUrl(c.url, [...allowList, ...extra])) {
        const where = `QUELL_NOTIFY_ROUTES.${route}${chans.length > 1 ? `[${i}]` : ''}`;
        problems.push(`  ${where}: ${new URL(c.url).origin} is not on QUELL_OUTBOUND_ALLOWLIST`);
      } else if (c.type === 'slack-webhook' && !isAllowedUrl(c.url, allowList)) {
        allowList.push('https://hooks.slack.com/');
      }
    });
  }
  if (problems.length) fail(problems);

  return {
    labUrl,
    usesLab,
    timeoutMs: e.QUELL_HTTP_TIMEOUT_MS,
    allowList: [...new Set(allowList)],
    edr,
    identity,
    firewall,
    logs,
    evidence: { kind: 'filesystem', dataDir: path.resolve(opts.dataDir) },
    routes,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Construction
// ---------------------------------------------------------------------------------------------------------

function buildChannel(
  c: ResolvedChannel,
  allowList: AllowList,
  timeoutMs: number,
  logger?: Logger,
): NotificationChannel {
  switch (c.type) {
    case 'slack-webhook':
      return new SlackWebhookChannel({
        url: c.url,
        allowList,
        timeoutMs,
        logger,
        label: c.lab ? `lab, ${c.route}` : c.route,
      });
    case 'slack':
      return new SlackWebApiChannel({
        baseUrl: c.baseUrl,
        token: c.token,
        channel: c.channel,
        allowList,
        timeoutMs,
        logger,
      });
    case 'pagerduty':
      return new PagerDutyChannel({
        baseUrl: c.baseUrl,
        routingKey: c.routingKey,
        allowList,
        timeoutMs,
        logger,
        ...(c.component ? { component: c.component } : {}),
      });
    case 'email':
      return new EmailChannel({
        host: c.host,
        port: c.port,
        secure: c.secure,
        requireTLS: c.requireTLS,
        user: c.user,
        password: c.password,
        from: c.from,
        to: c.to,
        rejectUnauthorized: c.rejectUnauthorized,
        timeoutMs,
      });
    case 'webhook':
      return new SignedWebhookChannel({ url: c.url, secret: c.secret, allowList, timeoutMs, logger });
  }
}

/** Builds the connectors from an already resolved configuration. */
export function buildConnectors(cfg: ResolvedConnectorsConfig, logger?: Logger): Connectors {
  const { allowList, timeoutMs } = cfg;
  const log = logger?.child({ component: 'connectors' });
  const lab = LAB_CREDENTIALS;
  const edr =
    cfg.edr.kind === 'defender'
      ? new DefenderEdr({ ...cfg.edr, allowList, timeoutMs, logger: log })
      : new CrowdStrikeEdr({
          baseUrl: cfg.edr.baseUrl,
          ...(cfg.edr.kind === 'crowdstrike'
            ? { clientId: cfg.edr.clientId, clientSecret: cfg.edr.clientSecret }
            : lab.crowdstrike),
          allowList,
          timeoutMs,
          logger: log,
        });
  const identity =
    cfg.identity.kind === 'graph'
      ? new GraphIdentity({ ...cfg.identity, allowList, timeoutMs, logger: log })
      : new OktaIdentity({
          baseUrl: cfg.identity.baseUrl,
          apiToken: cfg.identity.kind === 'okta' ? cfg.identity.apiToken : lab.okta.apiToken,
          allowList,
          timeoutMs,
          logger: log,
        });
  const firewall =
    cfg.firewall.kind === 'nftables'
      ? new NftablesFirewall({ ...cfg.firewall, logger: log })
      : new CloudflareFirewall(
          cfg.firewall.kind === 'cloudflare'
            ? { ...cfg.firewall, allowList, timeoutMs, logger: log }
            : {
                baseUrl: cfg.firewall.baseUrl,
                apiToken: lab.cloudflare.apiToken,
                zoneId: lab.cloudflare.zoneId,
                gatewayAccountId: lab.cloudflare.accountId,
                allowList,
                timeoutMs,
                logger: log,
              },
        );
  const logs =
    cfg.logs.kind === 'files'
      ? new FileLogSource({
          root: cfg.logs.root,
          ...(cfg.logs.patterns ? { patterns: cfg.logs.patterns } : {}),
        })
      : new LabLogSource({ labUrl: cfg.logs.labUrl, allowList, timeoutMs, logger: log });
  const evidence = new FilesystemEvidenceStore({ dataDir: cfg.evidence.dataDir });
  const notifier = new NotificationRouter(
    Object.fromEntries(
      Object.entries(cfg.routes).map(([route, chans]) => [
        route,
        chans.map((c) => buildChannel(c, allowList, timeoutMs, log)),
      ]),
    ),
    { logger: log },
  );
  return { edr, identity, firewall, logs, evidence, notifier };
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

function origin(u: string): string {
  try {
    return new URL(u).origin;
  } catch {
    return '(invalid URL)';
  }
}

function describeChannel(c: ResolvedChannel): string {
  switch (c.type) {
    case 'slack-webhook':
      return c.lab ? `lab webhook ${new URL(c.url).pathname}` : `Slack webhook (${origin(c.url)})`;
    case 'slack':
      return `Slack ${c.channel} (${origin(c.baseUrl)})`;
    case 'pagerduty':
      return `PagerDuty (${origin(c.baseUrl)})`;
    case 'email':
      return `e-mail to ${c.to.join(', ')} via ${c.host}`;
    case 'webhook':
      return `signed webhook (${origin(c.url)})`;
  }
}

/**
 * One human-readable line per capability, for the start banner. Names vendors and endpoints (origins
 * only), never secrets. Thrown: {@link ConfigError} like {@link createConnectors}.
 */
export function connectorsSummary(env: NodeJS.ProcessEnv, opts: ConnectorsOptions): string[] {
  const cfg = resolveConnectorsConfig(env, opts);
  const lab = (prefix: string) => `lab estate (${cfg.labUrl}${prefix})`;
  const edr =
    cfg.edr.kind === 'lab'
      ? `${lab(LAB_PREFIXES.crowdstrike)}, CrowdStrike contract`
      : cfg.edr.kind === 'crowdstrike'
        ? `CrowdStrike Falcon (${origin(cfg.edr.baseUrl)})`
        : `Microsoft Defender for Endpoint (${origin(cfg.edr.baseUrl)}, isolation ${cfg.edr.isolationType})`;
  const identity =
    cfg.identity.kind === 'lab'
      ? `${lab(LAB_PREFIXES.okta)}, Okta contract`
      : cfg.identity.kind === 'okta'
        ? `Okta (${origin(cfg.identity.baseUrl)})`
        : `Microsoft Graph (${origin(cfg.identity.baseUrl)})`;
  const firewall =
    cfg.firewall.kind === 'lab'
      ? `${lab(LAB_PREFIXES.cloudflare)}, Cloudflare contract (IP Access Rules; domains as Gateway DNS rules)`
      : cfg.firewall.kind === 'cloudflare'
        ? `Cloudflare IP Access Rules (${cfg.firewall.zoneId ? 'zone' : 'account'} ${cfg.firewall.zoneId ?? cfg.firewall.accountId})` +
          ((cfg.firewall.gatewayAccountId ?? cfg.firewall.accountId)
            ? `; domains as Gateway DNS rules (account ${cfg.firewall.gatewayAccountId ?? cfg.firewall.accountId})`
            : '; domains refused (no Gateway account)')
        : `nftables (table inet ${cfg.firewall.table ?? 'quell'}${cfg.firewall.netns ? ` in netns ${cfg.firewall.netns}` : ''})`;
  const logs =
    cfg.logs.kind === 'lab'
      ? `lab log source (${cfg.labUrl}/lab/logs)`
      : `files under ${cfg.logs.root}/<host>/${(cfg.logs.patterns ?? ['*.log']).join(',')}`;
  const routes = Object.entries(cfg.routes)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([r, chans]) => `${r} -> ${chans.map(describeChannel).join(' + ')}`)
    .join('; ');
  return [
    `EDR:          ${edr}`,
    `Identity:     ${identity}`,
    `Firewall:     ${firewall}`,
    `Logs:         ${logs}`,
    `Evidence:     filesystem, SHA-256 content-addressed, write-once (${path.join(cfg.evidence.dataDir, 'evidence')})`,
    `Notify:       ${routes}`,
  ];
}
