import type { Logger } from 'pino';
import { defineLabVendor, defineVendor, optionalString, optionalUrl } from '../descriptor';
import { ConnectorAuthError, type ConnectorError, ConflictError, PermanentConnectorError } from '../errors';
import { type AllowList, HttpClient, type HttpResponse, pick, pickString } from '../http';
import { LAB_CREDENTIALS, LAB_PREFIXES } from '../lab/credentials';
import type { ActionContext, BlockState, EffectResult, FirewallConnector } from '../types';
import { KeyedMutex, type ParsedIpTarget, parseIpTarget, queryString, truncate } from '../util';

export const CLOUDFLARE_DEFAULT_BASE_URL = 'https://api.cloudflare.com';

/** Cloudflare's answer to a POST of a configuration that already has a rule (check: seen in the field). */
export const CF_DUPLICATE_CODE = 10009;
const CF_AUTH_CODES = new Set([9106, 9109, 10000]);

export interface CloudflareOptions {
  baseUrl?: string;
  apiToken: string;
  /** Exactly one of zoneId (zone-level rules) and accountId (account-level rules). */
  zoneId?: string;
  accountId?: string;
  /**
   * Account whose Zero Trust Gateway DNS policies block domains (default: `accountId`). Without one,
   * domain actions are refused (IP Access Rules cannot match domains).
   */
  gatewayAccountId?: string;
  allowList: AllowList;
  timeoutMs?: number;
  logger?: Logger;
}

interface AccessRule {
  id: string;
  mode: string;
  value: string;
  notes: string;
}

interface GatewayRule {
  id: string;
  name: string;
  action: string;
  enabled: boolean;
  traffic: string;
}

interface CfError {
  code?: number;
  message?: string;
}

function cfErrors(res: HttpResponse): CfError[] {
  const errors = pick(res.json, 'errors');
  if (!Array.isArray(errors)) return [];
  return errors.map((e) => ({
    code: typeof pick(e, 'code') === 'number' ? (pick(e, 'code') as number) : undefined,
    message: pickString(e, 'message'),
  }));
}

function cfMessage(res: HttpResponse): string | undefined {
  const errs = cfErrors(res);
  return errs.length ? errs.map((e) => `${e.code ?? '?'} ${e.message ?? ''}`.trim()).join('; ') : undefined;
}

/** Rules Quell created carry notes starting with this. */
export const QUELL_NOTES_PREFIX = 'Quell ';

/**
 * Cloudflare IP Access Rules (API token with Firewall Services / Account Firewall Access Rules edit).
 *
 * - Rules live at `/client/v4/zones/{zone_id}/firewall/access_rules/rules` (or `/client/v4/accounts/{id}/...`).
 * - blockIp: look the value up first (`GET ...?configuration.value=<v>&configuration.target=<t>`); an existing
 *   block rule is already in state; an existing rule with another mode (whitelist, challenge) is a
 *   {@link ConflictError}. Otherwise `POST {mode:'block', configuration:{target:'ip'|'ip_range', value},
 *   notes:'Quell <incidentId> ...'}`; a duplicate-configuration answer (code 10009) is already blocked.
 *   Single IPv4 addresses use target `ip`, single IPv6 addresses `ip6` (Cloudflare's target for them; check),
 *   CIDR ranges `ip_range` (Cloudflare accepts IPv4 /16 and /24, IPv6 /32, /48 and /64; it answers a 400 for
 *   others, which is permanent).
 * - unblockIp: find the block rules for the value and `DELETE .../rules/{id}` each one Quell created (notes
 *   start with "Quell "). No rule is already in state. A block rule someone else created is left alone and
 *   reported as a ConflictError: Quell does not remove blocks it did not make.
 * - Answers are `{success, errors:[{code, message}], result}`: mapped by HTTP status, and codes 9106, 9109
 *   and 10000 as authentication errors whatever the status.
 * - Mutating calls also carry the incident ID in an `X-Quell-Incident` header (ignored by Cloudflare).
 * - Domains: IP Access Rules cannot match domains. With a Gateway account configured, domains are blocked
 *   with a Zero Trust Gateway DNS policy instead (check: API shape from Cloudflare's Gateway rules docs):
 *   `POST /client/v4/accounts/{account_id}/gateway/rules` `{name:'Quell block <domain>', action:'block',
 *   enabled:true, filters:['dns'], traffic:'any(dns.domains[*] == "<domain>")', description:'Quell <incident>
 *   ...'}` (the domain and its sub-domains); unblock deletes the rules Quell created for that exact traffic
 *   expression (`DELETE .../gateway/rules/{id}`); state = an enabled block rule with that expression
 *   exists. Domains are validated (LDH labels only) before they reach the expression. Without a Gateway
 *   account, blockDomain / unblockDomain / getDomainState throw a {@link PermanentConnectorError}.
 */
export class CloudflareFirewall implements FirewallConnector {
  readonly vendor = 'cloudflare';
  private readonly http: HttpClient;
  private readonly rulesUrl: string;
  private readonly gatewayUrl?: string;
  private readonly mutex = new KeyedMutex();

  constructor(opts: CloudflareOptions) {
    if (Boolean(opts.zoneId) === Boolean(opts.accountId)) {
      throw new PermanentConnectorError('cloudflare: configure exactly one of zoneId and accountId', {
        vendor: 'cloudflare',
      });
    }
    const base = (opts.baseUrl ?? CLOUDFLARE_DEFAULT_BASE_URL).replace(/\/+$/, '');
    const scope = opts.zoneId
      ? `zones/${encodeURIComponent(opts.zoneId)}`
      : `accounts/${encodeURIComponent(opts.accountId ?? '')}`;
    this.rulesUrl = `${base}/client/v4/${scope}/firewall/access_rules/rules`;
    const gatewayAccount = opts.gatewayAccountId ?? opts.accountId;
    if (gatewayAccount) {
      this.gatewayUrl = `${base}/client/v4/accounts/${encodeURIComponent(gatewayAccount)}/gateway/rules`;
    }
    this.http = new HttpClient({
      vendor: this.vendor,
      allowList: opts.allowList,
      timeoutMs: opts.timeoutMs,
      logger: opts.logger,
      defaultHeaders: { authorization: `Bearer ${opts.apiToken}` },
    });
  }

  async blockIp(ip: string, ctx: ActionContext): Promise<EffectResult> {
    const target = parseIpTarget(ip, this.vendor);
    return this.mutex.run(target.value, async () => {
      const existing = await this.find(target);
      const block = existing.find((r) => r.mode === 'block');
      if (block) return { alreadyInState: true, vendorRef: block.id };
      const other = existing[0];
      if (other) {
        throw new ConflictError(
          `cloudflare: ${target.value} already has a ${other.mode} rule (${other.id})`,
          {
            vendor: this.vendor,
          },
        );
      }
      const op = `block ${target.value}`;
      const notes = truncate(`${QUELL_NOTES_PREFIX}${ctx.incidentId} ${ctx.comment}`.trim(), 500);
      const res = await this.http.request({
        method: 'POST',
        url: this.rulesUrl,
        op,
        json: { mode: 'block', configuration: { target: cfTarget(target), value: target.value }, notes },
        headers: { 'x-quell-incident': ctx.incidentId },
      });
      if (isSuccess(res)) return { alreadyInState: false, vendorRef: pickString(res.json, 'result', 'id') };
      if (cfErrors(res).some((e) => e.code === CF_DUPLICATE_CODE || /duplicate/i.test(e.message ?? ''))) {
        const again = (await this.find(target)).find((r) => r.mode === 'block');
        if (again) return { alreadyInState: true, vendorRef: again.id };
        throw new ConflictError(`cloudflare: ${op}: a rule with another mode exists for ${target.value}`, {
          vendor: this.vendor,
          status: res.status,
        });
      }
      throw this.errorFor(res, op);
    });
  }

  async unblockIp(ip: string, ctx: ActionContext): Promise<EffectResult> {
    const target = parseIpTarget(ip, this.vendor);
    return this.mutex.run(target.value, async () => {
      const blocks = (await this.find(target)).filter((r) => r.mode === 'block');
      if (blocks.length === 0) return { alreadyInState: true };
      const ours = blocks.filter((r) => r.notes.startsWith(QUELL_NOTES_PREFIX));
      if (ours.length === 0) {
        throw new ConflictError(
          `cloudflare: ${target.value} is blocked by rule(s) Quell did not create (${blocks.map((b) => b.id).join(', ')}); left in place`,
          { vendor: this.vendor },
        );
      }
      for (const rule of ours) {
        const op = `unblock ${target.value} (rule ${rule.id})`;
        const res = await this.http.request({
          method: 'DELETE',
          url: `${this.rulesUrl}/${encodeURIComponent(rule.id)}`,
          op,
          headers: { 'x-quell-incident': ctx.incidentId },
        });
        if (isSuccess(res) || res.status === 404) continue;
        throw this.errorFor(res, op);
      }
      const others = blocks.length - ours.length;
      if (others > 0) {
        throw new ConflictError(
          `cloudflare: removed Quell's rule for ${target.value}, but ${others} other block rule(s) remain`,
          { vendor: this.vendor },
        );
      }
      return { alreadyInState: false, vendorRef: ours.map((r) => r.id).join(',') };
    });
  }

  async getIpState(ip: string): Promise<BlockState> {
    const target = parseIpTarget(ip, this.vendor);
    return (await this.find(target)).some((r) => r.mode === 'block') ? 'blocked' : 'allowed';
  }

  async blockDomain(domain: string, ctx: ActionContext): Promise<EffectResult> {
    const { url, name, traffic } = this.gateway(domain);
    return this.mutex.run(`domain:${name}`, async () => {
      const existing = (await this.gatewayRules(url, traffic, name)).find(
        (r) => r.action === 'block' && r.enabled,
      );
      if (existing) return { alreadyInState: true, vendorRef: existing.id };
      const op = `block domain ${name}`;
      const res = await this.http.request({
        method: 'POST',
        url,
        op,
        json: {
          name: `${QUELL_NOTES_PREFIX}block ${name}`,
          description: truncate(`${QUELL_NOTES_PREFIX}${ctx.incidentId} ${ctx.comment}`.trim(), 500),
          action: 'block',
          enabled: true,
          filters: ['dns'],
          traffic,
        },
        headers: { 'x-quell-incident': ctx.incidentId },
      });
      if (isSuccess(res)) return { alreadyInState: false, vendorRef: pickString(res.json, 'result', 'id') };
      throw this.errorFor(res, op);
    });
  }

  async unblockDomain(domain: string, ctx: ActionContext): Promise<EffectResult> {
    const { url, name, traffic } = this.gateway(domain);
    return this.mutex.run(`domain:${name}`, async () => {
      const ours = (await this.gatewayRules(url, traffic, name)).filter((r) =>
        r.name.startsWith(QUELL_NOTES_PREFIX),
      );
      if (ours.length === 0) return { alreadyInState: true };
      for (const rule of ours) {
        const op = `unblock domain ${name} (rule ${rule.id})`;
        const res = await this.http.request({
          method: 'DELETE',
          url: `${url}/${encodeURIComponent(rule.id)}`,
          op,
          headers: { 'x-quell-incident': ctx.incidentId },
        });
        if (isSuccess(res) || res.status === 404) continue;
        throw this.errorFor(res, op);
      }
      return { alreadyInState: false, vendorRef: ours.map((r) => r.id).join(',') };
    });
  }

  async getDomainState(domain: string): Promise<BlockState> {
    const { url, name, traffic } = this.gateway(domain);
    const rules = await this.gatewayRules(url, traffic, name);
    return rules.some((r) => r.action === 'block' && r.enabled) ? 'blocked' : 'allowed';
  }

  private gateway(domain: string): { url: string; name: string; traffic: string } {
    if (!this.gatewayUrl) throw this.noDomains(domain);
    const name = normalizeDomain(domain);
    return { url: this.gatewayUrl, name, traffic: `any(dns.domains[*] == "${name}")` };
  }

  /** Gateway rules whose traffic expression is exactly ours for this domain. */
  private async gatewayRules(url: string, traffic: string, name: string): Promise<GatewayRule[]> {
    const op = `list Gateway rules for ${name}`;
    const res = await this.http.request({ method: 'GET', url, op });
    if (!isSuccess(res)) throw this.errorFor(res, op);
    const result = pick(res.json, 'result');
    if (!Array.isArray(result)) return [];
    return result
      .map((r) => ({
        id: pickString(r, 'id') ?? '',
        name: pickString(r, 'name') ?? '',
        action: pickString(r, 'action') ?? '',
        enabled: pick(r, 'enabled') !== false,
        traffic: pickString(r, 'traffic') ?? '',
      }))
      .filter((r) => r.id && r.traffic.replace(/\s+/g, ' ').trim() === traffic);
  }

  private noDomains(domain: string): PermanentConnectorError {
    return new PermanentConnectorError(
      `cloudflare: IP Access Rules cannot block domains (${truncate(domain, 80)}); configure a Gateway account for DNS policies`,
      { vendor: this.vendor },
    );
  }

  /** Every access rule whose configuration is exactly this value (all pages). */
  private async find(target: ParsedIpTarget): Promise<AccessRule[]> {
    const rules: AccessRule[] = [];
    for (let page = 1; page <= 20; page++) {
      const op = `list access rules for ${target.value}`;
      const res = await this.http.request({
        method: 'GET',
        url:
          this.rulesUrl +
          queryString({
            'configuration.target': cfTarget(target),
            'configuration.value': target.value,
            match: 'all',
            page,
            per_page: 50,
          }),
        op,
      });
      if (!isSuccess(res)) throw this.errorFor(res, op);
      const result = pick(res.json, 'result');
      if (!Array.isArray(result)) break;
      for (const r of result) {
        const value = pickString(r, 'configuration', 'value');
        const id = pickString(r, 'id');
        // Filters are a hint at the vendor: compare ourselves, after normalizing.
        if (!id || !value || !sameValue(value, target)) continue;
        rules.push({ id, mode: pickString(r, 'mode') ?? '', value, notes: pickString(r, 'notes') ?? '' });
      }
      const totalPages = Number(pick(res.json, 'result_info', 'total_pages'));
      if (!Number.isFinite(totalPages) || page >= totalPages) break;
    }
    return rules;
  }

  private errorFor(res: HttpResponse, op: string): ConnectorError {
    const message = cfMessage(res);
    if (cfErrors(res).some((e) => e.code !== undefined && CF_AUTH_CODES.has(e.code))) {
      return new ConnectorAuthError(`cloudflare: ${op} failed: ${message ?? ''}`, {
        vendor: this.vendor,
        status: res.status,
      });
    }
    if (res.status >= 200 && res.status < 300) {
      // success:false with a 2xx status: the vendor refused, and says why in errors.
      return new PermanentConnectorError(`cloudflare: ${op} failed: ${message ?? 'success:false'}`, {
        vendor: this.vendor,
        status: res.status,
      });
    }
    return this.http.errorFor(res, op, message);
  }
}

const DOMAIN_RE = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/;

/** A domain in lower case without a trailing dot; anything but LDH labels is a permanent error. */
export function normalizeDomain(domain: string): string {
  const d = domain.trim().toLowerCase().replace(/\.$/, '');
  if (!DOMAIN_RE.test(d)) {
    throw new PermanentConnectorError(`invalid domain ${JSON.stringify(truncate(domain, 80))}`, {
      vendor: 'cloudflare',
    });
  }
  return d;
}

function isSuccess(res: HttpResponse): boolean {
  return res.status >= 200 && res.status < 300 && pick(res.json, 'success') === true;
}

function cfTarget(t: ParsedIpTarget): 'ip' | 'ip_range' | 'ip6' {
  return t.prefix === undefined ? (t.family === 6 ? 'ip6' : 'ip') : 'ip_range';
}

function sameValue(value: string, target: ParsedIpTarget): boolean {
  try {
    return parseIpTarget(value, 'cloudflare').value === target.value;
  } catch {
    return false;
  }
}

/** `QUELL_FIREWALL=cloudflare`: IP Access Rules of a zone or an account; domains as Gateway DNS policies. */
export const cloudflareFirewall = defineVendor({
  env: {
    QUELL_CLOUDFLARE_BASE_URL: optionalUrl,
    QUELL_CLOUDFLARE_API_TOKEN: optionalString,
    QUELL_CLOUDFLARE_ZONE_ID: optionalString,
    QUELL_CLOUDFLARE_ACCOUNT_ID: optionalString,
    QUELL_CLOUDFLARE_GATEWAY_ACCOUNT_ID: optionalString,
  },
  secrets: ['QUELL_CLOUDFLARE_API_TOKEN'],
  resolve(e, ctx) {
    if (Boolean(e.QUELL_CLOUDFLARE_ZONE_ID) === Boolean(e.QUELL_CLOUDFLARE_ACCOUNT_ID)) {
      ctx.problem(
        'QUELL_CLOUDFLARE_ZONE_ID / QUELL_CLOUDFLARE_ACCOUNT_ID',
        `set exactly one when ${ctx.selection}`,
      );
    }
    return {
      baseUrl: e.QUELL_CLOUDFLARE_BASE_URL ?? CLOUDFLARE_DEFAULT_BASE_URL,
      apiToken: ctx.need('QUELL_CLOUDFLARE_API_TOKEN'),
      ...(e.QUELL_CLOUDFLARE_ZONE_ID ? { zoneId: e.QUELL_CLOUDFLARE_ZONE_ID } : {}),
      ...(e.QUELL_CLOUDFLARE_ACCOUNT_ID ? { accountId: e.QUELL_CLOUDFLARE_ACCOUNT_ID } : {}),
      ...(e.QUELL_CLOUDFLARE_GATEWAY_ACCOUNT_ID
        ? { gatewayAccountId: e.QUELL_CLOUDFLARE_GATEWAY_ACCOUNT_ID }
        : {}),
    };
  },
  endpoints: (s) => [s.baseUrl],
  build: (s, ctx) => new CloudflareFirewall({ ...s, ...ctx }),
  describe(s) {
    const gateway = s.gatewayAccountId ?? s.accountId;
    return (
      `Cloudflare IP Access Rules (${s.zoneId ? 'zone' : 'account'} ${s.zoneId ?? s.accountId})` +
      (gateway
        ? `; domains as Gateway DNS rules (account ${gateway})`
        : '; domains refused (no Gateway account)')
    );
  },
});

/** `QUELL_FIREWALL=lab` (the default): the lab estate, through the Cloudflare contract with the lab's token. */
export const labFirewall = defineLabVendor(LAB_PREFIXES.cloudflare, {
  build: (s, ctx) =>
    new CloudflareFirewall({
      baseUrl: s.baseUrl,
      apiToken: LAB_CREDENTIALS.cloudflare.apiToken,
      zoneId: LAB_CREDENTIALS.cloudflare.zoneId,
      gatewayAccountId: LAB_CREDENTIALS.cloudflare.accountId,
      ...ctx,
    }),
  describe: (s) =>
    `lab estate (${s.baseUrl}), Cloudflare contract (IP Access Rules; domains as Gateway DNS rules)`,
});
