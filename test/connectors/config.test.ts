import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ConfigError,
  connectorsSummary,
  createConnectors,
  resolveConnectorsConfig,
} from '../../src/connectors/config';
import { CrowdStrikeEdr } from '../../src/connectors/edr/crowdstrike';
import { DefenderEdr } from '../../src/connectors/edr/defender';
import { FilesystemEvidenceStore } from '../../src/connectors/evidence/filesystem';
import { CloudflareFirewall } from '../../src/connectors/firewall/cloudflare';
import { NftablesFirewall } from '../../src/connectors/firewall/nftables';
import { isAllowedUrl } from '../../src/connectors/http';
import { GraphIdentity } from '../../src/connectors/identity/graph';
import { OktaIdentity } from '../../src/connectors/identity/okta';
import { FileLogSource } from '../../src/connectors/logs/files';
import { LabLogSource } from '../../src/connectors/logs/lab';
import { actionCtx, expectConnectorError, uniqueAccount, uniqueHost, useLab } from './support';

const ctl = useLab();
let dataDir: string;
beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-conncfg-'));
});
afterAll(async () => {
  await fs.rm(dataDir, { recursive: true, force: true });
});

const opts = () => ({ dataDir, labUrl: ctl.lab.url });

function configError(env: NodeJS.ProcessEnv): string {
  try {
    resolveConnectorsConfig(env, opts());
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('connector selection from the environment', () => {
  it('defaults every capability to the lab estate, end to end', async () => {
    const c = createConnectors({}, opts());
    expect(c.edr).toBeInstanceOf(CrowdStrikeEdr);
    expect(c.identity).toBeInstanceOf(OktaIdentity);
    expect(c.firewall).toBeInstanceOf(CloudflareFirewall);
    expect(c.logs).toBeInstanceOf(LabLogSource);
    expect(c.evidence).toBeInstanceOf(FilesystemEvidenceStore);
    expect(c.notifier.routes()).toEqual(['management', 'oncall', 'responders', 'soc']);

    const host = uniqueHost();
    const account = uniqueAccount();
    const ctx = actionCtx();
    expect((await c.edr.isolateHost(host, ctx)).alreadyInState).toBe(false);
    expect((await c.identity.disableAccount(account, ctx)).alreadyInState).toBe(false);
    expect((await c.firewall.blockIp('192.0.2.77', ctx)).alreadyInState).toBe(false);
    expect((await c.firewall.blockDomain('c2.lab-test.example', ctx)).alreadyInState).toBe(false);
    expect(await c.firewall.getDomainState('c2.lab-test.example')).toBe('blocked');
    const logs = await c.logs.readHostLogs({
      host,
      from: '2026-11-28T09:00:00Z',
      to: '2026-11-28T09:05:00Z',
    });
    expect(logs.lineCount).toBe(6);
    const ev = await c.evidence.put({
      incidentId: ctx.incidentId,
      name: `logs:${host}`,
      content: logs.content,
      collectedBy: 'test',
      source: logs.source,
      subject: host,
      idempotencyKey: `${ctx.incidentId}:logs`,
    });
    expect(ev.location.startsWith(`file://${dataDir}`)).toBe(true);
    for (const route of ['soc', 'oncall', 'management', 'responders']) {
      await c.notifier.send({
        route,
        incidentId: ctx.incidentId,
        subject: 's',
        text: 't',
        severity: 'low',
        dedupKey: ctx.incidentId,
        idempotencyKey: `${ctx.incidentId}:${route}`,
      });
      expect(ctl.lab.store.messages({ kind: 'slack-webhook', channel: route }).at(-1)!.text).toContain(
        ctx.incidentId,
      );
    }
    expect(
      ctl.lab.store
        .ledger({ incidentId: ctx.incidentId })
        .map((e) => e.effect)
        .sort(),
    ).toEqual(['block', 'block', 'contain', 'disable']);
  });

  it('lets QUELL_LAB_URL override the lab location', () => {
    const cfg = resolveConnectorsConfig({ QUELL_LAB_URL: 'http://127.0.0.1:1/' }, opts());
    expect(cfg.labUrl).toBe('http://127.0.0.1:1');
    expect(cfg.edr).toEqual({ kind: 'lab', baseUrl: 'http://127.0.0.1:1/crowdstrike' });
    expect(cfg.usesLab).toBe(true);
  });

  it('selects vendors and allows their configured endpoints automatically', () => {
    const env = {
      QUELL_EDR: 'defender',
      QUELL_DEFENDER_TENANT_ID: 'contoso',
      QUELL_DEFENDER_CLIENT_ID: 'app',
      QUELL_DEFENDER_CLIENT_SECRET: 'def-secret-value',
      QUELL_IDP: 'graph',
      QUELL_GRAPH_TENANT_ID: 'contoso',
      QUELL_GRAPH_CLIENT_ID: 'app2',
      QUELL_GRAPH_CLIENT_SECRET: 'graph-secret-value',
      QUELL_FIREWALL: 'nftables',
      QUELL_NFT_NETNS: 'edge',
      QUELL_LOGS: 'files',
      QUELL_LOGS_DIR: '/var/log/hosts',
      QUELL_LOGS_PATTERNS: '*.log, *.log.1',
      QUELL_NOTIFY_ROUTES: JSON.stringify({
        oncall: { type: 'pagerduty', routingKeyEnv: 'PD_KEY' },
        soc: [{ type: 'slack', channel: '#soc', tokenEnv: 'SLACK_TOKEN' }, { type: 'lab' }],
      }),
      PD_KEY: 'pd-routing-key-value',
      SLACK_TOKEN: 'xoxb-slack-secret-value',
      QUELL_INTEL: 'virustotal,abuseipdb',
      QUELL_VIRUSTOTAL_API_KEY: 'vt-secret-value',
      QUELL_ABUSEIPDB_API_KEY: 'abuseipdb-secret-value',
    };
    const c = createConnectors(env, opts());
    expect(c.intel?.sources).toEqual(['virustotal', 'abuseipdb']);
    expect(c.edr).toBeInstanceOf(DefenderEdr);
    expect(c.identity).toBeInstanceOf(GraphIdentity);
    expect(c.firewall).toBeInstanceOf(NftablesFirewall);
    expect(c.logs).toBeInstanceOf(FileLogSource);
    expect(c.notifier.routes()).toEqual(['oncall', 'soc']);
    const cfg = resolveConnectorsConfig(env, opts());
    expect(cfg.logs).toEqual({ kind: 'files', root: '/var/log/hosts', patterns: ['*.log', '*.log.1'] });
    expect(cfg.usesLab).toBe(true); // the soc route's second channel
    expect(
      resolveConnectorsConfig(
        { ...env, QUELL_NOTIFY_ROUTES: '{"oncall":{"type":"pagerduty","routingKeyEnv":"PD_KEY"}}' },
        opts(),
      ).usesLab,
    ).toBe(false);
    for (const u of [
      'https://api.securitycenter.microsoft.com/api/machines',
      'https://login.microsoftonline.com/contoso/oauth2/v2.0/token',
      'https://graph.microsoft.com/v1.0/users/x',
      'https://slack.com/api/chat.postMessage',
      'https://events.pagerduty.com/v2/enqueue',
      'https://www.virustotal.com/api/v3/ip_addresses/192.0.2.1',
      'https://api.abuseipdb.com/api/v2/check?ipAddress=192.0.2.1',
      `${ctl.lab.url}/slack/webhook/soc`,
    ]) {
      expect([u, isAllowedUrl(u, cfg.allowList)]).toEqual([u, true]);
    }
    // Another tenant's token endpoint, and anything else, stays refused.
    expect(isAllowedUrl('https://login.microsoftonline.com/fabrikam/oauth2/v2.0/token', cfg.allowList)).toBe(
      false,
    );
    expect(isAllowedUrl('https://169.254.169.254/latest/meta-data/', cfg.allowList)).toBe(false);
    expect(isAllowedUrl('https://evil.example/', cfg.allowList)).toBe(false);

    const summary = connectorsSummary(env, opts()).join('\n');
    expect(summary).toMatch(
      /EDR: +Microsoft Defender for Endpoint \(https:\/\/api\.securitycenter\.microsoft\.com/,
    );
    expect(summary).toMatch(/Firewall: +nftables \(table inet quell in netns edge\)/);
    expect(summary).toMatch(
      /soc -> Slack #soc \(https:\/\/slack\.com\) \+ lab webhook \/slack\/webhook\/soc/,
    );
    expect(summary).toMatch(
      /Intel: +VirusTotal \(https:\/\/www\.virustotal\.com\) \+ AbuseIPDB \(https:\/\/api\.abuseipdb\.com, reports of the last 90 days\); cached 3600 s/,
    );
    for (const secret of [
      'def-secret-value',
      'graph-secret-value',
      'pd-routing-key-value',
      'xoxb-slack-secret-value',
      'vt-secret-value',
      'abuseipdb-secret-value',
    ]) {
      expect(summary).not.toContain(secret);
    }
  });

  it('summarizes the lab default in one line per capability', () => {
    const lines = connectorsSummary({}, opts());
    expect(lines.map((l) => l.split(':')[0])).toEqual([
      'EDR',
      'Identity',
      'Firewall',
      'Logs',
      'Evidence',
      'Notify',
      'Intel',
    ]);
    expect(lines[0]).toContain(`${ctl.lab.url}/crowdstrike`);
    expect(lines[5]).toBe(
      'Notify:       management -> lab webhook /slack/webhook/management; oncall -> lab webhook /slack/webhook/oncall; ' +
        'responders -> lab webhook /slack/webhook/responders; soc -> lab webhook /slack/webhook/soc',
    );
    expect(lines[6]).toBe(
      `Intel:        lab estate (${ctl.lab.url}/virustotal), VirusTotal contract + ` +
        `lab estate (${ctl.lab.url}/abuseipdb), AbuseIPDB contract; cached 3600 s, at most 10000 findings`,
    );
  });

  it('names the variable in every invalid configuration', () => {
    expect(configError({ QUELL_EDR: 'sentinelone' })).toMatch(/QUELL_EDR: /);
    expect(configError({ QUELL_EDR: 'crowdstrike', QUELL_CROWDSTRIKE_CLIENT_ID: 'id' })).toMatch(
      /QUELL_CROWDSTRIKE_CLIENT_SECRET: required when QUELL_EDR=crowdstrike/,
    );
    expect(configError({ QUELL_IDP: 'okta', QUELL_OKTA_API_TOKEN: 't' })).toMatch(
      /QUELL_OKTA_BASE_URL: required/,
    );
    expect(
      configError({
        QUELL_IDP: 'okta',
        QUELL_OKTA_BASE_URL: 'http://acme.okta.com',
        QUELL_OKTA_API_TOKEN: 't',
      }),
    ).toMatch(/QUELL_OKTA_BASE_URL: must use https/);
    expect(configError({ QUELL_FIREWALL: 'cloudflare', QUELL_CLOUDFLARE_API_TOKEN: 't' })).toMatch(
      /QUELL_CLOUDFLARE_ZONE_ID \/ QUELL_CLOUDFLARE_ACCOUNT_ID: set exactly one/,
    );
    expect(configError({ QUELL_LOGS: 'files' })).toMatch(/QUELL_LOGS_DIR: required when QUELL_LOGS=files/);
    expect(configError({ QUELL_HTTP_TIMEOUT_MS: 'fast' })).toMatch(/QUELL_HTTP_TIMEOUT_MS: /);
    expect(configError({ QUELL_NOTIFY_ROUTES: '{not json' })).toMatch(/QUELL_NOTIFY_ROUTES: not valid JSON/);
    expect(configError({ QUELL_NOTIFY_ROUTES: '{"soc":{"type":"carrier-pigeon"}}' })).toMatch(
      /QUELL_NOTIFY_ROUTES\.soc/,
    );
    expect(
      configError({ QUELL_NOTIFY_ROUTES: '{"oncall":{"type":"pagerduty","routingKeyEnv":"PD_MISSING"}}' }),
    ).toMatch(/QUELL_NOTIFY_ROUTES\.oncall\.routingKeyEnv: environment variable PD_MISSING is not set/);
    expect(
      configError({
        QUELL_NOTIFY_ROUTES: '{"x":{"type":"webhook","url":"https://siem.example/hook","secretEnv":"S"}}',
        S: 'k',
      }),
    ).toMatch(/QUELL_NOTIFY_ROUTES\.x: https:\/\/siem\.example is not on QUELL_OUTBOUND_ALLOWLIST/);
  });

  it('admits a webhook route on the allow-list, and Slack webhooks on hooks.slack.com', () => {
    const cfg = resolveConnectorsConfig(
      {
        QUELL_OUTBOUND_ALLOWLIST: 'siem.example, https://hooks.partner.example/quell/',
        QUELL_NOTIFY_ROUTES: JSON.stringify({
          siem: { type: 'webhook', url: 'https://siem.example/hook', secretEnv: 'S' },
          partner: { type: 'webhook', url: 'https://hooks.partner.example/quell/in', secretEnv: 'S' },
          soc: { type: 'slack-webhook', urlEnv: 'SOC_HOOK' },
        }),
        S: 'k',
        SOC_HOOK: 'https://hooks.slack.com/services/T1/B1/zzz',
      },
      opts(),
    );
    expect(Object.keys(cfg.routes).sort()).toEqual(['partner', 'siem', 'soc']);
    expect(isAllowedUrl('https://hooks.slack.com/services/T1/B1/zzz', cfg.allowList)).toBe(true);
    expect(isAllowedUrl('https://hooks.partner.example/other', cfg.allowList)).toBe(false);
    expect(
      connectorsSummary(
        {
          QUELL_NOTIFY_ROUTES: '{"soc":{"type":"slack-webhook","urlEnv":"H"}}',
          H: 'https://hooks.slack.com/services/T/B/SECRETHOOK',
        },
        opts(),
      ).join(),
    ).not.toContain('SECRETHOOK');
  });

  it('connectors refuse URLs that are not on the allow-list at call time', async () => {
    const c = createConnectors(
      {
        QUELL_EDR: 'crowdstrike',
        QUELL_CROWDSTRIKE_CLIENT_ID: 'id',
        QUELL_CROWDSTRIKE_CLIENT_SECRET: 's',
        QUELL_CROWDSTRIKE_BASE_URL: 'https://api.crowdstrike.com',
      },
      opts(),
    );
    // The configured vendor is allowed (this fails on the network, not the allow-list) ...
    const cfg = resolveConnectorsConfig(
      { QUELL_EDR: 'crowdstrike', QUELL_CROWDSTRIKE_CLIENT_ID: 'id', QUELL_CROWDSTRIKE_CLIENT_SECRET: 's' },
      opts(),
    );
    expect(isAllowedUrl('https://api.crowdstrike.com/oauth2/token', cfg.allowList)).toBe(true);
    // ... and a connector pointed elsewhere by hand is refused before any I/O.
    const rogue = new CrowdStrikeEdr({
      baseUrl: 'https://metadata.internal',
      clientId: 'id',
      clientSecret: 's',
      allowList: cfg.allowList,
    });
    await expectConnectorError(rogue.getHostState('ws-1'), 'permanent');
    expect(c.edr).toBeInstanceOf(CrowdStrikeEdr);
  });
});
