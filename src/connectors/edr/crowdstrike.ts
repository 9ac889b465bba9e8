import type { Logger } from 'pino';
import { defineLabVendor, defineVendor, optionalString, optionalUrl, origin } from '../descriptor';
import { z } from 'zod';
import {
  ConflictError,
  PermanentConnectorError,
  TargetNotFoundError,
  TransientConnectorError,
  UnsupportedActionError,
} from '../errors';
import { type AllowList, HttpClient, type HttpResponse, pick, pickString } from '../http';
import { LAB_CREDENTIALS, LAB_PREFIXES } from '../lab/credentials';
import { ClientCredentialsToken, sendWithBearer } from '../oauth';
import type {
  ActionContext,
  AntivirusScanType,
  EdrConnector,
  EdrResponseActions,
  EffectResult,
  FileHashes,
  HostContainmentState,
  InvestigationPackage,
} from '../types';
import { KeyedMutex, assertHostname, queryString, vendorComment } from '../util';
import { DefenderEdr } from './defender';
import {
  type ActionProbe,
  type ActionWaitOptions,
  checkedHashes,
  checkedScanType,
  idempotencyTag,
  waitForAction,
} from './response-actions';

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
  /** Poll interval and deadline for on-demand scans. */
  actionWait?: ActionWaitOptions;
  /** Host group IDs a quarantine indicator applies to; absent or empty: applied globally. */
  iocHostGroups?: readonly string[];
  /**
   * Who collects investigation packages, Falcon having no such API call: absent, the action is an
   * {@link UnsupportedActionError}. The lab passes its Defender contract (same hosts).
   */
  packageCollector?: Pick<EdrResponseActions, 'collectInvestigationPackage'>;
}

/**
 * What an on-demand scan covers, in ODS glob syntax (Windows sensors). ASSUMPTION: Falcon has no
 * quick/full switch; "quick" is the places malware usually lands, "full" the system drive.
 */
export const ODS_SCAN_PATHS: Record<AntivirusScanType, readonly string[]> = {
  quick: ['C:\\Users\\**', 'C:\\ProgramData\\**', 'C:\\Windows\\Temp\\**'],
  full: ['C:\\**'],
};

const IOC_PLATFORMS = ['windows', 'mac', 'linux'] as const;
/** Marks indicators Quell created, so a release never deletes someone else's. */
const IOC_SOURCE = 'Quell';

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
 *
 * Response actions ({@link CrowdStrikeEdr.responseActions}; CrowdStrike's API reference as published in its
 * SDKs, FalconPy `_endpoint/_ioc.py` / `_ods.py` and PSFalcon `New-FalconIoc`, `Start-FalconScan`):
 * - Quarantine by SHA-256 is a custom IOC (scope IOC Manager: write): `GET /iocs/combined/indicator/v1
 *   ?filter=type:'sha256'+value:'<hash>'` first (one with action prevent: already in state; another action:
 *   {@link ConflictError}), else `POST /iocs/entities/indicators/v1 {comment, indicators: [{type: sha256,
 *   value, action: prevent, severity: high, platforms, applied_globally | host_groups, source: Quell,
 *   description}]}`. Falcon applies it across its scope, not on one host only: the host is checked to exist
 *   and named in the description. Release: `DELETE /iocs/entities/indicators/v1?ids=<id>&comment=`, only for
 *   an indicator whose source is Quell. A SHA-1 alone is an {@link UnsupportedActionError} (custom IOCs take
 *   sha256 or md5).
 * - Antivirus scan is an on-demand scan (scope ODS: write): `POST /ods/entities/scans/v1 {hosts: [device],
 *   file_paths, description, quarantine: true, initiated_from}`, polled with `GET /ods/entities/scans/v1?ids=`.
 *   The description carries the incident and the idempotency tag; before starting, `GET /ods/queries/scans/v1
 *   ?filter=description.keyword:'<it>'` finds a retry's first scan, and a pending or running scan of the host
 *   is joined instead of starting a second. ASSUMPTIONS (the SDKs give no enum): statuses pending, running,
 *   completed, failed, cancelled; the paths of {@link ODS_SCAN_PATHS}.
 * - Investigation packages: none in Falcon's API (Real Time Response `get` of chosen files is a different
 *   thing, and not implemented here): delegated to {@link CrowdStrikeOptions.packageCollector} when given.
 */
export class CrowdStrikeEdr implements EdrConnector, EdrResponseActions {
  readonly vendor = 'crowdstrike';
  private readonly http: HttpClient;
  private readonly token: ClientCredentialsToken;
  private readonly base: string;
  private readonly mutex = new KeyedMutex();
  private readonly actionMutex = new KeyedMutex();
  private readonly actionWait: ActionWaitOptions;
  private readonly iocHostGroups: readonly string[];
  private readonly packageCollector?: Pick<EdrResponseActions, 'collectInvestigationPackage'>;

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
    this.actionWait = opts.actionWait ?? {};
    this.iocHostGroups = opts.iocHostGroups ?? [];
    this.packageCollector = opts.packageCollector;
  }

  /** Scan (ODS), quarantine by SHA-256 (custom IOC) and its release; packages only through a collector. */
  get responseActions(): EdrResponseActions {
    return this;
  }

  /** Thrown: see {@link EdrResponseActions}. */
  async runAntivirusScan(
    host: string,
    opts: { scanType: AntivirusScanType },
    ctx: ActionContext,
  ): Promise<EffectResult> {
    const scanType = checkedScanType(opts?.scanType, this.vendor);
    assertHostname(host, this.vendor);
    return this.actionMutex.run(`${host.toLowerCase()}\nscan`, async () => {
      const deviceId = await this.deviceId(host);
      const op = `${scanType} on-demand scan of ${host}`;
      // FQL takes the description inside quotes: keep quotes and backslashes out of it.
      const description = `${vendorComment(ctx.incidentId, ctx.comment, 400)} ${idempotencyTag(ctx)}`.replace(
        /['\\]/g,
        '',
      );
      let scan = await this.findScans(`description.keyword:'${description}'`, op).then((list) =>
        list[0] ? { id: list[0].id, alreadyInState: false } : undefined,
      );
      if (!scan) {
        const running = await this.findScans(`status:['pending','running']`, op);
        const other = running.find((s) => s.hosts.includes(deviceId));
        if (other) scan = { id: other.id, alreadyInState: true };
      }
      if (!scan) {
        const res = await this.send({
          method: 'POST',
          url: `${this.base}/ods/entities/scans/v1`,
          op,
          json: {
            hosts: [deviceId],
            file_paths: ODS_SCAN_PATHS[scanType],
            description,
            quarantine: true,
            initiated_from: 'quell',
          },
          headers: { 'x-quell-incident': ctx.incidentId },
        });
        if (res.status !== 200 && res.status !== 201) throw this.http.errorFor(res, op, csMessage(res));
        const id = pickString(res.json, 'resources', 0, 'id');
        if (!id) {
          throw new PermanentConnectorError(`crowdstrike: ${op}: the answer has no scan id`, {
            vendor: this.vendor,
          });
        }
        scan = { id, alreadyInState: false };
      }
      const found = scan;
      await waitForAction(
        () => this.scanProbe(found.id, op),
        { vendor: this.vendor, op, ref: found.id },
        { ...this.actionWait, now: this.http.now },
      );
      return { alreadyInState: found.alreadyInState, vendorRef: found.id };
    });
  }

  /**
   * A prevent indicator for the SHA-256 (see the class notes: it applies across the configured scope).
   * Thrown: {@link UnsupportedActionError} for a SHA-1 alone; {@link ConflictError} when an indicator for
   * the hash exists with another action; otherwise see {@link EdrResponseActions}.
   */
  async quarantineFile(host: string, file: FileHashes, ctx: ActionContext): Promise<EffectResult> {
    const sha256 = this.iocHash(file);
    assertHostname(host, this.vendor);
    return this.actionMutex.run(`ioc\n${sha256}`, async () => {
      await this.deviceId(host);
      const op = `quarantine ${sha256} (custom IOC, prevent) for ${host}`;
      const existing = await this.findIndicator(sha256, op);
      const inState = (ioc: { id: string; action: string }): EffectResult => {
        if (ioc.action === 'prevent') return { alreadyInState: true, vendorRef: ioc.id };
        throw new ConflictError(
          `crowdstrike: ${op}: an indicator for this hash exists with action ${ioc.action}`,
          { vendor: this.vendor },
        );
      };
      if (existing) return inState(existing);
      const comment = vendorComment(ctx.incidentId, ctx.comment, 900);
      const res = await this.send({
        method: 'POST',
        url: `${this.base}/iocs/entities/indicators/v1`,
        op,
        json: {
          comment,
          indicators: [
            {
              type: 'sha256',
              value: sha256,
              action: 'prevent',
              severity: 'high',
              platforms: IOC_PLATFORMS,
              ...(this.iocHostGroups.length
                ? { host_groups: this.iocHostGroups, applied_globally: false }
                : { applied_globally: true }),
              source: IOC_SOURCE,
              description: `${comment} (host ${host}) ${idempotencyTag(ctx)}`,
            },
          ],
        },
        headers: { 'x-quell-incident': ctx.incidentId },
      });
      if (res.status === 200 || res.status === 201) {
        const id = pickString(res.json, 'resources', 0, 'id');
        if (!id) {
          throw new PermanentConnectorError(
            `crowdstrike: ${op}: no indicator created: ${csMessage(res) ?? 'empty answer'}`,
            { vendor: this.vendor, status: res.status },
          );
        }
        return { alreadyInState: false, vendorRef: id };
      }
      // A duplicate (someone created it meanwhile) is refused: look again before failing.
      if (res.status === 400 || res.status === 409) {
        const now = await this.findIndicator(sha256, op);
        if (now) return inState(now);
      }
      throw this.http.errorFor(res, op, csMessage(res));
    });
  }

  /**
   * Deletes the prevent indicator Quell created for the SHA-256; none: already in state. Thrown:
   * {@link ConflictError} when the indicator was not created by Quell; otherwise as {@link quarantineFile}.
   */
  async releaseQuarantinedFile(host: string, file: FileHashes, ctx: ActionContext): Promise<EffectResult> {
    const sha256 = this.iocHash(file);
    assertHostname(host, this.vendor);
    return this.actionMutex.run(`ioc\n${sha256}`, async () => {
      await this.deviceId(host);
      const op = `release ${sha256} (delete custom IOC) for ${host}`;
      const existing = await this.findIndicator(sha256, op);
      if (!existing) return { alreadyInState: true };
      if (existing.source !== IOC_SOURCE) {
        throw new ConflictError(
          `crowdstrike: ${op}: the indicator ${existing.id} was not created by Quell; left in place`,
          { vendor: this.vendor },
        );
      }
      const res = await this.send({
        method: 'DELETE',
        url: `${this.base}/iocs/entities/indicators/v1${queryString({
          ids: existing.id,
          comment: vendorComment(ctx.incidentId, ctx.comment, 900),
        })}`,
        op,
        headers: { 'x-quell-incident': ctx.incidentId },
      });
      if (res.status === 200 || res.status === 204) return { alreadyInState: false, vendorRef: existing.id };
      if (res.status === 404) return { alreadyInState: true, vendorRef: existing.id };
      throw this.http.errorFor(res, op, csMessage(res));
    });
  }

  /** Thrown: {@link UnsupportedActionError} without a package collector (Falcon has no such call). */
  async collectInvestigationPackage(host: string, ctx: ActionContext): Promise<InvestigationPackage> {
    assertHostname(host, this.vendor);
    if (!this.packageCollector) {
      throw new UnsupportedActionError(
        'crowdstrike: Falcon has no investigation package collection (Real Time Response is not implemented)',
        { vendor: this.vendor },
      );
    }
    return this.packageCollector.collectInvestigationPackage(host, ctx);
  }

  private iocHash(file: FileHashes): string {
    const { sha256 } = checkedHashes(file, this.vendor);
    if (!sha256) {
      throw new UnsupportedActionError('crowdstrike: custom IOCs take a SHA-256 (or MD5); none was given', {
        vendor: this.vendor,
      });
    }
    return sha256;
  }

  private async findIndicator(
    sha256: string,
    op: string,
  ): Promise<{ id: string; action: string; source?: string } | undefined> {
    const res = await this.send({
      method: 'GET',
      url: `${this.base}/iocs/combined/indicator/v1${queryString({ filter: `type:'sha256'+value:'${sha256}'` })}`,
      op: `${op}: look up indicator`,
    });
    if (res.status !== 200) throw this.http.errorFor(res, `${op}: look up indicator`, csMessage(res));
    const list = pick(res.json, 'resources');
    const hit: unknown = Array.isArray(list)
      ? (list as unknown[]).find(
          (r) => pickString(r, 'value')?.toLowerCase() === sha256 && pickString(r, 'id'),
        )
      : undefined;
    if (!hit) return undefined;
    return {
      id: pickString(hit, 'id')!,
      action: pickString(hit, 'action') ?? '',
      source: pickString(hit, 'source'),
    };
  }

  private async findScans(
    filter: string,
    op: string,
  ): Promise<{ id: string; status: string; hosts: string[] }[]> {
    const q = await this.send({
      method: 'GET',
      url: `${this.base}/ods/queries/scans/v1${queryString({ filter })}`,
      op: `${op}: query scans`,
    });
    if (q.status !== 200) throw this.http.errorFor(q, `${op}: query scans`, csMessage(q));
    const ids = pick(q.json, 'resources');
    const list = Array.isArray(ids) ? ids.filter((x): x is string => typeof x === 'string') : [];
    if (list.length === 0) return [];
    return this.scans(list, op);
  }

  private async scans(ids: string[], op: string): Promise<{ id: string; status: string; hosts: string[] }[]> {
    const res = await this.send({
      method: 'GET',
      url: `${this.base}/ods/entities/scans/v1?${ids.map((id) => `ids=${encodeURIComponent(id)}`).join('&')}`,
      op: `${op}: read scans`,
    });
    if (res.status !== 200) throw this.http.errorFor(res, `${op}: read scans`, csMessage(res));
    const parsed = SCANS.safeParse(res.json);
    if (!parsed.success) {
      throw new PermanentConnectorError(`crowdstrike: ${op}: unreadable scan entities`, {
        vendor: this.vendor,
      });
    }
    return parsed.data.resources.map((r) => ({ id: r.id, status: r.status ?? '', hosts: r.hosts ?? [] }));
  }

  private async scanProbe(id: string, op: string): Promise<ActionProbe> {
    const [scan] = await this.scans([id], op);
    if (!scan) {
      throw new TransientConnectorError(`crowdstrike: ${op}: scan ${id} not returned yet`, {
        vendor: this.vendor,
      });
    }
    if (scan.status === 'completed') return { state: 'succeeded' };
    if (scan.status === 'pending' || scan.status === 'running') return { state: 'running' };
    if (scan.status === 'failed' || scan.status === 'cancelled')
      return { state: 'failed', status: scan.status };
    throw new PermanentConnectorError(
      `crowdstrike: ${op}: unknown scan status ${JSON.stringify(scan.status)}`,
      {
        vendor: this.vendor,
      },
    );
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

const SCANS = z.object({
  resources: z.array(
    z.object({ id: z.string(), status: z.string().optional(), hosts: z.array(z.string()).optional() }),
  ),
});

export const CROWDSTRIKE_DEFAULT_BASE_URL = 'https://api.crowdstrike.com';

/** `QUELL_EDR=crowdstrike`: Falcon with an API client (Hosts read/write). */
export const crowdstrikeEdr = defineVendor({
  env: {
    QUELL_CROWDSTRIKE_BASE_URL: optionalUrl,
    QUELL_CROWDSTRIKE_CLIENT_ID: optionalString,
    QUELL_CROWDSTRIKE_CLIENT_SECRET: optionalString,
    QUELL_CROWDSTRIKE_IOC_HOST_GROUPS: optionalString,
  },
  secrets: ['QUELL_CROWDSTRIKE_CLIENT_SECRET'],
  resolve: (e, ctx) => ({
    baseUrl: e.QUELL_CROWDSTRIKE_BASE_URL ?? CROWDSTRIKE_DEFAULT_BASE_URL,
    clientId: ctx.need('QUELL_CROWDSTRIKE_CLIENT_ID'),
    clientSecret: ctx.need('QUELL_CROWDSTRIKE_CLIENT_SECRET'),
    iocHostGroups: (e.QUELL_CROWDSTRIKE_IOC_HOST_GROUPS ?? '')
      .split(',')
      .map((g) => g.trim())
      .filter(Boolean),
  }),
  endpoints: (s) => [s.baseUrl],
  build: (s, ctx) =>
    new CrowdStrikeEdr({
      baseUrl: s.baseUrl,
      clientId: s.clientId,
      clientSecret: s.clientSecret,
      iocHostGroups: s.iocHostGroups,
      ...ctx,
    }),
  describe: (s) => `CrowdStrike Falcon (${origin(s.baseUrl)})`,
});

/**
 * `QUELL_EDR=lab` (the default): the lab estate, through the Falcon contract with the lab's credentials.
 * Investigation packages, which Falcon's API lacks, come through the lab's Defender contract (the same
 * hosts, one estate), so that the default set-up offers every response action.
 */
export const labEdr = defineLabVendor(LAB_PREFIXES.crowdstrike, {
  build: (s, ctx) => {
    // Built on first use: most runs never collect a package, and need no second token.
    let defender: DefenderEdr | undefined;
    const packageCollector = {
      collectInvestigationPackage: (host: string, actx: ActionContext) => {
        const lab = new URL(s.baseUrl).origin;
        defender ??= new DefenderEdr({
          baseUrl: `${lab}${LAB_PREFIXES.defender}`,
          tokenUrl: `${lab}${LAB_PREFIXES.azuread}/{tenant}/oauth2/v2.0/token`,
          ...LAB_CREDENTIALS.azure,
          ...ctx,
        });
        return defender.collectInvestigationPackage(host, actx);
      },
    };
    return new CrowdStrikeEdr({
      baseUrl: s.baseUrl,
      ...LAB_CREDENTIALS.crowdstrike,
      packageCollector,
      ...ctx,
    });
  },
  describe: (s) => `lab estate (${s.baseUrl}), CrowdStrike contract (packages: Defender contract)`,
});
