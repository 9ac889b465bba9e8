/**
 * Characterisation of the connector configuration: for a matrix of environments, the resolved
 * configuration, the banner summary, the allow-list and the connectors built from it (their constructor
 * options, as the objects hold them), and the exact message of every refusal. The snapshot was recorded
 * from the configuration code as it stood before it was split into per-vendor descriptors; any change to
 * it is a change of behaviour.
 */
import os from 'node:os';
import {
  ConfigError,
  buildConnectors,
  connectorsSummary,
  resolveConnectorsConfig,
} from '../../src/connectors/config';

const LAB = 'http://127.0.0.1:8090';
const opts = { dataDir: '/srv/quell-data', labUrl: LAB };

/** The built object graph as plain data: class names, own fields, the resolved allow-list by name. */
function shapeOf(value: unknown, allowList: readonly string[], seen = new WeakSet<object>()): unknown {
  if (value === allowList) return '<allowList>';
  if (typeof value === 'string') return value.replace(`@${os.hostname()}`, '@<hostname>');
  if (typeof value === 'function') return `[function ${value.name}]`;
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof RegExp) return `/${value.source}/${value.flags}`;
  if (seen.has(value)) return '<seen>';
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => shapeOf(v, allowList, seen));
  if (value instanceof Map) {
    return { '<Map>': [...value].map(([k, v]) => [k, shapeOf(v, allowList, seen)]) };
  }
  const out: Record<string, unknown> = {};
  const ctor = value.constructor;
  if (ctor && ctor !== Object) out['<class>'] = ctor.name;
  for (const [k, v] of Object.entries(value)) {
    // nodemailer's transport is its own machinery; the options it was made from are kept beside it.
    if (k === 'transport') continue;
    out[k] = shapeOf(v, allowList, seen);
  }
  return out;
}

function characterise(env: NodeJS.ProcessEnv, options: { dataDir: string; labUrl: string } = opts) {
  const config = resolveConnectorsConfig(env, options);
  return withoutCwd({
    config,
    summary: connectorsSummary(env, options),
    built: shapeOf(buildConnectors(config), config.allowList),
  });
}

/** Relative paths resolve against the working directory: the snapshot names it <cwd>, wherever it runs. */
function withoutCwd<T>(value: T): T {
  if (typeof value === 'string') return value.split(process.cwd()).join('<cwd>') as T;
  if (Array.isArray(value)) return value.map(withoutCwd) as T;
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutCwd(v)])) as T;
  }
  return value;
}

function refusal(env: NodeJS.ProcessEnv, options: { dataDir: string; labUrl: string } = opts): string {
  let thrown: unknown;
  try {
    resolveConnectorsConfig(env, options);
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(ConfigError);
  // The summary refuses the same environment with the same message.
  expect(() => connectorsSummary(env, options)).toThrow((thrown as Error).message);
  return (thrown as Error).message;
}

const routes = (r: unknown) => JSON.stringify(r);

const crowdstrike = {
  QUELL_EDR: 'crowdstrike',
  QUELL_CROWDSTRIKE_CLIENT_ID: 'cs-id',
  QUELL_CROWDSTRIKE_CLIENT_SECRET: 'cs-secret',
};
const defender = {
  QUELL_EDR: 'defender',
  QUELL_DEFENDER_TENANT_ID: 'contoso',
  QUELL_DEFENDER_CLIENT_ID: 'def-app',
  QUELL_DEFENDER_CLIENT_SECRET: 'def-secret',
};
const okta = {
  QUELL_IDP: 'okta',
  QUELL_OKTA_BASE_URL: 'https://acme.okta.com',
  QUELL_OKTA_API_TOKEN: 'okta-token',
};
const graph = {
  QUELL_IDP: 'graph',
  QUELL_GRAPH_TENANT_ID: 'contoso',
  QUELL_GRAPH_CLIENT_ID: 'graph-app',
  QUELL_GRAPH_CLIENT_SECRET: 'graph-secret',
};
const cloudflare = { QUELL_FIREWALL: 'cloudflare', QUELL_CLOUDFLARE_API_TOKEN: 'cf-token' };
const intel = {
  QUELL_INTEL: 'virustotal,abuseipdb',
  QUELL_VIRUSTOTAL_API_KEY: 'vt-key',
  QUELL_ABUSEIPDB_API_KEY: 'abuseipdb-key',
};
const noLabRoutes = {
  QUELL_NOTIFY_ROUTES: routes({ oncall: { type: 'pagerduty', routingKeyEnv: 'PD_KEY' } }),
  PD_KEY: 'pd-key',
};

const ACCEPTED: [string, NodeJS.ProcessEnv][] = [
  ['nothing set: the lab for everything', {}],
  ['QUELL_LAB_URL elsewhere, trailing slashes dropped', { QUELL_LAB_URL: 'http://127.0.0.1:9999//' }],
  ['blank values count as unset', { QUELL_EDR: 'lab', QUELL_LAB_URL: '   ', QUELL_NOTIFY_ROUTES: ' ' }],
  ['a custom HTTP timeout', { QUELL_HTTP_TIMEOUT_MS: '2500' }],
  ['CrowdStrike with the default region', crowdstrike],
  [
    'CrowdStrike in another region, values trimmed',
    {
      QUELL_EDR: 'crowdstrike',
      QUELL_CROWDSTRIKE_BASE_URL: ' https://api.eu-1.crowdstrike.com ',
      QUELL_CROWDSTRIKE_CLIENT_ID: '  cs-id  ',
      QUELL_CROWDSTRIKE_CLIENT_SECRET: 'cs-secret ',
    },
  ],
  ['Defender with the defaults', defender],
  [
    'Defender with its own endpoints and Selective isolation',
    {
      ...defender,
      QUELL_DEFENDER_BASE_URL: 'https://api-eu.securitycenter.microsoft.com/',
      QUELL_DEFENDER_TOKEN_URL: 'https://login.example.com/{tenant}/token',
      QUELL_DEFENDER_ISOLATION_TYPE: 'Selective',
    },
  ],
  ['Okta', okta],
  ['Graph with the defaults', graph],
  [
    'Graph with its own endpoints',
    {
      ...graph,
      QUELL_GRAPH_BASE_URL: 'https://graph.microsoft.us',
      QUELL_GRAPH_TOKEN_URL: 'https://login.microsoftonline.us/{tenant}/oauth2/v2.0/token',
    },
  ],
  ['Cloudflare by zone, no Gateway account', { ...cloudflare, QUELL_CLOUDFLARE_ZONE_ID: 'zone-1' }],
  [
    'Cloudflare by account (the Gateway account too)',
    { ...cloudflare, QUELL_CLOUDFLARE_ACCOUNT_ID: 'acct-1' },
  ],
  [
    'Cloudflare by zone with a Gateway account and its own base URL',
    {
      ...cloudflare,
      QUELL_CLOUDFLARE_ZONE_ID: 'zone-1',
      QUELL_CLOUDFLARE_GATEWAY_ACCOUNT_ID: 'gw-1',
      QUELL_CLOUDFLARE_BASE_URL: 'https://cf.example.com/api',
    },
  ],
  ['nftables with the defaults', { QUELL_FIREWALL: 'nftables' }],
  [
    'nftables in a namespace with its own table and binary',
    {
      QUELL_FIREWALL: 'nftables',
      QUELL_NFT_PATH: '/usr/sbin/nft',
      QUELL_NFT_NETNS: 'edge-1',
      QUELL_NFT_TABLE: 'quell_ir',
    },
  ],
  [
    'log files with the default pattern (relative root resolved)',
    { QUELL_LOGS: 'files', QUELL_LOGS_DIR: 'var/hosts' },
  ],
  [
    'log files with patterns',
    { QUELL_LOGS: 'files', QUELL_LOGS_DIR: '/var/log/hosts', QUELL_LOGS_PATTERNS: '*.log, ,auth.log.1,' },
  ],
  [
    'log files with only blank patterns',
    { QUELL_LOGS: 'files', QUELL_LOGS_DIR: '/var/log/hosts', QUELL_LOGS_PATTERNS: ' , ' },
  ],
  [
    'every vendor at once, no lab anywhere',
    {
      ...crowdstrike,
      ...okta,
      ...cloudflare,
      QUELL_CLOUDFLARE_ACCOUNT_ID: 'acct-1',
      QUELL_LOGS: 'files',
      QUELL_LOGS_DIR: '/logs',
      ...noLabRoutes,
      ...intel,
    },
  ],
  [
    'an explicit allow-list, duplicates of vendor entries kept once',
    {
      ...okta,
      QUELL_OUTBOUND_ALLOWLIST:
        ' siem.example.com, *.okta.com,https://acme.okta.com/ ,https://acme.okta.com/,127.0.0.1:8443 ',
    },
  ],
  [
    'every channel type, fan-out, secrets from named variables',
    {
      QUELL_OUTBOUND_ALLOWLIST: 'siem.example.com, https://hooks.partner.example/quell/',
      QUELL_NOTIFY_ROUTES: routes({
        soc: [
          { type: 'slack', channel: '#soc', tokenEnv: 'SLACK_TOKEN' },
          { type: 'lab' },
          { type: 'lab', name: 'soc-copy' },
        ],
        oncall: {
          type: 'pagerduty',
          routingKeyEnv: 'PD_KEY',
          component: 'quell',
          baseUrl: 'https://events.eu.pagerduty.com',
        },
        management: {
          type: 'email',
          host: 'smtp.example.com',
          port: 587,
          userEnv: 'SMTP_USER',
          passwordEnv: 'SMTP_PASSWORD',
          from: 'quell@example.com',
          to: ['ciso@example.com', 'cio@example.com'],
        },
        auditors: {
          type: 'email',
          host: 'mail.example.com',
          secure: true,
          requireTLS: false,
          rejectUnauthorized: false,
          from: 'q@example.com',
          to: ['a@example.com'],
        },
        responders: { type: 'slack-webhook', urlEnv: 'SLACK_HOOK' },
        partner: { type: 'slack-webhook', url: 'https://hooks.partner.example/quell/in' },
        siem: { type: 'webhook', url: 'https://siem.example.com/quell', secretEnv: 'SIEM_SECRET' },
      }),
      SLACK_TOKEN: ' xoxb-token ',
      PD_KEY: 'pd-key',
      SMTP_USER: 'smtp-user',
      SMTP_PASSWORD: 'smtp-password',
      SLACK_HOOK: 'https://hooks.slack.com/services/T1/B1/zzz',
      SIEM_SECRET: 'siem-secret',
    },
  ],
  [
    'Slack Web API on its own base URL, no lab: only the vendors are allowed',
    {
      QUELL_NOTIFY_ROUTES: routes({
        soc: [{ type: 'slack', channel: 'C0123', tokenEnv: 'T', baseUrl: 'https://slack.example.com/api/' }],
      }),
      T: 'tok',
      QUELL_INTEL: 'none',
    },
  ],
  [
    'a generic webhook to the lab itself is allowed while anything uses the lab',
    { QUELL_NOTIFY_ROUTES: routes({ x: { type: 'webhook', url: `${LAB}/hook`, secretEnv: 'S' } }), S: 'k' },
  ],
  ['threat intelligence off', { QUELL_INTEL: ' None ' }],
  [
    'VirusTotal alone on its own base URL, not cached',
    {
      QUELL_INTEL: 'virustotal',
      QUELL_VIRUSTOTAL_API_KEY: ' vt-key ',
      QUELL_VIRUSTOTAL_BASE_URL: 'https://vt.example.com/',
      QUELL_INTEL_CACHE_TTL: '0',
    },
  ],
  [
    'both intelligence sources, AbuseIPDB over 30 days, a small cache',
    {
      ...intel,
      QUELL_INTEL: ' abuseipdb , virustotal',
      QUELL_ABUSEIPDB_MAX_AGE_DAYS: '30',
      QUELL_INTEL_CACHE_SIZE: '100',
    },
  ],
];

describe('connector configuration, as it stands (characterisation)', () => {
  it.each(ACCEPTED)('%s', (_name, env) => {
    expect(characterise(env)).toMatchSnapshot();
  });

  it('evidence lives under the data directory as given, resolved', () => {
    expect(
      characterise({}, { dataDir: 'relative/data', labUrl: 'http://localhost:8081/' }).config.evidence,
    ).toEqual({
      kind: 'filesystem',
      dataDir: '<cwd>/relative/data', // resolved against the working directory
    });
    expect(characterise({}, { dataDir: 'relative/data', labUrl: 'http://[::1]:8081/' }).config.labUrl).toBe(
      'http://[::1]:8081',
    );
  });

  const head = 'Invalid connector configuration in environment variables:\n';
  const REFUSED: [string, NodeJS.ProcessEnv, string][] = [
    [
      'an unknown EDR',
      { QUELL_EDR: 'sentinelone' },
      '  QUELL_EDR: Invalid option: expected one of "lab"|"crowdstrike"|"defender"',
    ],
    [
      'several malformed variables, in schema order, selected or not',
      {
        QUELL_OKTA_BASE_URL: 'ftp://okta.example',
        QUELL_DEFENDER_ISOLATION_TYPE: 'Partial',
        QUELL_HTTP_TIMEOUT_MS: '50',
        QUELL_LOGS: 'syslog',
        QUELL_IDP: 'ldap',
        QUELL_LAB_URL: 'http://10.1.2.3:8090',
        QUELL_CLOUDFLARE_BASE_URL: 'https://user:pw@cf.example.com',
        QUELL_GRAPH_BASE_URL: 'graph',
      },
      [
        '  QUELL_IDP: Invalid option: expected one of "lab"|"okta"|"graph"',
        '  QUELL_LOGS: Invalid option: expected one of "lab"|"files"',
        '  QUELL_LAB_URL: must use https (http is allowed for loopback only)',
        '  QUELL_HTTP_TIMEOUT_MS: Too small: expected number to be >=100',
        '  QUELL_DEFENDER_ISOLATION_TYPE: Invalid option: expected one of "Full"|"Selective"',
        '  QUELL_OKTA_BASE_URL: must be an http(s) URL',
        '  QUELL_GRAPH_BASE_URL: must be an absolute URL',
        '  QUELL_CLOUDFLARE_BASE_URL: must not contain credentials',
      ].join('\n'),
    ],
    [
      'a timeout that is no number',
      { QUELL_HTTP_TIMEOUT_MS: 'fast' },
      '  QUELL_HTTP_TIMEOUT_MS: Invalid input: expected number, received NaN',
    ],
    [
      'a timeout that is too long',
      { QUELL_HTTP_TIMEOUT_MS: '300001' },
      '  QUELL_HTTP_TIMEOUT_MS: Too big: expected number to be <=300000',
    ],
    [
      'CrowdStrike without credentials',
      { QUELL_EDR: 'crowdstrike' },
      '  QUELL_CROWDSTRIKE_CLIENT_ID: required when QUELL_EDR=crowdstrike\n  QUELL_CROWDSTRIKE_CLIENT_SECRET: required when QUELL_EDR=crowdstrike',
    ],
    [
      'Defender without anything, and a token URL in clear text',
      { QUELL_EDR: 'defender', QUELL_DEFENDER_TOKEN_URL: 'http://login.example.com/{tenant}/token' },
      [
        '  QUELL_DEFENDER_TENANT_ID: required when QUELL_EDR=defender',
        '  QUELL_DEFENDER_TOKEN_URL: must use https (http is allowed for loopback only)',
        '  QUELL_DEFENDER_CLIENT_ID: required when QUELL_EDR=defender',
        '  QUELL_DEFENDER_CLIENT_SECRET: required when QUELL_EDR=defender',
      ].join('\n'),
    ],
    [
      'Okta without anything',
      { QUELL_IDP: 'okta' },
      '  QUELL_OKTA_BASE_URL: required when QUELL_IDP=okta\n  QUELL_OKTA_API_TOKEN: required when QUELL_IDP=okta',
    ],
    [
      'Okta over plain http',
      { ...okta, QUELL_OKTA_BASE_URL: 'http://acme.okta.com' },
      '  QUELL_OKTA_BASE_URL: must use https (http is allowed for loopback only)',
    ],
    [
      'Graph without anything, and a token URL that is no URL',
      { QUELL_IDP: 'graph', QUELL_GRAPH_TOKEN_URL: 'login/{tenant}' },
      [
        '  QUELL_GRAPH_TENANT_ID: required when QUELL_IDP=graph',
        '  QUELL_GRAPH_TOKEN_URL: must be an absolute URL',
        '  QUELL_GRAPH_CLIENT_ID: required when QUELL_IDP=graph',
        '  QUELL_GRAPH_CLIENT_SECRET: required when QUELL_IDP=graph',
      ].join('\n'),
    ],
    [
      'Cloudflare with neither zone nor account, and no token',
      { QUELL_FIREWALL: 'cloudflare' },
      '  QUELL_CLOUDFLARE_ZONE_ID / QUELL_CLOUDFLARE_ACCOUNT_ID: set exactly one when QUELL_FIREWALL=cloudflare\n' +
        '  QUELL_CLOUDFLARE_API_TOKEN: required when QUELL_FIREWALL=cloudflare',
    ],
    [
      'Cloudflare with both zone and account',
      { ...cloudflare, QUELL_CLOUDFLARE_ZONE_ID: 'z', QUELL_CLOUDFLARE_ACCOUNT_ID: 'a' },
      '  QUELL_CLOUDFLARE_ZONE_ID / QUELL_CLOUDFLARE_ACCOUNT_ID: set exactly one when QUELL_FIREWALL=cloudflare',
    ],
    [
      'nftables with a bad table and namespace',
      { QUELL_FIREWALL: 'nftables', QUELL_NFT_TABLE: '1quell', QUELL_NFT_NETNS: '../host' },
      '  QUELL_NFT_TABLE: must be a letter followed by letters, digits or "_" (at most 32)\n' +
        '  QUELL_NFT_NETNS: not a valid network namespace name',
    ],
    [
      'log files without a directory, with a path in a pattern',
      { QUELL_LOGS: 'files', QUELL_LOGS_PATTERNS: '*.log,../secret/*' },
      '  QUELL_LOGS_DIR: required when QUELL_LOGS=files\n  QUELL_LOGS_PATTERNS: file name patterns only (no "/")',
    ],
    [
      'allow-list URLs that are refused',
      {
        QUELL_OUTBOUND_ALLOWLIST:
          'ok.example.com, http://example.com/, https://u:p@x.example/, ftp://files.example',
      },
      '  QUELL_OUTBOUND_ALLOWLIST: "http://example.com/" must use https (http is allowed for loopback only)\n' +
        '  QUELL_OUTBOUND_ALLOWLIST: "https://u:p@x.example/" must not contain credentials\n' +
        '  QUELL_OUTBOUND_ALLOWLIST: "ftp://files.example" must be an http(s) URL',
    ],
    [
      'a default lab URL that is refused, before the vendor problems',
      { QUELL_EDR: 'crowdstrike' },
      '  QUELL_LAB_URL (or the default lab URL http://10.0.0.5:8081): must use https (http is allowed for loopback only)\n' +
        '  QUELL_CROWDSTRIKE_CLIENT_ID: required when QUELL_EDR=crowdstrike\n' +
        '  QUELL_CROWDSTRIKE_CLIENT_SECRET: required when QUELL_EDR=crowdstrike',
    ],
    [
      'routes that are not JSON',
      { QUELL_NOTIFY_ROUTES: '{not json' },
      '  QUELL_NOTIFY_ROUTES: not valid JSON',
    ],
    [
      'routes that are not JSON win over every other problem',
      { QUELL_EDR: 'crowdstrike', QUELL_LOGS: 'files', QUELL_NOTIFY_ROUTES: '[' },
      '  QUELL_NOTIFY_ROUTES: not valid JSON',
    ],
    [
      'an unknown channel type',
      { QUELL_NOTIFY_ROUTES: routes({ soc: { type: 'carrier-pigeon' } }) },
      '  QUELL_NOTIFY_ROUTES.soc: Invalid input',
    ],
    [
      'a route name with a space, and an unknown field',
      {
        QUELL_EDR: 'crowdstrike',
        QUELL_NOTIFY_ROUTES: routes({ 'on call': { type: 'lab' }, soc: { type: 'lab', colour: 'red' } }),
      },
      // The key's own message is not what zod reports.
      '  QUELL_NOTIFY_ROUTES.on call: Invalid key in record\n' +
        '  QUELL_NOTIFY_ROUTES.soc: Unrecognized key: "colour"',
    ],
    [
      'routes that are an array',
      { QUELL_NOTIFY_ROUTES: '[]' },
      '  QUELL_NOTIFY_ROUTES: Invalid input: expected record, received array',
    ],
    [
      'an empty fan-out',
      { QUELL_NOTIFY_ROUTES: routes({ soc: [] }) },
      '  QUELL_NOTIFY_ROUTES.soc: Too small: expected array to have >=1 items',
    ],
    [
      'a channel field of the wrong type',
      {
        QUELL_NOTIFY_ROUTES: routes({
          m: { type: 'email', host: 'h', from: 'q@x', to: ['a@x'], port: 70000, tokenEnv: 'x' },
        }),
      },
      '  QUELL_NOTIFY_ROUTES.m.port: Too big: expected number to be <=65535\n  QUELL_NOTIFY_ROUTES.m: Unrecognized key: "tokenEnv"',
    ],
    [
      'an environment variable name that is none',
      { QUELL_NOTIFY_ROUTES: routes({ s: { type: 'slack', channel: '#s', tokenEnv: 'MY-TOKEN' } }) },
      '  QUELL_NOTIFY_ROUTES.s.tokenEnv: must be an environment variable name',
    ],
    [
      'secrets named but not set, after the vendor problems',
      {
        QUELL_IDP: 'okta',
        QUELL_OKTA_BASE_URL: 'https://acme.okta.com',
        QUELL_NOTIFY_ROUTES: routes({
          oncall: { type: 'pagerduty', routingKeyEnv: 'PD_MISSING' },
          soc: [
            { type: 'slack', channel: '#soc', tokenEnv: 'SLACK_MISSING' },
            { type: 'slack-webhook', urlEnv: 'HOOK_MISSING' },
          ],
          mail: {
            type: 'email',
            host: 'h',
            from: 'q@x',
            to: ['a@x'],
            userEnv: 'U_MISSING',
            passwordEnv: 'P_MISSING',
          },
          siem: { type: 'webhook', url: 'https://siem.example/hook', secretEnv: 'S_MISSING' },
        }),
        S_BLANK: '  ',
      },
      [
        '  QUELL_OKTA_API_TOKEN: required when QUELL_IDP=okta',
        '  QUELL_NOTIFY_ROUTES.oncall.routingKeyEnv: environment variable PD_MISSING is not set',
        '  QUELL_NOTIFY_ROUTES.soc[0].tokenEnv: environment variable SLACK_MISSING is not set',
        '  QUELL_NOTIFY_ROUTES.soc[1].urlEnv: environment variable HOOK_MISSING is not set',
        '  QUELL_NOTIFY_ROUTES.mail.userEnv: environment variable U_MISSING is not set',
        '  QUELL_NOTIFY_ROUTES.mail.passwordEnv: environment variable P_MISSING is not set',
        '  QUELL_NOTIFY_ROUTES.siem.secretEnv: environment variable S_MISSING is not set',
        '  QUELL_NOTIFY_ROUTES.siem: https://siem.example is not on QUELL_OUTBOUND_ALLOWLIST',
      ].join('\n'),
    ],
    [
      'entries of one-entry fan-outs: indexed when resolved, not when checked against the allow-list',
      {
        QUELL_NOTIFY_ROUTES: routes({
          soc: [{ type: 'slack', channel: '#soc', tokenEnv: 'SLACK_MISSING' }],
          siem: [{ type: 'webhook', url: 'https://siem.example/hook', secretEnv: 'S' }],
        }),
        S: 'k',
      },
      '  QUELL_NOTIFY_ROUTES.soc[0].tokenEnv: environment variable SLACK_MISSING is not set\n' +
        '  QUELL_NOTIFY_ROUTES.siem: https://siem.example is not on QUELL_OUTBOUND_ALLOWLIST',
    ],
    [
      'a secret that is blank',
      {
        QUELL_NOTIFY_ROUTES: routes({
          siem: { type: 'webhook', url: 'https://siem.example/hook', secretEnv: 'S' },
        }),
        S: ' ',
        QUELL_OUTBOUND_ALLOWLIST: 'siem.example',
      },
      '  QUELL_NOTIFY_ROUTES.siem.secretEnv: environment variable S is not set',
    ],
    [
      'Slack webhooks with both or neither of url and urlEnv',
      {
        QUELL_NOTIFY_ROUTES: routes({
          a: { type: 'slack-webhook' },
          b: [{ type: 'lab' }, { type: 'slack-webhook', url: 'https://hooks.slack.com/x', urlEnv: 'H' }],
        }),
      },
      '  QUELL_NOTIFY_ROUTES.a: set exactly one of url and urlEnv\n  QUELL_NOTIFY_ROUTES.b[1]: set exactly one of url and urlEnv',
    ],
    [
      'an inline Slack webhook URL in clear text, refused by the schema before any variable is read',
      {
        QUELL_NOTIFY_ROUTES: routes({
          a: { type: 'slack-webhook', url: 'http://hooks.slack.com/x' },
          b: { type: 'slack-webhook', urlEnv: 'H' },
        }),
        H: 'not a url',
      },
      '  QUELL_NOTIFY_ROUTES.a.url: must use https (http is allowed for loopback only)',
    ],
    [
      'a Slack webhook URL from a variable that is no URL',
      { QUELL_NOTIFY_ROUTES: routes({ b: { type: 'slack-webhook', urlEnv: 'H' } }), H: 'not a url' },
      '  QUELL_NOTIFY_ROUTES.b.urlEnv: must be an absolute URL',
    ],
    [
      'a Slack webhook elsewhere than hooks.slack.com and not on the allow-list',
      {
        QUELL_NOTIFY_ROUTES: routes({
          soc: [{ type: 'lab' }, { type: 'slack-webhook', url: 'https://chat.example.com/hook' }],
        }),
      },
      '  QUELL_NOTIFY_ROUTES.soc[1]: https://chat.example.com is not on QUELL_OUTBOUND_ALLOWLIST',
    ],
    [
      'e-mail with a user and no password',
      {
        QUELL_NOTIFY_ROUTES: routes({
          m: { type: 'email', host: 'h', from: 'q@x', to: ['a@x'], userEnv: 'U' },
        }),
        U: 'user',
      },
      '  QUELL_NOTIFY_ROUTES.m: set both userEnv and passwordEnv, or neither',
    ],
    [
      'a webhook to the lab address when nothing uses the lab',
      {
        ...crowdstrike,
        ...okta,
        QUELL_FIREWALL: 'nftables',
        QUELL_LOGS: 'files',
        QUELL_LOGS_DIR: '/logs',
        QUELL_NOTIFY_ROUTES: routes({ x: { type: 'webhook', url: `${LAB}/hook`, secretEnv: 'S' } }),
        S: 'k',
        QUELL_INTEL: 'none',
      },
      '  QUELL_NOTIFY_ROUTES.x: http://127.0.0.1:8090 is not on QUELL_OUTBOUND_ALLOWLIST',
    ],
    [
      'intelligence sources that are none, named twice, or mixed with lab',
      { QUELL_INTEL: 'virustotal,greynoise,lab,virustotal', QUELL_VIRUSTOTAL_API_KEY: 'k' },
      '  QUELL_INTEL: "greynoise", "lab" are not sources (a comma-separated list of virustotal, abuseipdb; or lab, or none)\n' +
        '  QUELL_INTEL: names a source twice',
    ],
    [
      'intelligence sources without their keys',
      { QUELL_INTEL: 'virustotal,abuseipdb' },
      '  QUELL_VIRUSTOTAL_API_KEY: required when QUELL_INTEL includes virustotal\n' +
        '  QUELL_ABUSEIPDB_API_KEY: required when QUELL_INTEL includes abuseipdb',
    ],
    [
      'malformed intelligence variables, selected or not',
      {
        QUELL_INTEL_CACHE_TTL: '-1',
        QUELL_ABUSEIPDB_MAX_AGE_DAYS: '366',
        QUELL_VIRUSTOTAL_BASE_URL: 'http://vt.example.com',
      },
      [
        '  QUELL_INTEL_CACHE_TTL: Too small: expected number to be >=0',
        '  QUELL_VIRUSTOTAL_BASE_URL: must use https (http is allowed for loopback only)',
        '  QUELL_ABUSEIPDB_MAX_AGE_DAYS: Too big: expected number to be <=365',
      ].join('\n'),
    ],
  ];

  it.each(REFUSED)('refuses %s', (name, env, lines) => {
    const options = name.startsWith('a default lab URL')
      ? { ...opts, labUrl: 'http://10.0.0.5:8081/' }
      : opts;
    expect(refusal(env, options)).toBe(head + lines);
  });
});
