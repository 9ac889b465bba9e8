/**
 * Characterisation of the lab estate's HTTP surface: a scripted session against every route of every vendor
 * fake and of the control plane (answers, errors, every fault kind per vendor), then the persisted state
 * file and its reload. Recorded from the lab as it stood before router.ts and store.ts were split; a
 * change to the snapshot is a change of behaviour. Random values (UUIDs, tokens, rule IDs) are replaced by
 * numbered placeholders in order of first appearance, so that a value's reuse stays visible.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  LAB_CREDENTIALS,
  LAB_SEED_INDICATORS,
  LAB_VENDORS,
  type RunningLab,
  startLabServer,
} from '../../src/connectors/lab';

const T0 = Date.parse('2026-12-01T09:00:00.000Z');
let clock = T0;
let lab: RunningLab;
let dataDir: string;

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-labchar-'));
  lab = await startLabServer({ dataDir, now: () => clock, containmentDelayMs: 60_000 });
});
afterAll(async () => {
  await lab.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
});

// ------------------------------------------------------------------------------------------------ transcript

const placeholders = new Map<string, string>();
let deterministic = new Set<string>();

/** The estate's own derived IDs (device, machine, Okta and Entra IDs) stay; random values become `<r-N>`. */
function normalize(text: string): string {
  const random =
    /lab-(?:crowdstrike|defender|graph)-[A-Za-z0-9_-]{24}|oae[0-9a-f]{19}|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b|\b[0-9a-f]{32}\b/g;
  return text
    .replace(random, (v) => {
      if (deterministic.has(v)) return v;
      if (!placeholders.has(v)) placeholders.set(v, `<r-${placeholders.size + 1}>`);
      return placeholders.get(v)!;
    })
    .replace(/"(trace_id|request-id)":"[^"]*"/g, '"$1":"<random>"')
    .replace(new RegExp(lab.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'g'), '<lab>');
}

function protectEstateIds(): void {
  const s = lab.store.snapshot();
  deterministic = new Set([
    ...s.hosts.flatMap((h) => [h.deviceId, h.machineId]),
    ...s.accounts.flatMap((a) => [a.oktaId, a.objectId]),
    ...s.indicators.flatMap((i) => [i.value, ...(i.aliases ?? [])]),
  ]);
}

interface Step {
  req: string;
  status: number;
  headers: Record<string, string>;
  body: unknown;
}
let steps: Step[] = [];

async function call(
  method: string,
  url: string,
  opts: { json?: unknown; form?: Record<string, string>; headers?: Record<string, string> } = {},
): Promise<Step> {
  const headers: Record<string, string> = { ...opts.headers };
  let body: string | undefined;
  if (opts.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(opts.form).toString();
  }
  const res = await fetch(`${lab.url}${url}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // plain text answers stay text
  }
  const kept: Record<string, string> = {};
  for (const h of [
    'content-type',
    'retry-after',
    'x-rate-limit-limit',
    'x-rate-limit-remaining',
    'x-rate-limit-reset',
  ]) {
    const v = res.headers.get(h);
    if (v !== null) kept[h] = v;
  }
  const step = { req: `${method} ${url}`, status: res.status, headers: kept, body: parsed };
  steps.push(step);
  return step;
}

function transcript(): unknown {
  protectEstateIds();
  const out = JSON.parse(normalize(JSON.stringify(steps))) as unknown;
  steps = [];
  return out;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const tokenOf = (s: Step) => (s.body as { access_token: string }).access_token;

async function crowdstrikeToken(): Promise<string> {
  const { clientId, clientSecret } = LAB_CREDENTIALS.crowdstrike;
  return tokenOf(
    await call('POST', '/crowdstrike/oauth2/token', {
      form: { client_id: clientId, client_secret: clientSecret },
    }),
  );
}

async function azureToken(scope: string): Promise<string> {
  const { tenantId, clientId, clientSecret } = LAB_CREDENTIALS.azure;
  return tokenOf(
    await call('POST', `/azuread/${tenantId}/oauth2/v2.0/token`, {
      form: { grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret, scope },
    }),
  );
}
const DEFENDER_SCOPE = 'https://api.securitycenter.microsoft.com/.default';
const GRAPH_SCOPE = 'https://graph.microsoft.com/.default';
const okta = { authorization: `SSWS ${LAB_CREDENTIALS.okta.apiToken}` };
const cloudflare = bearer(LAB_CREDENTIALS.cloudflare.apiToken);
const slack = bearer(LAB_CREDENTIALS.slack.botToken);
const basic = (user: string, secret: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`,
});
const jira = basic(LAB_CREDENTIALS.jira.email, LAB_CREDENTIALS.jira.apiToken);
const servicenow = basic(LAB_CREDENTIALS.servicenow.user, LAB_CREDENTIALS.servicenow.password);
const adf = (text: string) => ({
  type: 'doc',
  version: 1,
  content: [{ type: 'paragraph', content: [{ type: 'text', text }] }],
});
const virustotal = { 'x-apikey': LAB_CREDENTIALS.virustotal.apiKey };
const abuseipdb = { key: LAB_CREDENTIALS.abuseipdb.apiKey, accept: 'application/json' };

// ------------------------------------------------------------------------------------------------ vendors

describe('the lab estate, as it stands (characterisation)', () => {
  it('CrowdStrike', async () => {
    await call('POST', '/crowdstrike/oauth2/token', { form: { client_id: 'x', client_secret: 'y' } });
    const token = await crowdstrikeToken();
    await call('GET', "/crowdstrike/devices/queries/devices/v1?filter=hostname:'ws-fin-042'");
    const found = await call('GET', "/crowdstrike/devices/queries/devices/v1?filter=hostname:'ws-fin-042'", {
      headers: bearer(token),
    });
    const id = (found.body as { resources: string[] }).resources[0]!;
    await call('GET', "/crowdstrike/devices/queries/devices/v1?filter=hostname:'it\\'s'", {
      headers: bearer(token),
    });
    await call('GET', '/crowdstrike/devices/queries/devices/v1?filter=platform_name:Windows', {
      headers: bearer(token),
    });
    await call('GET', `/crowdstrike/devices/entities/devices/v2?ids=${id}`, { headers: bearer(token) });
    await call('GET', '/crowdstrike/devices/entities/devices/v2?ids=nope', { headers: bearer(token) });
    const act = (name: string, ids: string[]) =>
      call('POST', `/crowdstrike/devices/entities/devices-actions/v2?action_name=${name}`, {
        json: { ids },
        headers: { ...bearer(token), 'x-quell-incident': 'INC-CS-1' },
      });
    await act('contain', [id]);
    await call('GET', `/crowdstrike/devices/entities/devices/v2?ids=${id}`, { headers: bearer(token) });
    clock += 60_000;
    await call('GET', `/crowdstrike/devices/entities/devices/v2?ids=${id}`, { headers: bearer(token) });
    await act('contain', [id]);
    await act('lift_containment', [id]);
    await act('reboot', [id]);
    await act('contain', []);
    await act('contain', [id, 'nope']);
    clock += 60_000;
    expect(transcript()).toMatchSnapshot();
  });

  it('Azure AD tokens', async () => {
    const { tenantId, clientId, clientSecret } = LAB_CREDENTIALS.azure;
    const form = { grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret };
    await call('POST', '/azuread/other-tenant/oauth2/v2.0/token', { form: { ...form, scope: GRAPH_SCOPE } });
    await call('POST', `/azuread/${tenantId}/oauth2/v2.0/token`, {
      form: { ...form, grant_type: 'password', scope: GRAPH_SCOPE },
    });
    await call('POST', `/azuread/${tenantId}/oauth2/v2.0/token`, {
      form: { ...form, client_secret: 'wrong', scope: GRAPH_SCOPE },
    });
    await call('POST', `/azuread/${tenantId}/oauth2/v2.0/token`, {
      form: { ...form, scope: 'https://example.com/.default' },
    });
    await azureToken(DEFENDER_SCOPE);
    await azureToken('https://api.security.microsoft.com/.default');
    await azureToken(GRAPH_SCOPE);
    expect(transcript()).toMatchSnapshot();
  });

  it('Defender for Endpoint', async () => {
    const token = await azureToken(DEFENDER_SCOPE);
    const graphToken = await azureToken(GRAPH_SCOPE);
    const h = bearer(token);
    await call('GET', '/defender/api/machines');
    await call('GET', '/defender/api/machines', { headers: bearer(graphToken) });
    await call('GET', '/defender/api/machines', { headers: h });
    const one = await call('GET', "/defender/api/machines?$filter=computerDnsName eq 'srv-db-prod-01'", {
      headers: h,
    });
    const id = (one.body as { value: { id: string }[] }).value[0]!.id;
    await call('GET', "/defender/api/machines?$filter=startswith(computerDnsName, 'ws-')", { headers: h });
    await call('GET', "/defender/api/machines?$filter=osPlatform eq 'Linux'", { headers: h });
    await call('GET', `/defender/api/machines/${id}`, { headers: h });
    await call('GET', '/defender/api/machines/nope', { headers: h });
    const isolate = (path: string, json: unknown) =>
      call('POST', `/defender/api/machines/${path}`, {
        json,
        headers: { ...h, 'x-quell-incident': 'INC-MDE-1' },
      });
    await isolate('nope/isolate', { Comment: 'c' });
    await isolate(`${id}/isolate`, { Comment: '  ' });
    await isolate(`${id}/isolate`, { Comment: 'c', IsolationType: 'Partial' });
    await isolate(`${id}/isolate`, { Comment: 'Quell INC-MDE-1 isolate', IsolationType: 'Selective' });
    await isolate(`${id}/isolate`, { Comment: 'again' });
    await call('GET', `/defender/api/machineactions?$filter=machineId eq '${id}'`, { headers: h });
    clock += 60_000;
    await call('GET', `/defender/api/machineactions?$filter=machineId eq '${id}'`, { headers: h });
    await isolate(`${id}/unisolate`, { Comment: 'Quell INC-MDE-1 release' });
    await call('GET', '/defender/api/machineactions', { headers: h });
    await call('GET', "/defender/api/machineactions?$filter=type eq 'Isolate'", { headers: h });
    clock += 60_000;
    await call('GET', `/defender/api/machines/${id}`, { headers: h });
    expect(transcript()).toMatchSnapshot();
  });

  it('Microsoft Graph', async () => {
    const token = await azureToken(GRAPH_SCOPE);
    const h = { ...bearer(token), 'x-quell-incident': 'INC-GR-1' };
    await call('GET', '/graph/v1.0/users/a.smith@lab.quell.test');
    await call('GET', '/graph/v1.0/users/a.smith@lab.quell.test', { headers: h });
    await call('GET', '/graph/v1.0/users/a.smith?$select=id,accountEnabled,nothing', { headers: h });
    await call('GET', '/graph/v1.0/users/bad%20name!', { headers: h });
    await call('PATCH', '/graph/v1.0/users/a.smith', { json: { accountEnabled: 'no' }, headers: h });
    await call('PATCH', '/graph/v1.0/users/a.smith', { json: { accountEnabled: false }, headers: h });
    await call('PATCH', '/graph/v1.0/users/a.smith', { json: { accountEnabled: false }, headers: h });
    await call('PATCH', '/graph/v1.0/users/a.smith', { json: { displayName: 'x' }, headers: h });
    await call('POST', '/graph/v1.0/users/a.smith/revokeSignInSessions', { headers: h });
    await call('POST', '/graph/v1.0/users/a.smith/revokeSignInSessions', { headers: h });
    await call('PATCH', '/graph/v1.0/users/a.smith', { json: { accountEnabled: true }, headers: h });
    await call('GET', '/graph/v1.0/users/g.new-user', { headers: h });
    expect(transcript()).toMatchSnapshot();
  });

  it('Okta', async () => {
    const h = { ...okta, 'x-quell-incident': 'INC-OK-1' };
    await call('GET', '/okta/api/v1/users/j.doe');
    await call('GET', '/okta/api/v1/users/j.doe', { headers: { authorization: 'SSWS wrong' } });
    await call('GET', '/okta/api/v1/users/j.doe', { headers: h });
    await call('GET', '/okta/api/v1/users/j.doe@lab.quell.test', { headers: h });
    await call('GET', '/okta/api/v1/users/bad%20name!', { headers: h });
    await call('POST', '/okta/api/v1/users/j.doe/lifecycle/activate', { headers: h });
    await call('POST', '/okta/api/v1/users/j.doe/lifecycle/unsuspend', { headers: h });
    await call('POST', '/okta/api/v1/users/j.doe/lifecycle/suspend', { headers: h });
    await call('POST', '/okta/api/v1/users/j.doe/lifecycle/suspend', { headers: h });
    await call('DELETE', '/okta/api/v1/users/j.doe/sessions?oauthTokens=true', { headers: h });
    await call('DELETE', '/okta/api/v1/users/j.doe/sessions', { headers: h });
    await call('POST', '/okta/api/v1/users/j.doe/lifecycle/unsuspend', { headers: h });
    await call('POST', '/lab/accounts/svc-backup/status', { json: { status: 'LOCKED_OUT' } });
    await call('POST', '/okta/api/v1/users/svc-backup/lifecycle/suspend', { headers: h });
    expect(transcript()).toMatchSnapshot();
  });

  it('Cloudflare IP Access Rules and Gateway DNS rules', async () => {
    const h = { ...cloudflare, 'x-quell-incident': 'INC-CF-1' };
    const rules = '/cloudflare/client/v4/zones/lab-zone/firewall/access_rules/rules';
    await call('GET', rules);
    await call('GET', rules, { headers: bearer('wrong') });
    await call('GET', '/cloudflare/client/v4/users/me/firewall/access_rules/rules', { headers: h });
    await call('GET', rules, { headers: h });
    const block = (target: string, value: string, mode = 'block') =>
      call('POST', rules, {
        json: { mode, configuration: { target, value }, notes: `Quell INC-CF-1 ${value}` },
        headers: h,
      });
    const created = await block('ip', '192.0.2.10');
    await block('ip', '192.0.2.10');
    await block('ip', '192.0.2.10', 'allow');
    await block('ip', '300.1.1.1');
    await block('ip6', '2001:db8::1');
    await block('ip_range', '198.51.100.0/24');
    await block('ip_range', '198.51.100.0/25');
    await block('asn', 'AS64500', 'challenge');
    await block('country', 'ZZ', 'whitelist');
    await block('country', 'zz');
    await block('host', 'example.com');
    await call('GET', `${rules}?configuration.target=ip&configuration.value=192.0.2.10`, { headers: h });
    await call('GET', `${rules}?mode=block&notes=INC-CF-1&per_page=2&page=2`, { headers: h });
    await call('GET', `${rules}?match=any&mode=challenge&configuration.value=2001:db8::1`, { headers: h });
    await call('GET', `${rules}?per_page=0&page=x`, { headers: h });
    await call('GET', '/cloudflare/client/v4/accounts/lab-account/firewall/access_rules/rules', {
      headers: h,
    });
    const ruleId = (created.body as { result: { id: string } }).result.id;
    await call('DELETE', `${rules}/${ruleId}`, { headers: h });
    await call('DELETE', `${rules}/${ruleId}`, { headers: h });

    const gateway = '/cloudflare/client/v4/accounts/lab-account/gateway/rules';
    await call('GET', gateway, { headers: h });
    const dns = (json: Record<string, unknown>) => call('POST', gateway, { json, headers: h });
    const rule = await dns({
      name: 'Quell block c2.example',
      action: 'block',
      enabled: true,
      filters: ['dns'],
      traffic: ' any(dns.domains[*] == "c2.example") ',
      description: 'Quell INC-CF-1',
    });
    await dns({
      name: 'Quell allow',
      action: 'allow',
      filters: ['dns', 7],
      traffic: 'any(dns.domains[*] == "ok.example")',
    });
    await dns({ name: 'disabled', action: 'block', enabled: false, filters: ['dns'], traffic: 'x' });
    await dns({ name: '', action: 'block', filters: ['dns'], traffic: 'x' });
    await dns({ name: 'n', action: 'block', filters: ['dns'], traffic: '  ' });
    await dns({ name: 'n', action: 'isolate', filters: ['dns'], traffic: 'x' });
    await dns({ name: 'n', action: 'block', filters: ['http'], traffic: 'x' });
    await call('GET', gateway, { headers: h });
    await call('GET', '/cloudflare/client/v4/accounts/other/gateway/rules', { headers: h });
    const gwId = (rule.body as { result: { id: string } }).result.id;
    await call('DELETE', `${gateway}/${gwId}`, { headers: h });
    await call('DELETE', `${gateway}/${gwId}`, { headers: h });
    expect(transcript()).toMatchSnapshot();
  });

  it('Slack', async () => {
    const post = (json: unknown, headers: Record<string, string> = slack) =>
      call('POST', '/slack/api/chat.postMessage', { json, headers });
    await post({ channel: '#soc', text: 'x' }, {});
    await post({ channel: '#soc', text: 'x', token: LAB_CREDENTIALS.slack.botToken }, {});
    await post({ channel: '#soc', text: 'x' }, bearer('xoxb-wrong'));
    await post({ channel: '#nowhere', text: 'x' });
    await post({ channel: '#soc' });
    await post({ channel: '#soc', text: 'Incident INC-1 opened' });
    await post({ channel: 'C0LAB0002', blocks: [{ type: 'section' }] });
    await post({ channel: 'incidents', text: 'hello', blocks: [] });
    await call('POST', '/slack/webhook/responders', { json: {} });
    await call('POST', '/slack/webhook/responders', { json: { text: 'Incident INC-1' } });
    await call('POST', '/slack/webhook/anything-goes', { json: { blocks: [{ type: 'divider' }] } });
    expect(transcript()).toMatchSnapshot();
  });

  it('PagerDuty Events v2', async () => {
    const send = (json: unknown) => call('POST', '/pagerduty/v2/enqueue', { json });
    await send({});
    await send({ routing_key: 'rk', event_action: 'trigger', dedup_key: 'x'.repeat(256), payload: {} });
    await send({
      routing_key: 'rk',
      event_action: 'trigger',
      payload: { summary: 's'.repeat(1025), source: 'quell', severity: 'fatal' },
    });
    await send({ routing_key: 'rk', event_action: 'acknowledge' });
    await send({
      routing_key: 'routing-key-1234',
      event_action: 'trigger',
      dedup_key: 'INC-PD-1',
      payload: { summary: 'Ransomware on ws-fin-042', source: 'quell', severity: 'critical' },
    });
    await send({
      routing_key: 'routing-key-1234',
      event_action: 'trigger',
      payload: { summary: 's', source: 'q', severity: 'info' },
    });
    await send({ routing_key: 'routing-key-1234', event_action: 'acknowledge', dedup_key: 'INC-PD-1' });
    await send({ routing_key: 'routing-key-1234', event_action: 'resolve', dedup_key: 'INC-PD-1' });
    await send({ routing_key: 'routing-key-1234', event_action: 'resolve', dedup_key: 'INC-PD-unknown' });
    expect(transcript()).toMatchSnapshot();
  });

  it('Jira Cloud', async () => {
    const create = (fields: unknown, headers = jira) =>
      call('POST', '/jira/rest/api/3/issue', { json: { fields }, headers });
    const valid = {
      project: { key: 'SOC' },
      issuetype: { name: 'Task' },
      summary: '[high] Ransomware on ws-fin-042',
      description: adf('Beaconing'),
      labels: ['quell-INC-J-1', 'quell'],
    };
    await create(valid, basic(LAB_CREDENTIALS.jira.email, 'wrong'));
    await create({});
    await create({ ...valid, project: { key: 'HR' }, description: 'plain', labels: ['two words'] });
    await create({ ...valid, summary: 'line\nbreak' });
    await create(valid);
    await call(
      'GET',
      '/jira/rest/api/3/search/jql?jql=project%20%3D%20%22SOC%22%20AND%20labels%20%3D%20%22quell-INC-J-1%22&fields=summary,status&maxResults=1',
      { headers: jira },
    );
    await call('GET', '/jira/rest/api/3/search/jql?jql=labels%20%3D%20nothing', { headers: jira });
    await call('GET', '/jira/rest/api/3/search/jql?jql=summary%20~%20%22x%22', { headers: jira });
    await call('GET', '/jira/rest/api/3/issue/SOC-1?fields=status', { headers: jira });
    await call('GET', '/jira/rest/api/3/issue/SOC-99', { headers: jira });
    await call('POST', '/jira/rest/api/3/issue/SOC-1/comment', { json: { body: 'plain' }, headers: jira });
    await call('POST', '/jira/rest/api/3/issue/SOC-1/comment', {
      json: { body: adf('Phase: containment') },
      headers: jira,
    });
    await call('POST', '/jira/rest/api/3/issue/SOC-1/comment', {
      json: { body: adf('Approved') },
      headers: jira,
    });
    await call('GET', '/jira/rest/api/3/issue/SOC-1/comment?orderBy=-created&maxResults=1', {
      headers: jira,
    });
    await call('GET', '/jira/rest/api/3/issue/SOC-1/transitions', { headers: jira });
    await call('POST', '/jira/rest/api/3/issue/SOC-1/transitions', {
      json: { transition: { id: '99' } },
      headers: jira,
    });
    await call('POST', '/jira/rest/api/3/issue/SOC-1/transitions', {
      json: { transition: { id: '31' } },
      headers: jira,
    });
    await call('POST', '/jira/rest/api/3/issue/SOC-1/transitions', {
      json: { transition: { id: '31' } },
      headers: jira,
    });
    await call('GET', '/jira/rest/api/3/issue/SOC-1/transitions', { headers: jira });
    await call('GET', '/jira/rest/api/3/nothing-here', { headers: jira });
    expect(transcript()).toMatchSnapshot();
  });

  it('ServiceNow Table API', async () => {
    const table = '/servicenow/api/now/table';
    await call('POST', `${table}/incident`, {
      json: { short_description: 'x' },
      headers: basic('quell.integration', 'wrong'),
    });
    await call('POST', `${table}/incident`, {
      json: { short_description: 'x', impact: '9' },
      headers: servicenow,
    });
    const created = await call('POST', `${table}/incident?sysparm_fields=sys_id,number,state,priority`, {
      json: {
        short_description: 'Credential stuffing against j.doe',
        description: 'details',
        impact: '1',
        urgency: '2',
        correlation_id: 'quell-INC-SN-1',
        correlation_display: 'Quell',
        work_notes: 'opened',
      },
      headers: servicenow,
    });
    const sysId = (created.body as { result: { sys_id: string } }).result.sys_id;
    await call(
      'GET',
      `${table}/incident?sysparm_query=correlation_id%3Dquell-INC-SN-1%5EORDERBYsys_created_on&sysparm_fields=sys_id,number&sysparm_limit=1`,
      { headers: servicenow },
    );
    await call('GET', `${table}/incident?sysparm_query=correlation_id%3Dnothing`, { headers: servicenow });
    await call('GET', `${table}/incident/${sysId}?sysparm_fields=state,work_notes`, { headers: servicenow });
    await call('GET', `${table}/incident/${'0'.repeat(32)}`, { headers: servicenow });
    await call('PATCH', `${table}/incident/${sysId}?sysparm_fields=sys_id`, {
      json: { work_notes: 'Phase: eradication quell-ref:abc' },
      headers: servicenow,
    });
    await call(
      'GET',
      `/servicenow/api/now/table/sys_journal_field?sysparm_query=element_id%3D${sysId}%5Eelement%3Dwork_notes%5EvalueLIKEquell-ref:abc&sysparm_fields=sys_id,value`,
      { headers: servicenow },
    );
    await call('PATCH', `${table}/incident/${sysId}`, { json: { state: '6' }, headers: servicenow });
    await call('PATCH', `${table}/incident/${sysId}?sysparm_fields=state,close_code`, {
      json: { state: '6', close_code: 'Solution provided', close_notes: 'done' },
      headers: servicenow,
    });
    await call('GET', `${table}/problem`, { headers: servicenow });
    expect(transcript()).toMatchSnapshot();
  });

  it('VirusTotal and AbuseIPDB', async () => {
    const s = LAB_SEED_INDICATORS;
    await call('GET', `/virustotal/api/v3/ip_addresses/${s.badIp}`);
    await call('GET', `/virustotal/api/v3/ip_addresses/${s.badIp}`, { headers: { 'x-apikey': 'wrong' } });
    await call('GET', `/virustotal/api/v3/ip_addresses/${s.badIp}`, { headers: virustotal });
    await call('GET', '/virustotal/api/v3/ip_addresses/192.0.2.99', { headers: virustotal });
    await call('GET', '/virustotal/api/v3/ip_addresses/999.1.1.1', { headers: virustotal });
    await call('GET', `/virustotal/api/v3/domains/${s.badDomain.toUpperCase()}`, { headers: virustotal });
    await call('GET', '/virustotal/api/v3/domains/not_a_domain', { headers: virustotal });
    await call('GET', `/virustotal/api/v3/files/${s.badMd5}`, { headers: virustotal });
    await call('GET', `/virustotal/api/v3/files/${s.cleanSha256}`, { headers: virustotal });
    await call('GET', '/virustotal/api/v3/files/xyz', { headers: virustotal });
    await call('GET', '/virustotal/api/v3/urls/abc', { headers: virustotal });
    const check = (query: string, headers: Record<string, string> = abuseipdb) =>
      call('GET', `/abuseipdb/api/v2/check?${query}`, { headers });
    await check(`ipAddress=${s.badIp}`, {});
    await check(`ipAddress=${s.badIp}&maxAgeInDays=90`);
    await check(`ipAddress=${s.whitelistedIp}`);
    await check('ipAddress=2001:db8::77&maxAgeInDays=7');
    await check('ipAddress=example.com');
    await check(`ipAddress=${s.cleanIp}&maxAgeInDays=0`);
    await call('POST', '/lab/intel/indicators', {
      json: { kind: 'domain', value: 'Dropper.Example', virustotal: { malicious: 3, reputation: -5 } },
    });
    await call('POST', '/lab/intel/indicators', { json: { kind: 'url', value: 'x' } });
    await call('POST', '/lab/intel/indicators', {
      json: { kind: 'domain', value: 'x.example', abuseipdb: {} },
    });
    await call('POST', '/lab/intel/indicators', { json: { kind: 'file', value: 'abc' } });
    await call('GET', '/virustotal/api/v3/domains/dropper.example', { headers: virustotal });
    await call('GET', '/lab/intel/indicators');
    expect(transcript()).toMatchSnapshot();
  });

  // ------------------------------------------------------------------------------------------------ faults

  /** One representative request per vendor, authenticated as its connector would be. */
  async function probe(vendor: string, tokens: Record<string, string>): Promise<void> {
    switch (vendor) {
      case 'crowdstrike':
        await call('GET', "/crowdstrike/devices/queries/devices/v1?filter=hostname:'dc-01'", {
          headers: bearer(tokens.crowdstrike!),
        });
        return;
      case 'defender':
        await call('GET', '/defender/api/machines', { headers: bearer(tokens.defender!) });
        return;
      case 'azuread': {
        const { tenantId, clientId, clientSecret } = LAB_CREDENTIALS.azure;
        await call('POST', `/azuread/${tenantId}/oauth2/v2.0/token`, {
          form: {
            grant_type: 'client_credentials',
            client_id: clientId,
            client_secret: clientSecret,
            scope: GRAPH_SCOPE,
          },
        });
        return;
      }
      case 'graph':
        await call('GET', '/graph/v1.0/users/j.doe', { headers: bearer(tokens.graph!) });
        return;
      case 'okta':
        await call('GET', '/okta/api/v1/users/j.doe', { headers: okta });
        return;
      case 'cloudflare':
        await call('GET', '/cloudflare/client/v4/zones/lab-zone/firewall/access_rules/rules', {
          headers: cloudflare,
        });
        return;
      case 'slack':
        await call('POST', '/slack/api/chat.postMessage', {
          json: { channel: '#soc', text: 'f' },
          headers: slack,
        });
        await call('POST', '/slack/webhook/soc', { json: { text: 'f' } });
        return;
      case 'jira':
        await call('GET', '/jira/rest/api/3/issue/SOC-1?fields=status', { headers: jira });
        return;
      case 'servicenow':
        await call('GET', '/servicenow/api/now/table/incident?sysparm_limit=1&sysparm_fields=number', {
          headers: servicenow,
        });
        return;
      case 'virustotal':
        await call('GET', '/virustotal/api/v3/ip_addresses/203.0.113.66', { headers: virustotal });
        return;
      case 'abuseipdb':
        await call('GET', '/abuseipdb/api/v2/check?ipAddress=203.0.113.66', { headers: abuseipdb });
        return;
      case 'pagerduty':
        await call('POST', '/pagerduty/v2/enqueue', {
          json: {
            routing_key: 'rk',
            event_action: 'trigger',
            dedup_key: 'F',
            payload: { summary: 's', source: 'q', severity: 'info' },
          },
        });
        return;
    }
  }

  /** New tokens of the OAuth vendors; their requests are left out of the transcript. */
  async function freshTokens(): Promise<Record<string, string>> {
    const recorded = steps.length;
    const tokens = {
      crowdstrike: await crowdstrikeToken(),
      defender: await azureToken(DEFENDER_SCOPE),
      graph: await azureToken(GRAPH_SCOPE),
    };
    steps.length = recorded;
    return tokens;
  }

  for (const fault of ['5xx', '4xx', '429', 'in_progress', 'auth_expired', 'timeout', 'slow_response']) {
    it(`the ${fault} fault, at each vendor`, async () => {
      for (const vendor of LAB_VENDORS) {
        const tokens = await freshTokens();
        lab.store.addFault({
          match: { vendor },
          fault: fault as 'timeout',
          retryAfterSeconds: 7,
          holdMs: 20,
          ...(vendor === 'slack' ? { times: 2 } : { times: 1 }),
        });
        await probe(vendor, tokens);
        await probe(vendor, await freshTokens());
        expect({ vendor, steps: transcript() }).toMatchSnapshot();
      }
    });
  }

  it('fault rules by method and path, and the calls they are recorded with', async () => {
    lab.store.addFault({
      match: { vendor: 'okta', method: 'post', pathPattern: 'lifecycle/suspend$' },
      fault: '5xx',
    });
    await call('GET', '/okta/api/v1/users/a.smith', { headers: okta });
    await call('POST', '/okta/api/v1/users/a.smith/lifecycle/suspend', { headers: okta });
    await call('POST', '/okta/api/v1/users/a.smith/lifecycle/suspend', { headers: okta });
    await call('GET', '/lab/faults');
    lab.store.clearFaults();
    await call('GET', '/lab/calls?vendor=okta&method=post&pathIncludes=a.smith');
    expect(transcript()).toMatchSnapshot();
  });

  // ------------------------------------------------------------------------------------------------ control

  it('the control plane', async () => {
    await call('GET', '/lab');
    await call('GET', '/lab/health');
    await call('POST', '/lab/faults', { json: { fault: 'gremlins' } });
    await call('POST', '/lab/faults', { json: { match: { vendor: 'acme' }, fault: '5xx' } });
    await call('POST', '/lab/faults', { json: { match: { pathPattern: '(' }, fault: '5xx' } });
    await call('POST', '/lab/faults', { json: { fault: '5xx', probability: 2 } });
    await call('POST', '/lab/faults', { json: { fault: '5xx', times: 0 } });
    await call('POST', '/lab/faults', { json: { fault: '5xx', retryAfterSeconds: -1 } });
    await call('POST', '/lab/faults', { json: [1] });
    const added = await call('POST', '/lab/faults', {
      json: {
        rules: [
          { match: { vendor: 'okta' }, fault: '429', times: 3 },
          { fault: 'timeout', holdMs: 5 },
        ],
      },
    });
    await call('POST', '/lab/faults', {
      json: [{ match: { vendor: 'slack', method: 'GET' }, fault: '4xx' }],
    });
    await call('GET', '/lab/faults');
    const first = (added.body as { rules: { id: string }[] }).rules[0]!.id;
    await call('DELETE', `/lab/faults/${first}`);
    await call('DELETE', `/lab/faults/${first}`);
    await call('DELETE', '/lab/faults');
    await call('GET', '/lab/faults');
    await call('POST', '/lab/hosts', { json: { name: 'srv-new-01', platform: 'Linux' } });
    await call('POST', '/lab/hosts', { json: { name: 'ws-new-01' } });
    await call('POST', '/lab/hosts', { json: { name: 'bad name' } });
    await call('POST', '/lab/hosts', { json: {} });
    await call('POST', '/lab/accounts/a.smith/status', { json: { status: 'ASLEEP' } });
    await call('POST', '/lab/accounts/bad%20name!/status', { json: { status: 'ACTIVE' } });
    await call('POST', '/lab/accounts/New.User/status', { json: { status: 'STAGED' } });
    await call('GET', '/lab/logs/ws-fin-042?from=2026-11-28T09:00:00Z&to=2026-11-28T09:03:30Z');
    await call('GET', '/lab/logs/ws-fin-042?from=2026-11-28T09:05:00Z&to=2026-11-28T09:00:00Z');
    await call('GET', '/lab/logs/ws-fin-042?from=yesterday&to=2026-11-28T09:00:00Z');
    await call('GET', '/lab/logs/bad%20name!?from=2026-11-28T09:00:00Z&to=2026-11-28T09:01:00Z');
    await call('GET', '/lab/ledger?vendor=okta');
    await call('GET', '/lab/ledger?target=WS-FIN-042&effect=contain');
    await call('GET', '/lab/ledger?incidentId=INC-CF-1');
    await call('GET', '/lab/nothing-here');
    await call('GET', '/crowdstrike/nothing-here');
    await call('POST', '/lab/hosts', { headers: { 'content-type': 'application/json' } });
    expect(transcript()).toMatchSnapshot();
  });

  it('the whole estate: state, ledger and calls', async () => {
    await call('GET', '/lab/state');
    await call('GET', '/lab/ledger');
    expect(transcript()).toMatchSnapshot();
    const calls = lab.store.calls();
    expect(calls.length).toBeGreaterThan(100);
    expect(
      JSON.parse(
        normalize(
          JSON.stringify(
            calls.map(({ seq, vendor, method, url, status, fault }) => ({
              seq,
              vendor,
              method,
              url,
              status,
              fault,
            })),
          ),
        ),
      ),
    ).toMatchSnapshot();
  });

  it('persists the estate and loads it again', async () => {
    // A change now, when every call has been recorded, so the file's sequence number is the last one.
    lab.store.addHost('ws-persisted-01');
    await lab.store.flush();
    const file = path.join(dataDir, 'lab', 'state.json');
    const text = await fs.readFile(file, 'utf8');
    protectEstateIds();
    expect(normalize(text)).toMatchSnapshot();
    const again = await startLabServer({ dataDir, now: () => clock, containmentDelayMs: 60_000 });
    try {
      const before = lab.store.snapshot();
      const after = again.store.snapshot();
      expect({ ...after, faults: [], tokensIssued: {} }).toEqual({ ...before, faults: [], tokensIssued: {} });
      expect(again.store.ledger()).toEqual(lab.store.ledger());
      expect(again.store.tokensIssued()).toEqual({ crowdstrike: 0, defender: 0, graph: 0 });
    } finally {
      await again.stop();
    }
  });
});
