import type { Logger } from 'pino';
import { z } from 'zod';
import { defineVendor, optionalString, optionalUrl, origin } from '../descriptor';
import { downloadBytes } from '../download';
import {
  ConflictError,
  PermanentConnectorError,
  TargetNotFoundError,
  TransientConnectorError,
  UnsupportedActionError,
} from '../errors';
import {
  type AllowList,
  HttpClient,
  type HttpRequest,
  type HttpResponse,
  allowListEntryFor,
  pick,
  pickString,
} from '../http';
import { ClientCredentialsToken, azureAdTokenUrl, sendWithBearer } from '../oauth';
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
import {
  type ActionProbe,
  type ActionWaitOptions,
  DEFAULT_PACKAGE_MAX_BYTES,
  DEFAULT_PACKAGE_TIMEOUT_MS,
  checkedHashes,
  checkedScanType,
  idempotencyTag,
  waitForAction,
} from './response-actions';

export const DEFENDER_DEFAULT_BASE_URL = 'https://api.securitycenter.microsoft.com';
export const DEFENDER_DEFAULT_SCOPE = 'https://api.securitycenter.microsoft.com/.default';
/**
 * Where Defender puts investigation packages: its documented example SAS URI is on
 * `userrequests-<region>.blob.core.windows.net`.
 */
export const DEFENDER_DEFAULT_PACKAGE_HOSTS: readonly string[] = ['*.blob.core.windows.net'];
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
  /** Poll interval and deadline for response actions (scan, quarantine, package). */
  actionWait?: ActionWaitOptions;
  /**
   * Hosts (allow-list entries) investigation packages may be downloaded from; default
   * {@link DEFENDER_DEFAULT_PACKAGE_HOSTS}. The API base's own origin is always allowed (the lab serves its
   * packages there).
   */
  packageHosts?: readonly string[];
  /** Largest package accepted (default 512 MiB) and the download's timeout (default 5 min). */
  packageMaxBytes?: number;
  packageTimeoutMs?: number;
}

interface MachineAction {
  id: string;
  type: string;
  status: string;
  created: number;
  requestorComment?: string;
  /** `relatedFileInfo.fileIdentifier`, lower-cased (StopAndQuarantineFile). */
  fileIdentifier?: string;
}

type ResponseActionType = 'RunAntiVirusScan' | 'StopAndQuarantineFile' | 'CollectInvestigationPackage';

const RUNNING_STATUSES = new Set(['Pending', 'InProgress']);
const FAILED_STATUSES = new Set(['Failed', 'TimeOut', 'Cancelled']);

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
 *
 * Response actions ({@link DefenderEdr.responseActions}; Microsoft Learn, defender-endpoint/api:
 * run-av-scan, stop-and-quarantine-file, collect-investigation-package, get-package-sas-uri, machineaction,
 * get-machineaction-object), permissions Machine.Scan, Machine.StopAndQuarantine, Machine.CollectForensics:
 * - `POST /api/machines/{id}/runAntiVirusScan {Comment, ScanType: Quick|Full}`,
 *   `POST /api/machines/{id}/StopAndQuarantineFile {Comment, Sha1}`,
 *   `POST /api/machines/{id}/collectInvestigationPackage {Comment}`: each answers 201 with a MachineAction,
 *   polled with `GET /api/machineactions/{id}` until Succeeded (Failed, TimeOut, Cancelled: permanent error).
 * - The Comment names the incident and ends with the call's idempotency tag: before starting an action the
 *   machine's actions of that type are read, and one carrying our tag (a retry's first attempt) or one still
 *   Pending/InProgress for the same target (another caller's) is waited for instead of starting a second;
 *   a 400 "Action is already in progress" is handled the same way.
 * - The package: `GET /api/machineactions/{id}/GetPackageUri` -> `{value: <SAS URI>}` (limit 2 calls/min),
 *   then a plain GET of that URI without our bearer token (the SAS query is its credential). The URI comes
 *   from the vendor, not from configuration, so it is not put on the outbound allow-list: it must be https
 *   and on {@link DefenderOptions.packageHosts} (Azure blob storage by default) or the API base's origin.
 * - No undo for StopAndQuarantineFile in the API (restoring needs Live Response), so there is no
 *   `releaseQuarantinedFile`; a quarantine by SHA-256 alone is an {@link UnsupportedActionError}.
 * - Response actions are serialized per host and action type, apart from isolation: a scan never makes a
 *   containment wait.
 */
export class DefenderEdr implements EdrConnector, EdrResponseActions {
  readonly vendor = 'defender';
  private readonly http: HttpClient;
  private readonly token: ClientCredentialsToken;
  private readonly base: string;
  private readonly isolationType: 'Full' | 'Selective';
  private readonly mutex = new KeyedMutex();
  private readonly actionMutex = new KeyedMutex();
  private readonly actionWait: ActionWaitOptions;
  private readonly packageAllowList: readonly string[];
  private readonly packageMaxBytes: number;
  private readonly packageTimeoutMs: number;

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
    this.actionWait = opts.actionWait ?? {};
    this.packageAllowList = [
      ...(opts.packageHosts ?? DEFENDER_DEFAULT_PACKAGE_HOSTS),
      allowListEntryFor(`${new URL(this.base).origin}/`),
    ];
    this.packageMaxBytes = opts.packageMaxBytes ?? DEFAULT_PACKAGE_MAX_BYTES;
    this.packageTimeoutMs = opts.packageTimeoutMs ?? DEFAULT_PACKAGE_TIMEOUT_MS;
  }

  /** Scan, quarantine by SHA-1 and investigation package (no release: see the class notes). */
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
    const { id, alreadyInState } = await this.responseAction(host, ctx, {
      type: 'RunAntiVirusScan',
      path: 'runAntiVirusScan',
      body: { ScanType: scanType === 'full' ? 'Full' : 'Quick' },
      op: `${scanType} antivirus scan of ${host}`,
      sameTarget: () => true,
    });
    return { alreadyInState, vendorRef: id };
  }

  /**
   * Stops and quarantines the file with this SHA-1 on the host. Thrown: {@link UnsupportedActionError} when
   * only a SHA-256 is given (the API takes a SHA-1); otherwise see {@link EdrResponseActions}.
   */
  async quarantineFile(host: string, file: FileHashes, ctx: ActionContext): Promise<EffectResult> {
    const { sha1 } = checkedHashes(file, this.vendor);
    assertHostname(host, this.vendor);
    if (!sha1) {
      throw new UnsupportedActionError(
        'defender: StopAndQuarantineFile identifies the file by SHA-1; none was given',
        { vendor: this.vendor },
      );
    }
    const { id, alreadyInState } = await this.responseAction(host, ctx, {
      type: 'StopAndQuarantineFile',
      path: 'StopAndQuarantineFile',
      body: { Sha1: sha1 },
      op: `stop and quarantine ${sha1} on ${host}`,
      sameTarget: (a) => a.fileIdentifier === sha1,
    });
    return { alreadyInState, vendorRef: id };
  }

  /**
   * Collects the investigation package and downloads it (a zip). Thrown: {@link PermanentConnectorError}
   * for a download URI that is not https or not on the package hosts, or a package over the size bound;
   * otherwise see {@link EdrResponseActions}.
   */
  async collectInvestigationPackage(host: string, ctx: ActionContext): Promise<InvestigationPackage> {
    const { id } = await this.responseAction(host, ctx, {
      type: 'CollectInvestigationPackage',
      path: 'collectInvestigationPackage',
      body: {},
      op: `collect investigation package of ${host}`,
      sameTarget: () => true,
    });
    const op = `get package URI of ${host}`;
    const res = await this.send({
      method: 'GET',
      url: `${this.base}/api/machineactions/${encodeURIComponent(id)}/GetPackageUri`,
      op,
    });
    if (res.status !== 200) throw this.http.errorFor(res, op, mdeMessage(res));
    // Microsoft's example answer wraps the URI in literal quotes inside the JSON string.
    const uri = pickString(res.json, 'value')
      ?.trim()
      .replace(/^"(.*)"$/, '$1');
    if (!uri) {
      throw new PermanentConnectorError(`defender: ${op}: the answer has no value`, { vendor: this.vendor });
    }
    const content = await downloadBytes(uri, {
      vendor: this.vendor,
      op: `download investigation package of ${host}`,
      allowList: this.packageAllowList,
      maxBytes: this.packageMaxBytes,
      timeoutMs: this.packageTimeoutMs,
    });
    return {
      content,
      fileName: `investigation-package-${host}-${id}.zip`,
      vendorRef: id,
      source: `defender:machineaction/${id}`,
    };
  }

  /**
   * Starts (or joins) one machine action and waits until it succeeded. `alreadyInState` is true when we
   * joined an action someone else had started.
   */
  private async responseAction(
    host: string,
    ctx: ActionContext,
    spec: {
      type: ResponseActionType;
      path: string;
      body: Record<string, string>;
      op: string;
      sameTarget: (a: MachineAction) => boolean;
    },
  ): Promise<{ id: string; alreadyInState: boolean }> {
    assertHostname(host, this.vendor);
    return this.actionMutex.run(`${host.toLowerCase()}\n${spec.type}`, async () => {
      const machineId = await this.machineId(host);
      const tag = idempotencyTag(ctx);
      const existing = async () => {
        const ofType = (await this.actions(machineId, host)).filter((a) => a.type === spec.type);
        const mine = ofType.find((a) => a.requestorComment?.includes(tag));
        if (mine) return { id: mine.id, alreadyInState: false };
        const running = ofType.find((a) => RUNNING_STATUSES.has(a.status) && spec.sameTarget(a));
        return running ? { id: running.id, alreadyInState: true } : undefined;
      };
      let action = await existing();
      if (!action) {
        const res = await this.send({
          method: 'POST',
          url: `${this.base}/api/machines/${encodeURIComponent(machineId)}/${spec.path}`,
          op: spec.op,
          json: { Comment: `${vendorComment(ctx.incidentId, ctx.comment, 900)} ${tag}`, ...spec.body },
        });
        if (res.status === 201 || res.status === 200) {
          const id = pickString(res.json, 'id');
          if (!id) {
            throw new PermanentConnectorError(`defender: ${spec.op}: the answer has no action id`, {
              vendor: this.vendor,
            });
          }
          action = { id, alreadyInState: false };
        } else if (res.status === 400 && /already in progress/i.test(mdeMessage(res) ?? res.text)) {
          action = await existing();
          if (!action) {
            throw new TransientConnectorError(
              `defender: ${spec.op}: an action is in progress but not listed yet; retry later`,
              { vendor: this.vendor, status: 400 },
            );
          }
        } else {
          throw this.http.errorFor(res, spec.op, mdeMessage(res));
        }
      }
      await waitForAction(
        () => this.probe(action.id, spec.op),
        { vendor: this.vendor, op: spec.op, ref: action.id },
        { ...this.actionWait, now: this.http.now },
      );
      return action;
    });
  }

  private async probe(actionId: string, op: string): Promise<ActionProbe> {
    const res = await this.send({
      method: 'GET',
      url: `${this.base}/api/machineactions/${encodeURIComponent(actionId)}`,
      op: `${op}: read action status`,
    });
    if (res.status !== 200) throw this.http.errorFor(res, `${op}: read action status`, mdeMessage(res));
    const status = pickString(res.json, 'status') ?? '';
    if (status === 'Succeeded') return { state: 'succeeded' };
    if (RUNNING_STATUSES.has(status)) return { state: 'running' };
    if (FAILED_STATUSES.has(status)) return { state: 'failed', status };
    throw new PermanentConnectorError(`defender: ${op}: unknown action status ${JSON.stringify(status)}`, {
      vendor: this.vendor,
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
      requestorComment: pickString(a, 'requestorComment'),
      fileIdentifier: pickString(a, 'relatedFileInfo', 'fileIdentifier')?.toLowerCase(),
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
