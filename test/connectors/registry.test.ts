import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  ConfigError,
  buildConnectors,
  describeConnectors,
  planConnectors,
  resolveConnectorsConfig,
} from '../../src/connectors/config';
import { CAPABILITIES, CHANNEL_TYPES, INTEL, TICKETS } from '../../src/connectors/registry';
import { JiraTickets } from '../../src/connectors/tickets/jira';
import { ServiceNowTickets } from '../../src/connectors/tickets/servicenow';

const opts = { dataDir: '/srv/quell-data', labUrl: 'http://127.0.0.1:8090' };

/** A working configuration of each registered vendor, its secrets set to values that must never show. */
const VENDOR_ENV: Record<string, Record<string, NodeJS.ProcessEnv>> = {
  edr: {
    lab: {},
    crowdstrike: { QUELL_CROWDSTRIKE_CLIENT_ID: 'id', QUELL_CROWDSTRIKE_CLIENT_SECRET: 'SECRET-1' },
    defender: {
      QUELL_DEFENDER_TENANT_ID: 'contoso',
      QUELL_DEFENDER_CLIENT_ID: 'app',
      QUELL_DEFENDER_CLIENT_SECRET: 'SECRET-2',
    },
  },
  identity: {
    lab: {},
    okta: { QUELL_OKTA_BASE_URL: 'https://acme.okta.com', QUELL_OKTA_API_TOKEN: 'SECRET-3' },
    graph: {
      QUELL_GRAPH_TENANT_ID: 'contoso',
      QUELL_GRAPH_CLIENT_ID: 'app',
      QUELL_GRAPH_CLIENT_SECRET: 'SECRET-4',
    },
  },
  firewall: {
    lab: {},
    cloudflare: { QUELL_CLOUDFLARE_API_TOKEN: 'SECRET-5', QUELL_CLOUDFLARE_ZONE_ID: 'zone' },
    nftables: {},
  },
  logs: { lab: {}, files: { QUELL_LOGS_DIR: '/var/log/hosts' } },
};

/** A working configuration of each ticket system. */
const TICKET_ENV: Record<string, NodeJS.ProcessEnv> = {
  none: {},
  lab: {},
  jira: {
    QUELL_JIRA_BASE_URL: 'https://acme.atlassian.net',
    QUELL_JIRA_EMAIL: 'soc-bot@acme.example',
    QUELL_JIRA_API_TOKEN: 'SECRET-11',
    QUELL_JIRA_PROJECT: 'SOC',
  },
  servicenow: {
    QUELL_SERVICENOW_INSTANCE_URL: 'https://acme.service-now.com',
    QUELL_SERVICENOW_USER: 'quell.integration',
    QUELL_SERVICENOW_PASSWORD: 'SECRET-12',
    QUELL_SERVICENOW_CLIENT_ID: 'registry-entry',
    QUELL_SERVICENOW_CLIENT_SECRET: 'SECRET-13',
  },
};

/** A working configuration of each threat-intelligence source (QUELL_INTEL=<key>). */
const INTEL_ENV: Record<string, NodeJS.ProcessEnv> = {
  virustotal: { QUELL_VIRUSTOTAL_API_KEY: 'SECRET-11' },
  abuseipdb: { QUELL_ABUSEIPDB_API_KEY: 'SECRET-12', QUELL_ABUSEIPDB_MAX_AGE_DAYS: '30' },
};

/** A working route entry of each registered channel type, naming the variables of its secrets. */
const CHANNEL_ENTRY: Record<string, Record<string, unknown>> = {
  lab: { type: 'lab' },
  'slack-webhook': { type: 'slack-webhook', urlEnv: 'HOOK' },
  slack: { type: 'slack', channel: '#soc', tokenEnv: 'TOKEN' },
  pagerduty: { type: 'pagerduty', routingKeyEnv: 'ROUTING_KEY' },
  email: {
    type: 'email',
    host: 'smtp.example.com',
    from: 'q@x.example',
    to: ['a@x.example'],
    userEnv: 'USER',
    passwordEnv: 'PASSWORD',
  },
  webhook: { type: 'webhook', url: 'https://siem.example.com/in', secretEnv: 'HMAC' },
};
const CHANNEL_SECRETS = {
  HOOK: 'https://hooks.slack.com/services/T/B/SECRET-6',
  TOKEN: 'SECRET-7',
  ROUTING_KEY: 'SECRET-8',
  USER: 'smtp-user',
  PASSWORD: 'SECRET-9',
  HMAC: 'SECRET-10',
};

describe('the vendor registry', () => {
  for (const [name, cap] of Object.entries(CAPABILITIES)) {
    for (const [kind, vendor] of Object.entries(cap.vendors)) {
      it(`${cap.selector}=${kind}: is selected, its secrets kept off the banner and the allow-list`, () => {
        const given = VENDOR_ENV[name]?.[kind];
        if (!given) throw new Error(`add a working configuration of ${cap.selector}=${kind} to VENDOR_ENV`);
        const env = { [cap.selector]: kind, ...given };
        const cfg = resolveConnectorsConfig(env, opts);
        expect((cfg as unknown as Record<string, { kind: string }>)[name]!.kind).toBe(kind);
        const shown = [...describeConnectors(cfg), ...cfg.allowList].join('\n');
        for (const secret of vendor.secrets) {
          expect(given[secret]).toBeTruthy();
          expect(shown).not.toContain(given[secret]);
        }
        expect(cfg.usesLab).toBe(true); // the other capabilities stay on the lab
      });
    }
  }

  for (const [type, channel] of Object.entries(CHANNEL_TYPES)) {
    it(`channel type ${type}: resolves from the variables it names, kept off the banner and the allow-list`, () => {
      const entry = CHANNEL_ENTRY[type];
      if (!entry) throw new Error(`add a working route entry of type ${type} to CHANNEL_ENTRY`);
      const env = {
        QUELL_NOTIFY_ROUTES: JSON.stringify({ r: entry }),
        QUELL_OUTBOUND_ALLOWLIST: 'siem.example.com',
        ...CHANNEL_SECRETS,
      };
      const cfg = resolveConnectorsConfig(env, opts);
      const shown = [...describeConnectors(cfg), ...cfg.allowList].join('\n');
      for (const field of channel.secrets) {
        const variable = entry[field] as keyof typeof CHANNEL_SECRETS;
        expect(CHANNEL_SECRETS[variable]).toBeTruthy();
        expect(shown).not.toContain(CHANNEL_SECRETS[variable]);
      }
      // Without the variables, each named secret is reported.
      const missing = (() => {
        try {
          resolveConnectorsConfig(
            { ...env, ...Object.fromEntries(Object.keys(CHANNEL_SECRETS).map((k) => [k, ''])) },
            opts,
          );
          return '';
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          return (err as Error).message;
        }
      })();
      for (const field of channel.secrets) expect(missing).toContain(`QUELL_NOTIFY_ROUTES.r.${field}: `);
    });
  }

  for (const [kind, vendor] of Object.entries(TICKETS.vendors)) {
    it(`QUELL_TICKETS=${kind}: is selected, its secrets kept off the banner and the allow-list`, () => {
      const given = TICKET_ENV[kind];
      if (!given) throw new Error(`add a working configuration of QUELL_TICKETS=${kind} to TICKET_ENV`);
      const cfg = resolveConnectorsConfig({ QUELL_TICKETS: kind, ...given }, opts);
      expect(cfg.tickets?.kind).toBe(kind === 'none' ? undefined : kind);
      const shown = [...describeConnectors(cfg), ...cfg.allowList].join('\n');
      for (const secret of vendor.secrets) {
        expect(given[secret]).toBeTruthy();
        expect(shown).not.toContain(given[secret]);
      }
    });
  }

  for (const [kind, source] of Object.entries(INTEL.sources)) {
    it(`${INTEL.selector}=${kind}: is selected alone, its secrets kept off the banner and the allow-list`, () => {
      const given = INTEL_ENV[kind];
      if (!given) throw new Error(`add a working configuration of ${INTEL.selector}=${kind} to INTEL_ENV`);
      const cfg = resolveConnectorsConfig({ [INTEL.selector]: kind, ...given }, opts);
      expect(cfg.intel.sources.map((s) => [s.kind, s.lab])).toEqual([[kind, false]]);
      const shown = [...describeConnectors(cfg), ...cfg.allowList].join('\n');
      for (const secret of source.secrets) {
        expect(given[secret]).toBeTruthy();
        expect(shown).not.toContain(given[secret]);
      }
      expect(() => resolveConnectorsConfig({ [INTEL.selector]: kind }, opts)).toThrow(
        new RegExp(`required when ${INTEL.selector} includes ${kind}`),
      );
    });
  }

  it(`${INTEL.selector}: every source in the lab by default, several at once, or none`, () => {
    const all = Object.keys(INTEL.sources);
    expect(resolveConnectorsConfig({}, opts).intel.sources.map((s) => [s.kind, s.lab])).toEqual(
      all.map((k) => [k, true]),
    );
    const env = { [INTEL.selector]: all.join(' , '), ...Object.assign({}, ...Object.values(INTEL_ENV)) };
    expect(resolveConnectorsConfig(env, opts).intel.sources.map((s) => s.kind)).toEqual(all);
    expect(resolveConnectorsConfig({ [INTEL.selector]: 'none' }, opts).intel.sources).toEqual([]);
    expect(() => resolveConnectorsConfig({ [INTEL.selector]: 'lab,virustotal' }, opts)).toThrow(
      /QUELL_INTEL: "lab" is not a source/,
    );
  });

  it('every variable a registered vendor reads is documented in src/connectors/README.md', async () => {
    const readme = await fs.readFile(path.join(__dirname, '../../src/connectors/README.md'), 'utf8');
    const variables = [
      ...Object.values(CAPABILITIES).flatMap((cap) => [
        cap.selector,
        ...Object.values(cap.vendors).flatMap((v) => Object.keys(v.env)),
      ]),
      TICKETS.selector,
      ...Object.values(TICKETS.vendors).flatMap((v) => Object.keys(v.env)),
      INTEL.selector,
      'QUELL_INTEL_CACHE_TTL',
      'QUELL_INTEL_CACHE_SIZE',
      ...Object.values(INTEL.sources).flatMap((v) => Object.keys(v.env)),
    ];
    expect(variables.filter((v) => !readme.includes(`\`${v}\``))).toEqual([]);
  });
});

describe('planConnectors', () => {
  const envs: NodeJS.ProcessEnv[] = [
    {},
    { QUELL_EDR: 'defender', ...VENDOR_ENV.edr!.defender, QUELL_NOTIFY_ROUTES: '{"soc":[{"type":"lab"}]}' },
    { QUELL_IDP: 'okta', ...VENDOR_ENV.identity!.okta, QUELL_FIREWALL: 'nftables' },
  ];

  it('at a started lab gives what resolving the environment there gives', () => {
    for (const env of envs) {
      const plan = planConnectors(env, opts);
      expect(plan.config).toEqual(resolveConnectorsConfig(env, opts));
      expect(plan.at('http://127.0.0.1:45001')).toEqual(
        resolveConnectorsConfig(env, { ...opts, labUrl: 'http://127.0.0.1:45001' }),
      );
    }
  });

  it('keeps QUELL_LAB_URL wherever the caller would put the lab', () => {
    const plan = planConnectors({ QUELL_LAB_URL: 'http://127.0.0.1:9999' }, opts);
    expect(plan.at('http://127.0.0.1:45001')).toEqual(plan.config);
    expect(plan.config.edr).toEqual({ kind: 'lab', baseUrl: 'http://127.0.0.1:9999/crowdstrike' });
  });

  it('reads the environment once: later changes to it do not reach the plan', () => {
    const env: NodeJS.ProcessEnv = {
      QUELL_EDR: 'crowdstrike',
      QUELL_CROWDSTRIKE_CLIENT_ID: 'id',
      QUELL_CROWDSTRIKE_CLIENT_SECRET: 'secret',
      QUELL_NOTIFY_ROUTES: '{"oncall":{"type":"pagerduty","routingKeyEnv":"PD_KEY"}}',
      PD_KEY: 'routing-key',
    };
    const plan = planConnectors(env, opts);
    const before = plan.at('http://127.0.0.1:45001');
    for (const k of Object.keys(env)) delete env[k];
    env.QUELL_EDR = 'sentinelone';
    expect(plan.at('http://127.0.0.1:45001')).toEqual(before);
    expect(before.routes.oncall).toEqual([
      {
        type: 'pagerduty',
        route: 'oncall',
        routingKey: 'routing-key',
        baseUrl: 'https://events.pagerduty.com',
      },
    ]);
  });

  it('refuses a lab address at which the configuration does not hold', () => {
    const plan = planConnectors(
      {
        QUELL_NOTIFY_ROUTES: JSON.stringify({
          x: { type: 'webhook', url: `${opts.labUrl}/hook`, secretEnv: 'S' },
        }),
        S: 'k',
      },
      opts,
    );
    expect(() => plan.at('http://127.0.0.1:45001')).toThrow(
      /QUELL_NOTIFY_ROUTES\.x: http:\/\/127\.0\.0\.1:8090 is not on QUELL_OUTBOUND_ALLOWLIST/,
    );
  });
});

describe('ticket sync selection', () => {
  it('is off by default: nothing built, banner and allow-list unchanged', () => {
    const cfg = resolveConnectorsConfig({}, opts);
    expect(cfg).not.toHaveProperty('tickets');
    expect(buildConnectors(cfg)).not.toHaveProperty('tickets');
    expect(describeConnectors(cfg).join('\n')).not.toContain('Tickets');
  });

  it('builds the lab Jira with QUELL_TICKETS=lab (the lab is then in use)', () => {
    const cfg = resolveConnectorsConfig({ QUELL_TICKETS: 'lab' }, opts);
    expect(cfg.tickets).toEqual({ kind: 'lab', baseUrl: `${opts.labUrl}/jira` });
    expect(buildConnectors(cfg).tickets).toBeInstanceOf(JiraTickets);
    expect(describeConnectors(cfg)).toContain(
      `Tickets:      lab estate (${opts.labUrl}/jira), Jira contract`,
    );
  });

  it('builds Jira and ServiceNow from their variables, their origins allowed', () => {
    const jira = resolveConnectorsConfig({ QUELL_TICKETS: 'jira', ...TICKET_ENV.jira }, opts);
    expect(jira.tickets).toMatchObject({
      kind: 'jira',
      project: 'SOC',
      issueType: 'Task',
      doneTransition: 'Done',
    });
    expect(jira.allowList).toContain('https://acme.atlassian.net/');
    expect(buildConnectors(jira).tickets).toBeInstanceOf(JiraTickets);
    const sn = resolveConnectorsConfig({ QUELL_TICKETS: 'servicenow', ...TICKET_ENV.servicenow }, opts);
    expect(sn.tickets).toMatchObject({
      kind: 'servicenow',
      closeState: 6,
      oauth: { clientId: 'registry-entry', clientSecret: 'SECRET-13' },
    });
    expect(sn.allowList).toContain('https://acme.service-now.com/');
    expect(buildConnectors(sn).tickets).toBeInstanceOf(ServiceNowTickets);
  });

  it('names each missing or invalid variable', () => {
    expect(() => resolveConnectorsConfig({ QUELL_TICKETS: 'jira' }, opts)).toThrow(
      /QUELL_JIRA_API_TOKEN: required when QUELL_TICKETS=jira/,
    );
    expect(() =>
      resolveConnectorsConfig(
        { QUELL_TICKETS: 'jira', ...TICKET_ENV.jira, QUELL_JIRA_PROJECT: 'soc ops' },
        opts,
      ),
    ).toThrow(/QUELL_JIRA_PROJECT: must be a Jira project key/);
    expect(() => resolveConnectorsConfig({ QUELL_TICKETS: 'zendesk' }, opts)).toThrow(/QUELL_TICKETS/);
    expect(() =>
      resolveConnectorsConfig(
        { QUELL_TICKETS: 'servicenow', ...TICKET_ENV.servicenow, QUELL_SERVICENOW_CLOSE_STATE: '3' },
        opts,
      ),
    ).toThrow(/QUELL_SERVICENOW_CLOSE_STATE/);
    const { QUELL_SERVICENOW_CLIENT_ID: _id, ...withoutClient } = TICKET_ENV.servicenow!;
    expect(() => resolveConnectorsConfig({ QUELL_TICKETS: 'servicenow', ...withoutClient }, opts)).toThrow(
      /QUELL_SERVICENOW_CLIENT_SECRET: is set without QUELL_SERVICENOW_CLIENT_ID/,
    );
  });
});
