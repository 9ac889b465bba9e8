import type { Logger } from 'pino';
import { z } from 'zod';
import { defineVendor, optionalString, optionalUrl, origin } from '../descriptor';
import { ConnectorAuthError, PermanentConnectorError } from '../errors';
import { type AllowList, HttpClient, type HttpRequest, type HttpResponse, pick, pickString } from '../http';
import type { ActionContext, EffectResult } from '../types';
import { KeyedMutex, queryString, truncate, vendorComment } from '../util';
import { assertIncidentId, commentRef, safeLink, serviceNowText } from './text';
import type {
  CloseTicketRequest,
  OpenTicketRequest,
  OpenTicketResult,
  TicketSeverity,
  TicketSystem,
} from './types';

export interface ServiceNowOptions {
  /** The instance, e.g. `https://acme.service-now.com`. */
  instanceUrl: string;
  /** A user with the itil role (and read on sys_journal_field, to find work notes already added). */
  user: string;
  password: string;
  /**
   * An OAuth application registry entry: with it, the user's credentials are exchanged once for a bearer
   * token (password grant at `<instance>/oauth_token.do`, the documented inbound OAuth for REST) instead of
   * being sent on every call.
   */
  oauth?: { clientId: string; clientSecret: string };
  /** The state a closed ticket is put in: 6 Resolved (default) or 7 Closed. */
  closeState?: 6 | 7;
  /** Resolution codes (`close_code`); defaults are the out-of-box choices. */
  closeCodes?: { resolved: string; false_positive: string };
  allowList: AllowList;
  timeoutMs?: number;
  logger?: Logger;
}

/** Out-of-box incident states that count as done. */
const DONE_STATES = new Set(['6', '7', '8']);
const SYS_ID_RE = /^[0-9a-f]{32}$/;
const MAX_TEXT = 20_000;
const DEFAULT_CLOSE_CODES = { resolved: 'Solution provided', false_positive: 'No resolution provided' };

/** Impact and urgency (1 high .. 3 low): ServiceNow derives the priority from the two. */
const IMPACT_URGENCY: Record<TicketSeverity, { impact: string; urgency: string }> = {
  critical: { impact: '1', urgency: '1' },
  high: { impact: '1', urgency: '2' },
  medium: { impact: '2', urgency: '2' },
  low: { impact: '3', urgency: '3' },
};

function snMessage(res: HttpResponse): string | undefined {
  const message = pickString(res.json, 'error', 'message');
  const detail = pickString(res.json, 'error', 'detail');
  if (!message) return undefined;
  return detail ? `${message} (${detail})` : message;
}

/** The correlation ID that names an incident's record. */
export function serviceNowCorrelationId(incidentId: string): string {
  return `quell-${incidentId}`;
}

/**
 * ServiceNow ticket sync over the Table API (`incident` records), basic auth or an OAuth bearer token
 * (see {@link ServiceNowOptions.oauth}; "Enable OAuth with inbound REST", "REST OAuth example"). Followed: the ServiceNow
 * "Table API" reference (`/api/now/table/{tableName}`, `sysparm_query`, `sysparm_fields`, `sysparm_limit`;
 * answers wrapped in `result`, errors `{error: {message, detail}, status: "failure"}`) and the incident
 * resolution fields (close_code and close_notes are mandatory when an incident is resolved or closed).
 *
 * - open: `GET /api/now/table/incident?sysparm_query=correlation_id=quell-<incident>&sysparm_limit=1`
 *   first; when nothing matches, `POST /api/now/table/incident` with `short_description`, `description`,
 *   `impact`, `urgency`, `correlation_id`, `correlation_display: "Quell"`. The key is the record's `sys_id`,
 *   the display ID its `number`.
 * - comment: `GET /api/now/table/sys_journal_field?sysparm_query=element_id=<sys_id>^element=work_notes^
 *   valueLIKE<ref>` for a work note carrying the reference of `ctx.idempotencyKey`; else `PATCH
 *   /api/now/table/incident/{sys_id} {work_notes}`.
 * - close: `GET /api/now/table/incident/{sys_id}?sysparm_fields=state`; 6 Resolved, 7 Closed or 8 Canceled
 *   is already in state; else `PATCH` with `state`, `close_code`, `close_notes` and a work note.
 * Every text field goes through {@link serviceNowText} (`[code]` markers broken, HTML escaped); the
 * incident ID reaches encoded queries only after {@link assertIncidentId} (no `^` can appear).
 * ASSUMPTION: a data-policy refusal is a 403 whose detail names the policy; it is permanent, not an auth
 * failure.
 */
export class ServiceNowTickets implements TicketSystem {
  readonly vendor = 'servicenow';
  private readonly http: HttpClient;
  private readonly base: string;
  private readonly closeState: 6 | 7;
  private readonly closeCodes: { resolved: string; false_positive: string };
  private readonly mutex = new KeyedMutex();
  private readonly token?: PasswordGrantToken;

  constructor(opts: ServiceNowOptions) {
    this.base = opts.instanceUrl.replace(/\/+$/, '');
    this.closeState = opts.closeState ?? 6;
    this.closeCodes = opts.closeCodes ?? DEFAULT_CLOSE_CODES;
    const basic = Buffer.from(`${opts.user}:${opts.password}`).toString('base64');
    this.http = new HttpClient({
      vendor: this.vendor,
      allowList: opts.allowList,
      timeoutMs: opts.timeoutMs,
      logger: opts.logger,
      ...(opts.oauth ? {} : { defaultHeaders: { authorization: `Basic ${basic}` } }),
    });
    if (opts.oauth) {
      this.token = new PasswordGrantToken(this.http, `${this.base}/oauth_token.do`, {
        grant_type: 'password',
        client_id: opts.oauth.clientId,
        client_secret: opts.oauth.clientSecret,
        username: opts.user,
        password: opts.password,
      });
    }
  }

  async openTicket(req: OpenTicketRequest, ctx: ActionContext): Promise<OpenTicketResult> {
    assertIncidentId(req.incidentId, this.vendor);
    const correlationId = serviceNowCorrelationId(req.incidentId);
    return this.mutex.run(correlationId, async () => {
      const existing = await this.findByCorrelation(correlationId);
      if (existing) return { ...this.ticketOf(existing), created: false };
      const op = `create incident record for ${req.incidentId}`;
      const link = safeLink(req.link);
      const description = [
        req.description.slice(0, MAX_TEXT),
        '',
        `Quell incident ${req.incidentId}${link ? `: ${link}` : ''}`,
      ].join('\n');
      const res = await this.send({
        method: 'POST',
        url: `${this.base}/api/now/table/incident${queryString({ sysparm_fields: 'sys_id,number,state' })}`,
        op,
        headers: { 'x-quell-incident': ctx.incidentId },
        json: {
          short_description: serviceNowText(truncate(req.title.replace(/\s+/g, ' ').trim(), 160)),
          description: serviceNowText(description),
          ...IMPACT_URGENCY[req.severity],
          correlation_id: correlationId,
          correlation_display: 'Quell',
        },
      });
      if (res.status !== 201 && res.status !== 200) throw this.errorFor(res, op);
      const record = this.recordOf(res, op);
      return { ...this.ticketOf(record), created: true };
    });
  }

  async addComment(key: string, text: string, ctx: ActionContext): Promise<EffectResult> {
    assertSysId(key, this.vendor);
    return this.mutex.run(key, () => this.workNote(key, text, ctx));
  }

  async closeTicket(key: string, req: CloseTicketRequest, ctx: ActionContext): Promise<EffectResult> {
    assertSysId(key, this.vendor);
    return this.mutex.run(key, async () => {
      const state = await this.state(key);
      if (DONE_STATES.has(state)) return { alreadyInState: true, vendorRef: key };
      const op = `close incident record ${key}`;
      const notes = serviceNowText(req.text.slice(0, MAX_TEXT) || 'Closed by Quell');
      const res = await this.send({
        method: 'PATCH',
        url: `${this.base}/api/now/table/incident/${key}${queryString({ sysparm_fields: 'sys_id,number,state' })}`,
        op,
        headers: { 'x-quell-incident': ctx.incidentId },
        json: {
          state: String(this.closeState),
          close_code: this.closeCodes[req.resolution],
          close_notes: notes,
          work_notes: `${notes}\n\n${vendorComment(ctx.incidentId, '')} · ${commentRef(`${ctx.idempotencyKey}:close`)}`,
        },
      });
      if (res.status === 200) return { alreadyInState: false, vendorRef: key };
      throw this.errorFor(res, op);
    });
  }

  private ticketOf(r: { sysId: string; number: string }): Omit<OpenTicketResult, 'created'> {
    return {
      key: r.sysId,
      displayId: r.number || r.sysId,
      url: `${this.base}/nav_to.do${queryString({ uri: `incident.do?sys_id=${r.sysId}` })}`,
    };
  }

  private recordOf(res: HttpResponse, op: string): { sysId: string; number: string } {
    const sysId = pickString(res.json, 'result', 'sys_id');
    if (!sysId || !SYS_ID_RE.test(sysId)) {
      throw new PermanentConnectorError(`servicenow: ${op}: the answer names no sys_id`, {
        vendor: this.vendor,
      });
    }
    return { sysId, number: pickString(res.json, 'result', 'number') ?? '' };
  }

  private async findByCorrelation(
    correlationId: string,
  ): Promise<{ sysId: string; number: string } | undefined> {
    const op = `look up incident record ${correlationId}`;
    const res = await this.send({
      method: 'GET',
      url: `${this.base}/api/now/table/incident${queryString({
        sysparm_query: `correlation_id=${correlationId}^ORDERBYsys_created_on`,
        sysparm_fields: 'sys_id,number,state',
        sysparm_limit: 1,
      })}`,
      op,
    });
    if (res.status !== 200) throw this.errorFor(res, op);
    const first = pick(res.json, 'result', 0);
    const sysId = pickString(first, 'sys_id');
    return sysId ? { sysId, number: pickString(first, 'number') ?? '' } : undefined;
  }

  private async workNote(key: string, text: string, ctx: ActionContext): Promise<EffectResult> {
    const ref = commentRef(ctx.idempotencyKey);
    const lookOp = `read work notes of incident record ${key}`;
    const found = await this.send({
      method: 'GET',
      url: `${this.base}/api/now/table/sys_journal_field${queryString({
        sysparm_query: `element_id=${key}^element=work_notes^valueLIKE${ref}`,
        sysparm_fields: 'sys_id',
        sysparm_limit: 1,
      })}`,
      op: lookOp,
    });
    if (found.status !== 200) throw this.errorFor(found, lookOp);
    const noteId = pickString(found.json, 'result', 0, 'sys_id');
    if (noteId) return { alreadyInState: true, vendorRef: noteId };
    // The record must exist: a PATCH of an unknown sys_id is a 404 anyway, but the journal query is not.
    const op = `add work note to incident record ${key}`;
    const res = await this.send({
      method: 'PATCH',
      url: `${this.base}/api/now/table/incident/${key}${queryString({ sysparm_fields: 'sys_id' })}`,
      op,
      headers: { 'x-quell-incident': ctx.incidentId },
      json: {
        work_notes: `${serviceNowText(text.slice(0, MAX_TEXT))}\n\n${vendorComment(ctx.incidentId, '')} · ${ref}`,
      },
    });
    if (res.status === 200) return { alreadyInState: false, vendorRef: key };
    throw this.errorFor(res, op);
  }

  private async state(key: string): Promise<string> {
    const op = `read incident record ${key}`;
    const res = await this.send({
      method: 'GET',
      url: `${this.base}/api/now/table/incident/${key}${queryString({ sysparm_fields: 'sys_id,state' })}`,
      op,
    });
    if (res.status !== 200) throw this.errorFor(res, op);
    const state = pick(res.json, 'result', 'state');
    return typeof state === 'number' ? String(state) : typeof state === 'string' ? state : '';
  }

  /** One call, with the bearer token when OAuth is configured (a 401 gets one fresh token and one retry). */
  private async send(req: HttpRequest): Promise<HttpResponse> {
    if (!this.token) return this.http.request(req);
    for (let attempt = 1; ; attempt++) {
      const value = await this.token.get();
      const res = await this.http.request({
        ...req,
        headers: { ...req.headers, authorization: `Bearer ${value}` },
      });
      if (res.status !== 401 || attempt > 1) return res;
      this.token.invalidate(value);
    }
  }

  private errorFor(res: HttpResponse, op: string) {
    const message = snMessage(res);
    if (res.status === 403 && /data policy/i.test(message ?? '')) {
      return new PermanentConnectorError(`servicenow: ${op} refused: ${truncate(message ?? '', 300)}`, {
        vendor: this.vendor,
        status: 403,
      });
    }
    return this.http.errorFor(res, op, message);
  }
}

/**
 * ServiceNow's inbound OAuth token for REST: `POST /oauth_token.do` form-encoded with `grant_type=password`,
 * the registry entry's client ID and secret and the user's credentials; answer `{access_token, expires_in}`.
 * Cached and fetched again a minute before it expires (the refresh token is not used: the credentials are
 * at hand, and one grant is simpler to reason about than two).
 */
class PasswordGrantToken {
  private token?: { value: string; refreshAt: number };
  private inflight?: Promise<string>;

  constructor(
    private readonly http: HttpClient,
    private readonly url: string,
    private readonly form: Record<string, string>,
  ) {}

  async get(): Promise<string> {
    if (this.token && this.http.now() < this.token.refreshAt) return this.token.value;
    this.inflight ??= this.fetch().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  invalidate(rejected: string): void {
    if (this.token?.value === rejected) this.token = undefined;
  }

  private async fetch(): Promise<string> {
    const op = 'obtain OAuth token';
    const res = await this.http.request({ method: 'POST', url: this.url, op, form: this.form });
    const error = pickString(res.json, 'error');
    if (res.status === 401 || (res.status === 400 && error && /client|grant/.test(error))) {
      throw new ConnectorAuthError(
        `servicenow: token request rejected (HTTP ${res.status}${error ? `: ${error}` : ''})`,
        { vendor: 'servicenow', status: res.status },
      );
    }
    if (res.status !== 200) throw this.http.errorFor(res, op, error);
    const value = pickString(res.json, 'access_token');
    if (!value) {
      throw new PermanentConnectorError('servicenow: token answer has no access_token', {
        vendor: 'servicenow',
      });
    }
    const expiresIn = Number(pick(res.json, 'expires_in'));
    const lifetimeMs = Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn * 1000 : 300_000;
    this.token = { value, refreshAt: this.http.now() + lifetimeMs - Math.min(60_000, lifetimeMs / 2) };
    return value;
  }
}

function assertSysId(key: string, vendor: string): void {
  if (!SYS_ID_RE.test(key)) {
    throw new PermanentConnectorError(`invalid ServiceNow sys_id ${JSON.stringify(key.slice(0, 40))}`, {
      vendor,
    });
  }
}

/** `QUELL_TICKETS=servicenow`: a ServiceNow instance's incident table, basic auth. */
export const serviceNowTickets = defineVendor({
  env: {
    QUELL_SERVICENOW_INSTANCE_URL: optionalUrl,
    QUELL_SERVICENOW_USER: optionalString,
    QUELL_SERVICENOW_PASSWORD: optionalString,
    QUELL_SERVICENOW_CLIENT_ID: optionalString,
    QUELL_SERVICENOW_CLIENT_SECRET: optionalString,
    QUELL_SERVICENOW_CLOSE_STATE: z.enum(['6', '7']).default('6'),
  },
  secrets: ['QUELL_SERVICENOW_PASSWORD', 'QUELL_SERVICENOW_CLIENT_SECRET'],
  resolve: (e, ctx) => {
    const instanceUrl = ctx.need('QUELL_SERVICENOW_INSTANCE_URL');
    const user = ctx.need('QUELL_SERVICENOW_USER');
    const password = ctx.need('QUELL_SERVICENOW_PASSWORD');
    // OAuth when a client is named: then its secret is required too.
    const oauth = e.QUELL_SERVICENOW_CLIENT_ID
      ? { clientId: e.QUELL_SERVICENOW_CLIENT_ID, clientSecret: ctx.need('QUELL_SERVICENOW_CLIENT_SECRET') }
      : undefined;
    if (!oauth && e.QUELL_SERVICENOW_CLIENT_SECRET) {
      ctx.problem('QUELL_SERVICENOW_CLIENT_SECRET', 'is set without QUELL_SERVICENOW_CLIENT_ID');
    }
    return {
      instanceUrl,
      user,
      password,
      ...(oauth ? { oauth } : {}),
      closeState: Number(e.QUELL_SERVICENOW_CLOSE_STATE) as 6 | 7,
    };
  },
  endpoints: (s) => [s.instanceUrl],
  build: (s, ctx) => new ServiceNowTickets({ ...s, ...ctx }),
  describe: (s) =>
    `ServiceNow (${origin(s.instanceUrl)}, incident table, ${s.oauth ? 'OAuth' : 'basic auth'}, closes as ${s.closeState === 7 ? 'Closed' : 'Resolved'})`,
});
