import type { Logger } from 'pino';
import { defineVendor, optionalString, optionalUrl, origin } from '../descriptor';
import { PermanentConnectorError } from '../errors';
import { type AllowList, HttpClient, type HttpRequest, type HttpResponse, pick, pickString } from '../http';
import { ClientCredentialsToken, azureAdTokenUrl, sendWithBearer } from '../oauth';
import type { AccountState, ActionContext, EffectResult, IdentityConnector } from '../types';
import { KeyedMutex, assertAccountName, queryString } from '../util';

export const GRAPH_DEFAULT_BASE_URL = 'https://graph.microsoft.com';
export const GRAPH_DEFAULT_SCOPE = 'https://graph.microsoft.com/.default';

export interface GraphOptions {
  baseUrl?: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  /** Azure AD v2 token endpoint; `{tenant}` is replaced. */
  tokenUrl?: string;
  scope?: string;
  allowList: AllowList;
  timeoutMs?: number;
  logger?: Logger;
  now?: () => number;
}

function graphMessage(res: HttpResponse): string | undefined {
  const code = pickString(res.json, 'error', 'code');
  const message = pickString(res.json, 'error', 'message');
  return code || message ? [code, message].filter(Boolean).join(': ') : undefined;
}

/**
 * Microsoft Entra ID (Azure AD) accounts through Microsoft Graph, application permissions
 * User.Read.All, User.EnableDisableAccount.All (check) and User.RevokeSessions.All.
 *
 * - `GET /v1.0/users/{upn}?$select=id,accountEnabled`
 * - disable / enable: `PATCH /v1.0/users/{id}` `{"accountEnabled": false|true}` (204), only when the flag
 *   differs (already in state otherwise).
 * - revokeSessions: `POST /v1.0/users/{id}/revokeSignInSessions` (no body), always sent.
 * Token: Azure AD client credentials with scope `https://graph.microsoft.com/.default`, refreshed before
 * expiry and once on a 401. Graph has no comment field; the incident ID travels in `X-Quell-Incident`.
 */
export class GraphIdentity implements IdentityConnector {
  readonly vendor = 'graph';
  private readonly http: HttpClient;
  private readonly token: ClientCredentialsToken;
  private readonly base: string;
  private readonly mutex = new KeyedMutex();

  constructor(opts: GraphOptions) {
    this.base = (opts.baseUrl ?? GRAPH_DEFAULT_BASE_URL).replace(/\/+$/, '');
    this.http = new HttpClient({
      vendor: this.vendor,
      allowList: opts.allowList,
      timeoutMs: opts.timeoutMs,
      logger: opts.logger,
      now: opts.now,
    });
    this.token = new ClientCredentialsToken({
      http: this.http,
      tokenUrl: azureAdTokenUrl(opts.tenantId, opts.tokenUrl),
      clientId: opts.clientId,
      clientSecret: opts.clientSecret,
      scope: opts.scope ?? GRAPH_DEFAULT_SCOPE,
    });
  }

  async disableAccount(account: string, ctx: ActionContext): Promise<EffectResult> {
    return this.setEnabled(account, false, ctx);
  }

  async enableAccount(account: string, ctx: ActionContext): Promise<EffectResult> {
    return this.setEnabled(account, true, ctx);
  }

  async revokeSessions(account: string, ctx: ActionContext): Promise<EffectResult> {
    const user = await this.user(account);
    const op = `revoke sign-in sessions of ${account}`;
    const res = await this.send({
      method: 'POST',
      url: `${this.base}/v1.0/users/${encodeURIComponent(user.id)}/revokeSignInSessions`,
      op,
      headers: { 'x-quell-incident': ctx.incidentId },
    });
    if (res.status === 200 || res.status === 204) return { alreadyInState: false, vendorRef: user.id };
    throw this.http.errorFor(res, op, graphMessage(res));
  }

  async getAccountState(account: string): Promise<AccountState> {
    return (await this.user(account)).enabled ? 'active' : 'disabled';
  }

  private async setEnabled(account: string, enabled: boolean, ctx: ActionContext): Promise<EffectResult> {
    assertAccountName(account, this.vendor);
    return this.mutex.run(account.toLowerCase(), async () => {
      const user = await this.user(account);
      if (user.enabled === enabled) return { alreadyInState: true, vendorRef: user.id };
      const op = `${enabled ? 'enable' : 'disable'} user ${account}`;
      const res = await this.send({
        method: 'PATCH',
        url: `${this.base}/v1.0/users/${encodeURIComponent(user.id)}`,
        op,
        json: { accountEnabled: enabled },
        headers: { 'x-quell-incident': ctx.incidentId },
      });
      if (res.status === 204 || res.status === 200) return { alreadyInState: false, vendorRef: user.id };
      throw this.http.errorFor(res, op, graphMessage(res));
    });
  }

  private async user(account: string): Promise<{ id: string; enabled: boolean }> {
    assertAccountName(account, this.vendor);
    const op = `read user ${account}`;
    const res = await this.send({
      method: 'GET',
      url: `${this.base}/v1.0/users/${encodeURIComponent(account)}${queryString({ $select: 'id,accountEnabled' })}`,
      op,
    });
    if (res.status !== 200) throw this.http.errorFor(res, op, graphMessage(res));
    const id = pickString(res.json, 'id');
    const enabled = pick(res.json, 'accountEnabled');
    if (!id || typeof enabled !== 'boolean') {
      throw new PermanentConnectorError(`graph: user answer for ${account} lacks id or accountEnabled`, {
        vendor: this.vendor,
      });
    }
    return { id, enabled };
  }

  private send(req: HttpRequest): Promise<HttpResponse> {
    return sendWithBearer(this.http, this.token, req, graphMessage);
  }
}

/** `QUELL_IDP=graph`: Entra ID through Microsoft Graph, with an Azure AD app. */
export const graphIdentity = defineVendor({
  env: {
    QUELL_GRAPH_BASE_URL: optionalUrl,
    QUELL_GRAPH_TOKEN_URL: optionalString,
    QUELL_GRAPH_TENANT_ID: optionalString,
    QUELL_GRAPH_CLIENT_ID: optionalString,
    QUELL_GRAPH_CLIENT_SECRET: optionalString,
  },
  secrets: ['QUELL_GRAPH_CLIENT_SECRET'],
  resolve(e, ctx) {
    const tenantId = ctx.need('QUELL_GRAPH_TENANT_ID');
    return {
      baseUrl: e.QUELL_GRAPH_BASE_URL ?? GRAPH_DEFAULT_BASE_URL,
      tokenUrl: ctx.checkedUrl('QUELL_GRAPH_TOKEN_URL', azureAdTokenUrl(tenantId, e.QUELL_GRAPH_TOKEN_URL)),
      tenantId,
      clientId: ctx.need('QUELL_GRAPH_CLIENT_ID'),
      clientSecret: ctx.need('QUELL_GRAPH_CLIENT_SECRET'),
    };
  },
  endpoints: (s) => [s.baseUrl, s.tokenUrl],
  build: (s, ctx) => new GraphIdentity({ ...s, ...ctx }),
  describe: (s) => `Microsoft Graph (${origin(s.baseUrl)})`,
});
