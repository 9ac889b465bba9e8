import type { Logger } from 'pino';
import { defineLabVendor, defineVendor, optionalString, optionalUrl, origin } from '../descriptor';
import { ConflictError, PermanentConnectorError, TargetNotFoundError } from '../errors';
import { type AllowList, HttpClient, type HttpResponse, pick, pickString } from '../http';
import { LAB_CREDENTIALS, LAB_PREFIXES } from '../lab/credentials';
import { ClientCredentialsToken, sendWithBearer } from '../oauth';
import type { ActionContext, EdrConnector, EffectResult, HostContainmentState } from '../types';
import { KeyedMutex, assertHostname, queryString } from '../util';

export interface CrowdStrikeOptions {
  /** API base, e.g. `https://api.crowdstrike.com` (US-1) or `https://api.eu-1.crowdstrike.com`. */
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  allowList: AllowList;
  timeoutMs?: number;
  logger?: Logger;
  /** Injectable clock (token expiry tests). */
  now?: () => number;
}

const STATES: readonly HostContainmentState[] = [
  'normal',
  'containment_pending',
  'contained',
  'lift_containment_pending',
];

function csMessage(res: HttpResponse): string | undefined {
  return pickString(res.json, 'errors', 0, 'message');
}

/**
 * CrowdStrike Falcon host containment (scope Hosts:read + Hosts:write).
 *
 * - Token: OAuth2 client credentials `POST /oauth2/token`, cached, refreshed before expiry and once on a 401.
 * - Host -> device: `GET /devices/queries/devices/v1?filter=hostname:'<name>'` (FQL; the name is validated
 *   to `[A-Za-z0-9._-]` so it cannot break out of the quotes). Several devices for one name (stale sensor
 *   installs) is a {@link ConflictError}: we will not guess which one to contain.
 * - State: `GET /devices/entities/devices/v2?ids=<id>`, field `status`.
 * - Actions: `POST /devices/entities/devices-actions/v2?action_name=contain|lift_containment`, body
 *   `{"ids":[id]}`. The state is checked first: contained or containment_pending is already in state for
 *   contain (and normal or lift_containment_pending for lift). The contract has no comment field, so the
 *   incident ID travels in an `X-Quell-Incident` header (ignored by Falcon, recorded by the lab).
 * - Actions for one host are serialized in this process (CrowdStrike documents last-one-wins).
 */
export class CrowdStrikeEdr implements EdrConnector {
  readonly vendor = 'crowdstrike';
  private readonly http: HttpClient;
  private readonly token: ClientCredentialsToken;
  private readonly base: string;
  private readonly mutex = new KeyedMutex();

  constructor(opts: CrowdStrikeOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, '');
    this.http = new HttpClient({
      vendor: this.vendor,
      allowList: opts.allowList,
      timeoutMs: opts.timeoutMs,
      logger: opts.logger,
      now: opts.now,
    });
    this.token = new ClientCredentialsToken({
      http: this.http,
      tokenUrl: `${this.base}/oauth2/token`,
      clientId: opts.clientId,
      clientSecret: opts.clientSecret,
    });
  }

  async isolateHost(host: string, ctx: ActionContext): Promise<EffectResult> {
    return this.act(host, 'contain', ctx);
  }

  async releaseHost(host: string, ctx: ActionContext): Promise<EffectResult> {
    return this.act(host, 'lift_containment', ctx);
  }

  async getHostState(host: string): Promise<HostContainmentState> {
    const id = await this.deviceId(host);
    return this.deviceState(id, host);
  }

  private async act(
    host: string,
    action: 'contain' | 'lift_containment',
    ctx: ActionContext,
  ): Promise<EffectResult> {
    assertHostname(host, this.vendor);
    return this.mutex.run(host.toLowerCase(), async () => {
      const id = await this.deviceId(host);
      const inState = (s: HostContainmentState) =>
        action === 'contain'
          ? s === 'contained' || s === 'containment_pending'
          : s === 'normal' || s === 'lift_containment_pending';
      if (inState(await this.deviceState(id, host))) return { alreadyInState: true, vendorRef: id };
      const op = `${action} host ${host}`;
      const res = await this.send({
        method: 'POST',
        url: `${this.base}/devices/entities/devices-actions/v2${queryString({ action_name: action })}`,
        op,
        json: { ids: [id] },
        headers: { 'x-quell-incident': ctx.incidentId },
      });
      if (res.status === 202 || res.status === 200) return { alreadyInState: false, vendorRef: id };
      if (res.status === 409) {
        // Someone else's action got there first: fine if it leads where we want.
        if (inState(await this.deviceState(id, host))) return { alreadyInState: true, vendorRef: id };
        throw new ConflictError(`crowdstrike: ${op} refused: ${csMessage(res) ?? 'conflict'}`, {
          vendor: this.vendor,
          status: 409,
        });
      }
      throw this.http.errorFor(res, op, csMessage(res));
    });
  }

  private async deviceId(host: string): Promise<string> {
    assertHostname(host, this.vendor);
    const op = `look up host ${host}`;
    const res = await this.send({
      method: 'GET',
      url: `${this.base}/devices/queries/devices/v1${queryString({ filter: `hostname:'${host}'` })}`,
      op,
    });
    if (res.status !== 200) throw this.http.errorFor(res, op, csMessage(res));
    const ids = pick(res.json, 'resources');
    const list = Array.isArray(ids) ? ids.filter((x): x is string => typeof x === 'string') : [];
    if (list.length === 0) {
      throw new TargetNotFoundError(`crowdstrike: no device with hostname ${host}`, { vendor: this.vendor });
    }
    if (list.length > 1) {
      throw new ConflictError(
        `crowdstrike: hostname ${host} matches ${list.length} devices (${list.join(', ')})`,
        {
          vendor: this.vendor,
        },
      );
    }
    return list[0]!;
  }

  private async deviceState(id: string, host: string): Promise<HostContainmentState> {
    const op = `read containment state of ${host}`;
    const res = await this.send({
      method: 'GET',
      url: `${this.base}/devices/entities/devices/v2${queryString({ ids: id })}`,
      op,
    });
    if (res.status !== 200) throw this.http.errorFor(res, op, csMessage(res));
    const status = pickString(res.json, 'resources', 0, 'status');
    if (status === undefined) {
      throw new TargetNotFoundError(`crowdstrike: device ${id} (${host}) not returned`, {
        vendor: this.vendor,
      });
    }
    if (!(STATES as readonly string[]).includes(status)) {
      throw new PermanentConnectorError(`crowdstrike: unknown containment status ${JSON.stringify(status)}`, {
        vendor: this.vendor,
      });
    }
    return status as HostContainmentState;
  }

  private send(req: Parameters<HttpClient['request']>[0]): Promise<HttpResponse> {
    return sendWithBearer(this.http, this.token, req, csMessage);
  }
}

export const CROWDSTRIKE_DEFAULT_BASE_URL = 'https://api.crowdstrike.com';

/** `QUELL_EDR=crowdstrike`: Falcon with an API client (Hosts read/write). */
export const crowdstrikeEdr = defineVendor({
  env: {
    QUELL_CROWDSTRIKE_BASE_URL: optionalUrl,
    QUELL_CROWDSTRIKE_CLIENT_ID: optionalString,
    QUELL_CROWDSTRIKE_CLIENT_SECRET: optionalString,
  },
  secrets: ['QUELL_CROWDSTRIKE_CLIENT_SECRET'],
  resolve: (e, ctx) => ({
    baseUrl: e.QUELL_CROWDSTRIKE_BASE_URL ?? CROWDSTRIKE_DEFAULT_BASE_URL,
    clientId: ctx.need('QUELL_CROWDSTRIKE_CLIENT_ID'),
    clientSecret: ctx.need('QUELL_CROWDSTRIKE_CLIENT_SECRET'),
  }),
  endpoints: (s) => [s.baseUrl],
  build: (s, ctx) =>
    new CrowdStrikeEdr({ baseUrl: s.baseUrl, clientId: s.clientId, clientSecret: s.clientSecret, ...ctx }),
  describe: (s) => `CrowdStrike Falcon (${origin(s.baseUrl)})`,
});

/** `QUELL_EDR=lab` (the default): the lab estate, through the Falcon contract with the lab's credentials. */
export const labEdr = defineLabVendor(LAB_PREFIXES.crowdstrike, {
  build: (s, ctx) => new CrowdStrikeEdr({ baseUrl: s.baseUrl, ...LAB_CREDENTIALS.crowdstrike, ...ctx }),
  describe: (s) => `lab estate (${s.baseUrl}), CrowdStrike contract`,
});
