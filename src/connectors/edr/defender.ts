import type { Logger } from 'pino';
import { z } from 'zod';
import { defineVendor, optionalString, optionalUrl, origin } from '../descriptor';
import { ConflictError, TargetNotFoundError, TransientConnectorError } from '../errors';
import { type AllowList, HttpClient, type HttpRequest, type HttpResponse, pick, pickString } from '../http';
import { ClientCredentialsToken, azureAdTokenUrl, sendWithBearer } from '../oauth';
import type { ActionContext, EdrConnector, EffectResult, HostContainmentState } from '../types';
import { KeyedMutex, assertHostname, queryString, vendorComment } from '../util';

export const DEFENDER_DEFAULT_BASE_URL = 'https://api.securitycenter.microsoft.com';
export const DEFENDER_DEFAULT_SCOPE = 'https://api.securitycenter.microsoft.com/.default';
export { AZURE_AD_TOKEN_URL_TEMPLATE } from '../oauth';

export interface DefenderOptions {
  /** API base; default {@link DEFENDER_DEFAULT_BASE_URL}. */
  baseUrl?: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  /** Azure AD v2 token endpoint; `{tenant}` is replaced. Default {@link AZURE_AD_TOKEN_URL_TEMPLATE}. */
  tokenUrl?: string;
  scope?: string;
  /** `Full` (default) or `Selective` (keeps Outlook/Teams/Skype working). */
  isolationType?: 'Full' | 'Selective';
  allowList: AllowList;
  timeoutMs?: number;
  logger?: Logger;
  now?: () => number;
}

interface MachineAction {
  id: string;
  type: string;
  status: string;
  created: number;
}

const LIVE_STATUSES = new Set(['Pending', 'InProgress', 'Succeeded']);

function mdeMessage(res: HttpResponse): string | undefined {
  return pickString(res.json, 'error', 'message') ?? pickString(res.json, 'message');
}

/**
 * Microsoft Defender for Endpoint isolation (application permission Machine.Isolate, Machine.Read.All).
 *
 * - Token: Azure AD client credentials `POST /{tenant}/oauth2/v2.0/token` with scope
 *   `https://api.securitycenter.microsoft.com/.default`; refreshed before expiry and once on a 401.
 * - Host -> machine: `GET /api/machines?$filter=computerDnsName eq '<host>'` (exact; the name is validated
 *   and single quotes could not appear anyway). If nothing matches and the name has no dot, we also try
 *   `startswith(computerDnsName,'<host>.')`, because Defender usually reports FQDNs; more than one match is a
 *   {@link ConflictError}.
 * - Isolate `POST /api/machines/{id}/isolate {Comment, IsolationType}`; release
 *   `POST /api/machines/{id}/unisolate {Comment}`; the comment names the incident. A 400 "Action is already in
 *   progress" is success with `alreadyInState`.
 *
 * ASSUMPTIONS (not confirmed against Microsoft's pages; the lab implements them):
 * - The machine entity carries no reliable isolation flag, so the state is derived from the machine's
 *   actions: `GET /api/machineactions?$filter=machineId eq '<id>'`, keeping type Isolate/Unisolate with status
 *   Pending/InProgress/Succeeded (Failed/Cancelled/TimeOut changed nothing), latest by
 *   `creationDateTimeUtc` (request order, not completion order: MicrosoftDocs/microsoft-365-docs#5903 reports
 *   pairs completing out of order, and we serialize actions per machine so ours never overlap).
 *   None -> normal; Isolate Pending/InProgress -> containment_pending; Isolate Succeeded -> contained;
 *   Unisolate Pending/InProgress -> lift_containment_pending; Unisolate Succeeded -> normal.
 * - When the opposite action is still pending we do not stack another one on top: that is a
 *   {@link TransientConnectorError} (retry once it settles), keeping one in-flight action per machine.
 * - 429 answers carry `Retry-After` (documented limits: 100 calls/min, 1,500/h).
 */
export class DefenderEdr implements EdrConnector {
  readonly vendor = 'defender';
  private readonly http: HttpClient;
  private readonly token: ClientCredentialsToken;
  private readonly base: string;
  private readonly isolationType: 'Full' | 'Selective';
  private readonly mutex = new KeyedMutex();

  constructor(opts: DefenderOptions) {
    this.base = (opts.baseUrl ?? DEFENDER_DEFAULT_BASE_URL).replace(/\/+$/, '');
    this.isolationType = opts.isolationType ?? 'Full';
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
      scope: opts.scope ?? DEFENDER_DEFAULT_SCOPE,
    });
  }

  async isolateHost(host: string, ctx: ActionContext): Promise<EffectResult> {
    return this.act(host, 'isolate', ctx);
  }

  async releaseHost(host: string, ctx: ActionContext): Promise<EffectResult> {
    return this.act(host, 'unisolate', ctx);
  }

  async getHostState(host: string): Promise<HostContainmentState> {
    const id = await this.machineId(host);
    return stateFromActions(await this.actions(id, host));
  }

  private async act(
    host: string,
    action: 'isolate' | 'unisolate',
    ctx: ActionContext,
  ): Promise<EffectResult> {
    assertHostname(host, this.vendor);
    return this.mutex.run(host.toLowerCase(), async () => {
      const id = await this.machineId(host);
      const state = stateFromActions(await this.actions(id, host));
      const [done, pending, oppositePending] =
        action === 'isolate'
          ? (['contained', 'containment_pending', 'lift_containment_pending'] as const)
          : (['normal', 'lift_containment_pending', 'containment_pending'] as const);
      if (state === done || state === pending) return { alreadyInState: true, vendorRef: id };
      if (state === oppositePending) {
        throw new TransientConnectorError(
          `defender: cannot ${action} ${host} while the opposite action is still in progress; retry later`,
          { vendor: this.vendor },
        );
      }
      const op = `${action} machine ${host}`;
      const comment = vendorComment(ctx.incidentId, ctx.comment);
      const res = await this.send({
        method: 'POST',
        url: `${this.base}/api/machines/${encodeURIComponent(id)}/${action}`,
        op,
        json:
          action === 'isolate'
            ? { Comment: comment, IsolationType: this.isolationType }
            : { Comment: comment },
      });
      if (res.status === 201 || res.status === 200) {
        return { alreadyInState: false, vendorRef: pickString(res.json, 'id') ?? id };
      }
      if (res.status === 400 && /already in progress/i.test(mdeMessage(res) ?? res.text)) {
        return { alreadyInState: true, vendorRef: id };
      }
      throw this.http.errorFor(res, op, mdeMessage(res));
    });
  }

  private async machineId(host: string): Promise<string> {
    assertHostname(host, this.vendor);
    const op = `look up machine ${host}`;
    const lookup = async (filter: string): Promise<string[]> => {
      const res = await this.send({
        method: 'GET',
        url: `${this.base}/api/machines${queryString({ $filter: filter })}`,
        op,
      });
      if (res.status !== 200) throw this.http.errorFor(res, op, mdeMessage(res));
      const value = pick(res.json, 'value');
      return Array.isArray(value)
        ? value.map((m) => pickString(m, 'id')).filter((x): x is string => typeof x === 'string')
        : [];
    };
    let ids = await lookup(`computerDnsName eq '${host}'`);
    if (ids.length === 0 && !host.includes('.')) ids = await lookup(`startswith(computerDnsName,'${host}.')`);
    if (ids.length === 0) {
      throw new TargetNotFoundError(`defender: no machine named ${host}`, { vendor: this.vendor });
    }
    if (ids.length > 1) {
      throw new ConflictError(`defender: ${host} matches ${ids.length} machines (${ids.join(', ')})`, {
        vendor: this.vendor,
      });
    }
    return ids[0]!;
  }

  private async actions(machineId: string, host: string): Promise<MachineAction[]> {
    const op = `read machine actions of ${host}`;
    const res = await this.send({
      method: 'GET',
      url: `${this.base}/api/machineactions${queryString({ $filter: `machineId eq '${machineId}'` })}`,
      op,
    });
    if (res.status !== 200) throw this.http.errorFor(res, op, mdeMessage(res));
    const value = pick(res.json, 'value');
    if (!Array.isArray(value)) return [];
    return value.map((a) => ({
      id: pickString(a, 'id') ?? '',
      type: pickString(a, 'type') ?? '',
      status: pickString(a, 'status') ?? '',
      created: Date.parse(pickString(a, 'creationDateTimeUtc') ?? '') || 0,
    }));
  }

  private send(req: HttpRequest): Promise<HttpResponse> {
    return sendWithBearer(this.http, this.token, req, mdeMessage);
  }
}

/** The containment state implied by a machine's actions (see the assumptions on {@link DefenderEdr}). */
export function stateFromActions(actions: MachineAction[]): HostContainmentState {
  const relevant = actions
    .filter((a) => (a.type === 'Isolate' || a.type === 'Unisolate') && LIVE_STATUSES.has(a.status))
    .sort((a, b) => b.created - a.created);
  const latest = relevant[0];
  if (!latest) return 'normal';
  const done = latest.status === 'Succeeded';
  if (latest.type === 'Isolate') return done ? 'contained' : 'containment_pending';
  return done ? 'normal' : 'lift_containment_pending';
}

/** `QUELL_EDR=defender`: Defender for Endpoint with an Azure AD app (Machine.Isolate, Machine.Read.All). */
export const defenderEdr = defineVendor({
  env: {
    QUELL_DEFENDER_BASE_URL: optionalUrl,
    QUELL_DEFENDER_TOKEN_URL: optionalString,
    QUELL_DEFENDER_TENANT_ID: optionalString,
    QUELL_DEFENDER_CLIENT_ID: optionalString,
    QUELL_DEFENDER_CLIENT_SECRET: optionalString,
    QUELL_DEFENDER_ISOLATION_TYPE: z.enum(['Full', 'Selective']).default('Full'),
  },
  secrets: ['QUELL_DEFENDER_CLIENT_SECRET'],
  resolve(e, ctx) {
    const tenantId = ctx.need('QUELL_DEFENDER_TENANT_ID');
    return {
      baseUrl: e.QUELL_DEFENDER_BASE_URL ?? DEFENDER_DEFAULT_BASE_URL,
      tokenUrl: ctx.checkedUrl(
        'QUELL_DEFENDER_TOKEN_URL',
        azureAdTokenUrl(tenantId, e.QUELL_DEFENDER_TOKEN_URL),
      ),
      tenantId,
      clientId: ctx.need('QUELL_DEFENDER_CLIENT_ID'),
      clientSecret: ctx.need('QUELL_DEFENDER_CLIENT_SECRET'),
      isolationType: e.QUELL_DEFENDER_ISOLATION_TYPE,
    };
  },
  endpoints: (s) => [s.baseUrl, s.tokenUrl],
  build: (s, ctx) => new DefenderEdr({ ...s, ...ctx }),
  describe: (s) => `Microsoft Defender for Endpoint (${origin(s.baseUrl)}, isolation ${s.isolationType})`,
});
