import type { Logger } from 'pino';
import { defineLabVendor, defineVendor, optionalString, optionalUrl, origin } from '../descriptor';
import { ConflictError, PermanentConnectorError } from '../errors';
import { type AllowList, HttpClient, type HttpRequest, type HttpResponse, pickString } from '../http';
import { LAB_CREDENTIALS, LAB_PREFIXES } from '../lab/credentials';
import type { AccountState, ActionContext, EffectResult, IdentityConnector } from '../types';
import { KeyedMutex, assertAccountName } from '../util';

export interface OktaOptions {
  /** The org URL, e.g. `https://acme.okta.com`. */
  baseUrl: string;
  /** An API token, sent as `Authorization: SSWS <token>`. */
  apiToken: string;
  allowList: AllowList;
  timeoutMs?: number;
  logger?: Logger;
}

/** Okta user statuses in which the user cannot sign in: our "disabled". */
const DISABLED = new Set(['SUSPENDED', 'DEPROVISIONED']);

function oktaMessage(res: HttpResponse): string | undefined {
  const summary = pickString(res.json, 'errorSummary');
  const code = pickString(res.json, 'errorCode');
  const cause = pickString(res.json, 'errorCauses', 0, 'errorSummary');
  if (!summary) return undefined;
  return `${code ? `${code} ` : ''}${summary}${cause ? ` (${cause})` : ''}`;
}

/**
 * Okta account containment with an API token (`SSWS`).
 *
 * Okta's lifecycle operations are not idempotent (suspending a SUSPENDED user is a 400), so every change reads
 * the user first: `GET /api/v1/users/{login}` (id, login or login short name).
 * - disable = `POST /api/v1/users/{id}/lifecycle/suspend`, allowed for ACTIVE users only; SUSPENDED or
 *   DEPROVISIONED is already in state; any other status (STAGED, PROVISIONED, RECOVERY, LOCKED_OUT,
 *   PASSWORD_EXPIRED) is a {@link ConflictError}: Okta cannot suspend them, a human must decide.
 * - enable = `POST .../lifecycle/unsuspend` for SUSPENDED users; DEPROVISIONED is a ConflictError (that is
 *   reactivation, not a containment rollback); any other status is already in state.
 * - revokeSessions = `DELETE /api/v1/users/{id}/sessions?oauthTokens=true` (idempotent at Okta; always sent).
 * - getAccountState: SUSPENDED and DEPROVISIONED are "disabled", every other status "active".
 * If a lifecycle call answers 400 because someone else changed the user in between, the user is read again
 * and the desired state counts as success.
 * The contract has no comment field: the incident ID travels in an `X-Quell-Incident` header.
 */
export class OktaIdentity implements IdentityConnector {
  readonly vendor = 'okta';
  private readonly http: HttpClient;
  private readonly base: string;
  private readonly mutex = new KeyedMutex();

  constructor(opts: OktaOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, '');
    this.http = new HttpClient({
      vendor: this.vendor,
      allowList: opts.allowList,
      timeoutMs: opts.timeoutMs,
      logger: opts.logger,
      defaultHeaders: { authorization: `SSWS ${opts.apiToken}` },
    });
  }

  async disableAccount(account: string, ctx: ActionContext): Promise<EffectResult> {
    return this.lifecycle(account, 'suspend', ctx);
  }

  async enableAccount(account: string, ctx: ActionContext): Promise<EffectResult> {
    return this.lifecycle(account, 'unsuspend', ctx);
  }

  async revokeSessions(account: string, ctx: ActionContext): Promise<EffectResult> {
    const user = await this.user(account);
    const op = `revoke sessions of ${account}`;
    const res = await this.send({
      method: 'DELETE',
      url: `${this.base}/api/v1/users/${encodeURIComponent(user.id)}/sessions?oauthTokens=true`,
      op,
      headers: { 'x-quell-incident': ctx.incidentId },
    });
    if (res.status === 204 || res.status === 200) return { alreadyInState: false, vendorRef: user.id };
    throw this.http.errorFor(res, op, oktaMessage(res));
  }

  async getAccountState(account: string): Promise<AccountState> {
    const user = await this.user(account);
    return DISABLED.has(user.status) ? 'disabled' : 'active';
  }

  private async lifecycle(
    account: string,
    action: 'suspend' | 'unsuspend',
    ctx: ActionContext,
  ): Promise<EffectResult> {
    assertAccountName(account, this.vendor);
    return this.mutex.run(account.toLowerCase(), async () => {
      const user = await this.user(account);
      const decide = (status: string): 'act' | 'done' => {
        if (action === 'suspend') {
          if (DISABLED.has(status)) return 'done';
          if (status === 'ACTIVE') return 'act';
          throw new ConflictError(
            `okta: cannot suspend ${account}: status is ${status} (Okta suspends ACTIVE users only)`,
            {
              vendor: this.vendor,
            },
          );
        }
        if (status === 'SUSPENDED') return 'act';
        if (status === 'DEPROVISIONED') {
          throw new ConflictError(`okta: cannot unsuspend ${account}: the user is DEPROVISIONED`, {
            vendor: this.vendor,
          });
        }
        return 'done';
      };
      if (decide(user.status) === 'done') return { alreadyInState: true, vendorRef: user.id };
      const op = `${action} user ${account}`;
      const res = await this.send({
        method: 'POST',
        url: `${this.base}/api/v1/users/${encodeURIComponent(user.id)}/lifecycle/${action}`,
        op,
        headers: { 'x-quell-incident': ctx.incidentId },
      });
      if (res.status === 200 || res.status === 204) return { alreadyInState: false, vendorRef: user.id };
      if (res.status === 400) {
        // Changed under us? Read again: the desired state is success, anything else a conflict.
        const again = await this.user(account);
        if (decide(again.status) === 'done') return { alreadyInState: true, vendorRef: user.id };
        throw new ConflictError(`okta: ${op} refused: ${oktaMessage(res) ?? 'HTTP 400'}`, {
          vendor: this.vendor,
          status: 400,
        });
      }
      throw this.http.errorFor(res, op, oktaMessage(res));
    });
  }

  private async user(account: string): Promise<{ id: string; status: string }> {
    assertAccountName(account, this.vendor);
    const op = `read user ${account}`;
    const res = await this.send({
      method: 'GET',
      url: `${this.base}/api/v1/users/${encodeURIComponent(account)}`,
      op,
    });
    if (res.status !== 200) throw this.http.errorFor(res, op, oktaMessage(res));
    const id = pickString(res.json, 'id');
    const status = pickString(res.json, 'status');
    if (!id || !status) {
      throw new PermanentConnectorError(`okta: user answer for ${account} lacks id or status`, {
        vendor: this.vendor,
      });
    }
    return { id, status };
  }

  private send(req: HttpRequest): Promise<HttpResponse> {
    return this.http.request(req);
  }
}

/** `QUELL_IDP=okta`: an Okta org with an API token. */
export const oktaIdentity = defineVendor({
  env: { QUELL_OKTA_BASE_URL: optionalUrl, QUELL_OKTA_API_TOKEN: optionalString },
  secrets: ['QUELL_OKTA_API_TOKEN'],
  resolve: (_e, ctx) => ({
    baseUrl: ctx.need('QUELL_OKTA_BASE_URL'),
    apiToken: ctx.need('QUELL_OKTA_API_TOKEN'),
  }),
  endpoints: (s) => [s.baseUrl],
  build: (s, ctx) => new OktaIdentity({ baseUrl: s.baseUrl, apiToken: s.apiToken, ...ctx }),
  describe: (s) => `Okta (${origin(s.baseUrl)})`,
});

/** `QUELL_IDP=lab` (the default): the lab estate, through the Okta contract with the lab's token. */
export const labIdentity = defineLabVendor(LAB_PREFIXES.okta, {
  build: (s, ctx) =>
    new OktaIdentity({ baseUrl: s.baseUrl, apiToken: LAB_CREDENTIALS.okta.apiToken, ...ctx }),
  describe: (s) => `lab estate (${s.baseUrl}), Okta contract`,
});
