import { randomUUID } from 'node:crypto';
import net from 'node:net';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { LAB_PREFIXES } from './credentials';
import { labLogLines } from './logs';
import {
  LAB_SLACK_CHANNELS,
  type LabAccount,
  type LabAccountStatus,
  type LabFaultInput,
  type LabFaultRule,
  type LabHost,
  type LabMachineAction,
  type LabStore,
  type LabVendor,
} from './store';

// -------------------------------------------------------------------------------------------------------
// Helpers
// -------------------------------------------------------------------------------------------------------

type Locals = { authExpired?: boolean; fault?: string };

function locals(res: Response): Locals {
  return res.locals as Locals;
}

function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  return undefined;
}

function strList(v: unknown): string[] {
  if (typeof v === 'string') return v.split(',').filter(Boolean);
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return [];
}

function bodyOf(req: Request): Record<string, unknown> {
  const b: unknown = req.body;
  return b && typeof b === 'object' && !Array.isArray(b) ? (b as Record<string, unknown>) : {};
}

function bearer(req: Request): string | undefined {
  const h = req.get('authorization') ?? '';
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m?.[1];
}

function callOf(req: Request): string {
  return `${req.method} ${req.originalUrl}`;
}

function incidentOf(req: Request): string | undefined {
  return req.get('x-quell-incident') ?? undefined;
}

const AUDIENCE: Partial<Record<LabVendor, 'crowdstrike' | 'defender' | 'graph'>> = {
  crowdstrike: 'crowdstrike',
  defender: 'defender',
  graph: 'graph',
};

/** Answers an error in the vendor's own error shape. */
function fail(
  res: Response,
  vendor: LabVendor,
  status: number,
  message: string,
  code?: string | number,
): void {
  switch (vendor) {
    case 'crowdstrike':
      res.status(status).json({
        meta: { query_time: 0.001, powered_by: 'quell-lab', trace_id: randomUUID() },
        resources: [],
        errors: [{ code: status, message }],
      });
      return;
    case 'defender':
    case 'graph':
      res
        .status(status)
        .json({ error: { code: code ?? 'Error', message, innerError: { 'request-id': randomUUID() } } });
      return;
    case 'azuread':
      res.status(status).json({ error: code ?? 'invalid_request', error_description: message });
      return;
    case 'okta':
      res.status(status).json({
        errorCode: code ?? 'E0000009',
        errorSummary: message,
        errorLink: code ?? 'E0000009',
        errorId: `oae${randomUUID().replace(/-/g, '').slice(0, 19)}`,
        errorCauses: [],
      });
      return;
    case 'cloudflare':
      res
        .status(status)
        .json({ success: false, errors: [{ code: code ?? status, message }], messages: [], result: null });
      return;
    case 'slack':
      res.status(status).json({ ok: false, error: code ?? message });
      return;
    case 'pagerduty':
      res.status(status).json({ status: code ?? 'error', message, errors: [message] });
      return;
  }
}

// -------------------------------------------------------------------------------------------------------
// Per-vendor gate: call log and fault injection
// -------------------------------------------------------------------------------------------------------

function gate(store: LabStore, vendor: LabVendor) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const url = req.originalUrl;
    let finished = false;
    res.on('finish', () => {
      finished = true;
      store.recordCall({ vendor, method: req.method, url, status: res.statusCode, ...faultOf(res) });
    });
    res.on('close', () => {
      if (!finished) store.recordCall({ vendor, method: req.method, url, status: 0, ...faultOf(res) });
    });
    const rule = store.takeFault(vendor, req.method, url);
    if (!rule) {
      next();
      return;
    }
    locals(res).fault = rule.fault;
    applyFault(store, vendor, rule, req, res, next);
  };
}

function faultOf(res: Response): { fault?: LabFaultRule['fault'] } {
  const f = locals(res).fault;
  return f ? { fault: f as LabFaultRule['fault'] } : {};
}

function applyFault(
  store: LabStore,
  vendor: LabVendor,
  rule: LabFaultRule,
  req: Request,
  res: Response,
  next: NextFunction,
): void {
  switch (rule.fault) {
    case 'auth_expired': {
      const audience = AUDIENCE[vendor];
      if (audience) store.expireTokens(audience);
      else locals(res).authExpired = true;
      next();
      return;
    }
    case '5xx':
      if (vendor === 'slack' && req.path.startsWith('/webhook/')) {
        res.status(503).type('text/plain').send('service_unavailable');
        return;
      }
      fail(
        res,
        vendor,
        503,
        'Service temporarily unavailable (lab fault)',
        vendor === 'okta' ? 'E0000009' : undefined,
      );
      return;
    case '4xx':
      // A request the vendor refuses as malformed, in its own shape.
      if (vendor === 'slack') {
        if (req.path.startsWith('/webhook/')) res.status(400).type('text/plain').send('invalid_payload');
        else res.json({ ok: false, error: 'invalid_arguments' });
        return;
      }
      if (vendor === 'pagerduty') {
        res
          .status(400)
          .json({ status: 'invalid event', message: 'Event object is invalid', errors: ['lab fault'] });
        return;
      }
      fail(
        res,
        vendor,
        400,
        'Bad request (lab fault)',
        vendor === 'okta'
          ? 'E0000003'
          : vendor === 'cloudflare'
            ? 10003
            : vendor === 'azuread'
              ? 'invalid_request'
              : 'BadRequest',
      );
      return;
    case '429': {
      const seconds = rule.retryAfterSeconds ?? 1;
      if (vendor === 'okta') {
        // Okta says when the window resets (epoch seconds) rather than Retry-After.
        res.set('X-Rate-Limit-Limit', '600');
        res.set('X-Rate-Limit-Remaining', '0');
        res.set('X-Rate-Limit-Reset', String(Math.ceil(store.now() / 1000 + seconds)));
        fail(res, vendor, 429, 'API call exceeded rate limit due to too many requests.', 'E0000047');
        return;
      }
      res.set('Retry-After', String(seconds));
      if (vendor === 'slack') {
        res.status(429).json({ ok: false, error: 'ratelimited' });
        return;
      }
      fail(
        res,
        vendor,
        429,
        'Too many requests (lab fault)',
        vendor === 'defender' || vendor === 'graph' ? 'TooManyRequests' : undefined,
      );
      return;
    }
    case 'in_progress':
      if (vendor === 'defender') {
        fail(res, vendor, 400, 'Action is already in progress', 'ActiveRequestAlreadyExists');
        return;
      }
      if (vendor === 'cloudflare') {
        fail(res, vendor, 400, 'firewallaccessrules.api.duplicate_of_existing', 10009);
        return;
      }
      fail(res, vendor, 409, 'An action for this target is already in progress (lab fault)', 'Conflict');
      return;
    case 'slow_response': {
      const end = res.end.bind(res) as (...a: unknown[]) => Response;
      res.end = ((...a: unknown[]) => {
        setTimeout(() => end(...a), rule.holdMs ?? 5_000);
        return res;
      }) as Response['end'];
      next();
      return;
    }
    case 'timeout': {
      const timer = setTimeout(() => {
        if (!res.headersSent) fail(res, vendor, 504, 'Gateway timeout (lab fault)');
      }, rule.holdMs ?? 30_000);
      res.on('close', () => clearTimeout(timer));
      return;
    }
  }
}

// -------------------------------------------------------------------------------------------------------
// CrowdStrike Falcon
// -------------------------------------------------------------------------------------------------------

/** Refuses requests whose bearer token the lab did not issue to `audience` (or has since expired), in the vendor's shape. */
function requireIssuedToken(
  store: LabStore,
  audience: 'crowdstrike' | 'defender' | 'graph',
  message: string,
  code?: string,
): (req: Request, res: Response, next: NextFunction) => void {
  return (req, res, next) => {
    if (!store.tokenValid(bearer(req), audience)) {
      fail(res, audience, 401, message, code);
      return;
    }
    next();
  };
}

function crowdstrikeRouter(store: LabStore): Router {
  const r = express.Router();
  const meta = () => ({ query_time: 0.001, powered_by: 'quell-lab', trace_id: randomUUID() });
  r.post('/oauth2/token', (req, res) => {
    const b = bodyOf(req);
    const { clientId, clientSecret } = store.credentials.crowdstrike;
    if (b.client_id !== clientId || b.client_secret !== clientSecret) {
      fail(res, 'crowdstrike', 401, 'access denied, invalid client credentials');
      return;
    }
    const { token, expiresIn } = store.issueToken('crowdstrike');
    res.status(201).json({ access_token: token, token_type: 'bearer', expires_in: expiresIn });
  });
  r.use(requireIssuedToken(store, 'crowdstrike', 'access denied, authorization failed'));
  const deviceJson = (h: LabHost) => ({
    device_id: h.deviceId,
    hostname: h.name,
    platform_name: h.platform,
    status: h.status,
    first_seen: h.firstSeen,
    last_seen: new Date(store.now()).toISOString(),
    product_type_desc: h.name.startsWith('srv-') || h.name.startsWith('dc-') ? 'Server' : 'Workstation',
  });
  r.get('/devices/queries/devices/v1', (req, res) => {
    const filter = str(req.query.filter) ?? '';
    const m = /^hostname:'((?:[^'\\]|\\.)*)'$/.exec(filter);
    if (!m) {
      fail(
        res,
        'crowdstrike',
        400,
        `invalid filter expression ${JSON.stringify(filter)} (lab supports hostname:'<name>')`,
      );
      return;
    }
    const host = store.findHost((m[1] ?? '').replace(/\\(.)/g, '$1'));
    const resources = host ? [host.deviceId] : [];
    res.json({
      meta: { ...meta(), pagination: { offset: 0, limit: 100, total: resources.length } },
      resources,
      errors: [],
    });
  });
  r.get('/devices/entities/devices/v2', (req, res) => {
    const ids = strList(req.query.ids);
    const found = ids.map((id) => store.hostByDeviceId(id)).filter((h): h is LabHost => Boolean(h));
    if (found.length === 0) {
      fail(res, 'crowdstrike', 404, 'Device not found.');
      return;
    }
    res.json({ meta: meta(), resources: found.map(deviceJson), errors: [] });
  });
  r.post('/devices/entities/devices-actions/v2', (req, res) => {
    const action = str(req.query.action_name);
    if (action !== 'contain' && action !== 'lift_containment') {
      fail(res, 'crowdstrike', 400, `unsupported action_name ${JSON.stringify(action)}`);
      return;
    }
    const ids = strList(bodyOf(req).ids);
    if (ids.length === 0) {
      fail(res, 'crowdstrike', 400, 'ids is required');
      return;
    }
    const hosts = ids.map((id) => store.hostByDeviceId(id));
    if (hosts.some((h) => !h)) {
      fail(res, 'crowdstrike', 404, 'Device not found.');
      return;
    }
    const incidentId = incidentOf(req);
    for (const h of hosts as LabHost[]) {
      store.setContainment(h, action === 'contain' ? 'contain' : 'release', {
        vendor: 'crowdstrike',
        vendorAction: action,
        call: callOf(req),
        vendorRef: h.deviceId,
        ...(incidentId ? { incidentId } : {}),
      });
    }
    res.status(202).json({ meta: meta(), resources: ids.map((id) => ({ id, path: '' })), errors: [] });
  });
  return r;
}

// -------------------------------------------------------------------------------------------------------
// Azure AD token endpoint (Defender and Graph)
// -------------------------------------------------------------------------------------------------------

function azureAdRouter(store: LabStore): Router {
  const r = express.Router();
  r.post('/:tenant/oauth2/v2.0/token', (req, res) => {
    const b = bodyOf(req);
    const { tenantId, clientId, clientSecret } = store.credentials.azure;
    if (req.params.tenant !== tenantId) {
      fail(res, 'azuread', 400, `AADSTS90002: Tenant '${req.params.tenant}' not found.`, 'invalid_request');
      return;
    }
    if (b.grant_type !== 'client_credentials') {
      fail(
        res,
        'azuread',
        400,
        'AADSTS70003: The app requested an unsupported grant type.',
        'unsupported_grant_type',
      );
      return;
    }
    if (b.client_id !== clientId || b.client_secret !== clientSecret) {
      fail(res, 'azuread', 401, 'AADSTS7000215: Invalid client secret provided.', 'invalid_client');
      return;
    }
    const scope = typeof b.scope === 'string' ? b.scope : '';
    const audience = scope.includes('graph.microsoft.com')
      ? 'graph'
      : /securitycenter|api\.security\.microsoft\.com/.test(scope)
        ? 'defender'
        : undefined;
    if (!audience) {
      fail(
        res,
        'azuread',
        400,
        `AADSTS70011: The provided value for scope ${scope} is not valid.`,
        'invalid_scope',
      );
      return;
    }
    const { token, expiresIn } = store.issueToken(audience);
    res.json({ token_type: 'Bearer', expires_in: expiresIn, ext_expires_in: expiresIn, access_token: token });
  });
  return r;
}

// -------------------------------------------------------------------------------------------------------
// Microsoft Defender for Endpoint
// -------------------------------------------------------------------------------------------------------

function defenderRouter(store: LabStore): Router {
  const r = express.Router();
  r.use(
    requireIssuedToken(store, 'defender', 'Authorization has been denied for this request.', 'Unauthorized'),
  );
  const machineJson = (h: LabHost) => ({
    id: h.machineId,
    computerDnsName: h.name,
    osPlatform: h.platform === 'Linux' ? 'Linux' : 'Windows11',
    healthStatus: 'Active',
    onboardingStatus: 'Onboarded',
    riskScore: 'None',
    exposureLevel: 'Low',
    lastSeen: new Date(store.now()).toISOString(),
  });
  const actionJson = (a: LabMachineAction) => {
    const { completesAt: _c, ...rest } = a;
    return {
      ...rest,
      lastUpdateDateTimeUtc:
        a.status === 'Succeeded' ? new Date(a.completesAt).toISOString() : a.creationDateTimeUtc,
    };
  };
  r.get('/api/machines', (req, res) => {
    const filter = str(req.query.$filter);
    let hosts: LabHost[];
    if (!filter) {
      hosts = store.hostList();
    } else {
      const eq = /^computerDnsName eq '((?:[^']|'')*)'$/.exec(filter);
      const sw = /^startswith\(computerDnsName,\s*'((?:[^']|'')*)'\)$/.exec(filter);
      if (eq) {
        const h = store.findHost((eq[1] ?? '').replace(/''/g, "'"));
        hosts = h ? [h] : [];
      } else if (sw) {
        hosts = store.hostsStartingWith((sw[1] ?? '').replace(/''/g, "'"));
      } else {
        fail(res, 'defender', 400, `Invalid filter clause: ${filter}`, 'InvalidRequestBody');
        return;
      }
    }
    res.json({
      '@odata.context': 'https://api.securitycenter.microsoft.com/api/$metadata#Machines',
      value: hosts.map(machineJson),
    });
  });
  r.get('/api/machines/:id', (req, res) => {
    const h = store.hostByMachineId(req.params.id);
    if (!h) {
      fail(res, 'defender', 404, `Machine ${req.params.id} was not found`, 'ResourceNotFound');
      return;
    }
    res.json(machineJson(h));
  });
  for (const [path, type] of [
    ['isolate', 'Isolate'],
    ['unisolate', 'Unisolate'],
  ] as const) {
    r.post(`/api/machines/:id/${path}`, (req, res) => {
      const h = store.hostByMachineId(req.params.id);
      if (!h) {
        fail(res, 'defender', 404, `Machine ${req.params.id} was not found`, 'ResourceNotFound');
        return;
      }
      const b = bodyOf(req);
      if (typeof b.Comment !== 'string' || !b.Comment.trim()) {
        fail(res, 'defender', 400, 'Comment is required', 'InvalidRequestBody');
        return;
      }
      let scope: string | undefined;
      if (type === 'Isolate') {
        scope =
          b.IsolationType === undefined ? 'Full' : typeof b.IsolationType === 'string' ? b.IsolationType : '';
        if (scope !== 'Full' && scope !== 'Selective') {
          fail(res, 'defender', 400, 'IsolationType must be Full or Selective', 'InvalidRequestBody');
          return;
        }
      }
      const latest = store
        .machineActions(h.machineId)
        .find((a) => a.type === 'Isolate' || a.type === 'Unisolate');
      if (latest && latest.status === 'Pending' && latest.type === type) {
        fail(res, 'defender', 400, 'Action is already in progress', 'ActiveRequestAlreadyExists');
        return;
      }
      const action = store.addMachineAction(h, type, b.Comment, scope, callOf(req), incidentOf(req));
      res.status(201).json(actionJson(action));
    });
  }
  r.get('/api/machineactions', (req, res) => {
    const filter = str(req.query.$filter);
    let machineId: string | undefined;
    if (filter) {
      const m = /^machineId eq '([^']*)'$/.exec(filter);
      if (!m) {
        fail(res, 'defender', 400, `Invalid filter clause: ${filter}`, 'InvalidRequestBody');
        return;
      }
      machineId = m[1];
    }
    res.json({
      '@odata.context': 'https://api.securitycenter.microsoft.com/api/$metadata#MachineActions',
      value: store.machineActions(machineId).map(actionJson),
    });
  });
  return r;
}

// -------------------------------------------------------------------------------------------------------
// Microsoft Graph
// -------------------------------------------------------------------------------------------------------

function graphRouter(store: LabStore): Router {
  const r = express.Router();
  r.use(
    requireIssuedToken(
      store,
      'graph',
      'Access token has expired or is not yet valid.',
      'InvalidAuthenticationToken',
    ),
  );
  const find = (req: Request, res: Response): LabAccount | undefined => {
    const key = String(req.params.key);
    const a = store.findAccount(key);
    if (!a) {
      fail(
        res,
        'graph',
        404,
        `Resource '${key}' does not exist or one of its queried reference-property objects are not present.`,
        'Request_ResourceNotFound',
      );
    }
    return a;
  };
  r.get('/v1.0/users/:key', (req, res) => {
    const a = find(req, res);
    if (!a) return;
    const full: Record<string, unknown> = {
      id: a.objectId,
      userPrincipalName: a.upn,
      displayName: a.login,
      mail: a.upn,
      accountEnabled: a.status !== 'SUSPENDED' && a.status !== 'DEPROVISIONED',
    };
    const select = str(req.query.$select);
    const body = select
      ? Object.fromEntries(select.split(',').map((k) => [k.trim(), full[k.trim()] ?? null]))
      : full;
    res.json({ '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#users/$entity', ...body });
  });
  r.patch('/v1.0/users/:key', (req, res) => {
    const a = find(req, res);
    if (!a) return;
    const b = bodyOf(req);
    if (b.accountEnabled !== undefined && typeof b.accountEnabled !== 'boolean') {
      fail(res, 'graph', 400, 'Invalid value for accountEnabled', 'Request_BadRequest');
      return;
    }
    if (typeof b.accountEnabled === 'boolean') {
      const incidentId = incidentOf(req);
      store.setAccountEnabled(a, b.accountEnabled, {
        vendor: 'graph',
        vendorAction: `accountEnabled=${b.accountEnabled}`,
        call: callOf(req),
        ...(incidentId ? { incidentId } : {}),
      });
    }
    res.status(204).end();
  });
  r.post('/v1.0/users/:key/revokeSignInSessions', (req, res) => {
    const a = find(req, res);
    if (!a) return;
    const incidentId = incidentOf(req);
    store.revokeSessions(a, {
      vendor: 'graph',
      vendorAction: 'revokeSignInSessions',
      call: callOf(req),
      ...(incidentId ? { incidentId } : {}),
    });
    res.json({ '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean', value: true });
  });
  return r;
}

// -------------------------------------------------------------------------------------------------------
// Okta
// -------------------------------------------------------------------------------------------------------

function oktaRouter(store: LabStore): Router {
  const r = express.Router();
  r.use((req, res, next) => {
    const h = req.get('authorization') ?? '';
    if (h !== `SSWS ${store.credentials.okta.apiToken}` || locals(res).authExpired) {
      fail(res, 'okta', 401, 'Invalid token provided', 'E0000011');
      return;
    }
    next();
  });
  const userJson = (a: LabAccount) => ({
    id: a.oktaId,
    status: a.status,
    created: '2024-01-15T09:00:00.000Z',
    activated: '2024-01-15T09:05:00.000Z',
    statusChanged: null,
    lastLogin: null,
    profile: { login: a.upn, email: a.upn, firstName: a.login.split(/[.-]/)[0] ?? a.login, lastName: 'Lab' },
    _links: { self: { href: `/api/v1/users/${a.oktaId}` } },
  });
  const find = (req: Request, res: Response): LabAccount | undefined => {
    const key = String(req.params.key);
    const a = store.findAccount(key);
    if (!a) fail(res, 'okta', 404, `Not found: Resource not found: ${key} (User)`, 'E0000007');
    return a;
  };
  r.get('/api/v1/users/:key', (req, res) => {
    const a = find(req, res);
    if (a) res.json(userJson(a));
  });
  r.post('/api/v1/users/:key/lifecycle/:op', (req, res) => {
    const op = req.params.op;
    if (op !== 'suspend' && op !== 'unsuspend') {
      fail(res, 'okta', 404, `Not found: Resource not found: lifecycle/${op}`, 'E0000007');
      return;
    }
    const a = find(req, res);
    if (!a) return;
    const allowed = op === 'suspend' ? a.status === 'ACTIVE' : a.status === 'SUSPENDED';
    if (!allowed) {
      res.status(400).json({
        errorCode: 'E0000001',
        errorSummary: 'Api validation failed: lifecycle',
        errorLink: 'E0000001',
        errorId: `oae${randomUUID().replace(/-/g, '').slice(0, 19)}`,
        errorCauses: [
          {
            errorSummary:
              op === 'suspend'
                ? 'Cannot suspend a user that is not active'
                : 'Cannot unsuspend a user that is not suspended',
          },
        ],
      });
      return;
    }
    const incidentId = incidentOf(req);
    store.setAccountEnabled(a, op === 'unsuspend', {
      vendor: 'okta',
      vendorAction: op,
      call: callOf(req),
      ...(incidentId ? { incidentId } : {}),
    });
    res.json({});
  });
  r.delete('/api/v1/users/:key/sessions', (req, res) => {
    const a = find(req, res);
    if (!a) return;
    const incidentId = incidentOf(req);
    store.revokeSessions(a, {
      vendor: 'okta',
      vendorAction: `clear sessions${req.query.oauthTokens === 'true' ? ' (oauthTokens=true)' : ''}`,
      call: callOf(req),
      ...(incidentId ? { incidentId } : {}),
    });
    res.status(204).end();
  });
  return r;
}

// -------------------------------------------------------------------------------------------------------
// Cloudflare IP Access Rules
// -------------------------------------------------------------------------------------------------------

const CF_MODES = new Set(['block', 'challenge', 'whitelist', 'js_challenge', 'managed_challenge']);

function cfValueValid(target: string, value: string): boolean {
  if (target === 'ip') return net.isIPv4(value);
  if (target === 'ip6') return net.isIPv6(value);
  if (target === 'ip_range') {
    const [addr, len, extra] = value.split('/');
    if (!addr || !len || extra !== undefined || !/^\d+$/.test(len)) return false;
    if (net.isIPv4(addr)) return ['16', '24'].includes(len);
    if (net.isIPv6(addr)) return ['32', '48', '64'].includes(len);
    return false;
  }
  if (target === 'asn') return /^AS\d+$/i.test(value);
  if (target === 'country') return /^[A-Z]{2}$/.test(value);
  return false;
}

function cloudflareRouter(store: LabStore): Router {
  const r = express.Router();
  r.use((req, res, next) => {
    if (bearer(req) !== store.credentials.cloudflare.apiToken || locals(res).authExpired) {
      fail(res, 'cloudflare', 403, 'Authentication error', 10000);
      return;
    }
    next();
  });
  const scopeOf = (req: Request, res: Response): { type: 'zone' | 'account'; id: string } | undefined => {
    const kind = req.params.scopeType;
    if (kind !== 'zones' && kind !== 'accounts') {
      fail(res, 'cloudflare', 404, 'No route for that URI', 7000);
      return undefined;
    }
    return { type: kind === 'zones' ? 'zone' : 'account', id: String(req.params.scopeId) };
  };
  const ruleJson = (rule: ReturnType<LabStore['accessRules']>[number]) => ({
    id: rule.id,
    paused: false,
    modified_on: rule.createdOn,
    allowed_modes: [...CF_MODES],
    mode: rule.mode,
    notes: rule.notes,
    configuration: rule.configuration,
    scope: { id: rule.scope.id, type: rule.scope.type },
    created_on: rule.createdOn,
  });
  const gatewayJson = (g: ReturnType<LabStore['gatewayRules']>[number]) => ({
    id: g.id,
    name: g.name,
    description: g.description,
    precedence: g.precedence,
    enabled: g.enabled,
    action: g.action,
    filters: g.filters,
    traffic: g.traffic,
    created_at: g.createdAt,
    updated_at: g.createdAt,
  });
  const gatewayBase = '/client/v4/accounts/:accountId/gateway/rules';
  r.get(gatewayBase, (req, res) => {
    res.json({
      success: true,
      errors: [],
      messages: [],
      result: store.gatewayRules(req.params.accountId).map(gatewayJson),
    });
  });
  r.post(gatewayBase, (req, res) => {
    const b = bodyOf(req);
    const filters = Array.isArray(b.filters)
      ? b.filters.filter((f): f is string => typeof f === 'string')
      : [];
    const action = typeof b.action === 'string' ? b.action : '';
    if (typeof b.name !== 'string' || !b.name || typeof b.traffic !== 'string' || !b.traffic.trim()) {
      fail(res, 'cloudflare', 400, 'gateway rule: name and traffic are required', 2001);
      return;
    }
    if (
      !['block', 'allow', 'override', 'safesearch', 'ytrestricted'].includes(action) ||
      !filters.includes('dns')
    ) {
      fail(res, 'cloudflare', 400, 'gateway rule: unsupported action or filters (lab: DNS policies)', 2001);
      return;
    }
    const incidentId = incidentOf(req);
    const rule = store.addGatewayRule(
      {
        accountId: String(req.params.accountId),
        name: b.name,
        description: typeof b.description === 'string' ? b.description : '',
        action,
        enabled: b.enabled !== false,
        filters,
        traffic: b.traffic.trim(),
      },
      { call: callOf(req), ...(incidentId ? { incidentId } : {}) },
    );
    res.json({ success: true, errors: [], messages: [], result: gatewayJson(rule) });
  });
  r.delete(`${gatewayBase}/:ruleId`, (req, res) => {
    const rule = store.gatewayRules(req.params.accountId).find((g) => g.id === req.params.ruleId);
    if (!rule) {
      fail(
        res,
        'cloudflare',
        404,
        `Could not route to ${req.path}, perhaps your object identifier is invalid?`,
        7003,
      );
      return;
    }
    const incidentId = incidentOf(req);
    store.deleteGatewayRule(rule.id, { call: callOf(req), ...(incidentId ? { incidentId } : {}) });
    res.json({ success: true, errors: [], messages: [], result: { id: rule.id } });
  });

  const base = '/client/v4/:scopeType/:scopeId/firewall/access_rules/rules';
  r.get(base, (req, res) => {
    const scope = scopeOf(req, res);
    if (!scope) return;
    const q = req.query as Record<string, unknown>;
    const checks: ((x: ReturnType<LabStore['accessRules']>[number]) => boolean)[] = [];
    // 'simple' query parsing keeps dotted keys; an app with the 'extended' parser nests them.
    const nested = (q.configuration ?? {}) as Record<string, unknown>;
    const target = str(q['configuration.target']) ?? str(nested.target);
    const value = str(q['configuration.value']) ?? str(nested.value);
    const mode = str(q.mode);
    const notes = str(q.notes);
    if (target) checks.push((x) => x.configuration.target === target);
    if (value) checks.push((x) => x.configuration.value === value);
    if (mode) checks.push((x) => x.mode === mode);
    if (notes) checks.push((x) => x.notes.includes(notes));
    const any = str(q.match) === 'any';
    const matched = store
      .accessRules(scope)
      .filter((x) => checks.length === 0 || (any ? checks.some((c) => c(x)) : checks.every((c) => c(x))));
    const perPage = Math.min(1000, Math.max(1, Number(str(q.per_page) ?? 20) || 20));
    const page = Math.max(1, Number(str(q.page) ?? 1) || 1);
    const slice = matched.slice((page - 1) * perPage, page * perPage);
    res.json({
      success: true,
      errors: [],
      messages: [],
      result: slice.map(ruleJson),
      result_info: {
        page,
        per_page: perPage,
        count: slice.length,
        total_count: matched.length,
        total_pages: Math.max(1, Math.ceil(matched.length / perPage)),
      },
    });
  });
  r.post(base, (req, res) => {
    const scope = scopeOf(req, res);
    if (!scope) return;
    const b = bodyOf(req);
    const mode = typeof b.mode === 'string' ? b.mode : '';
    const conf = (b.configuration ?? {}) as Record<string, unknown>;
    const target = typeof conf.target === 'string' ? conf.target : '';
    const value = typeof conf.value === 'string' ? conf.value : '';
    if (!CF_MODES.has(mode)) {
      fail(res, 'cloudflare', 400, 'firewallaccessrules.api.validation_error: invalid mode', 10003);
      return;
    }
    if (!cfValueValid(target, value)) {
      fail(
        res,
        'cloudflare',
        400,
        `firewallaccessrules.api.validation_error: invalid ${target || 'target'} value`,
        10003,
      );
      return;
    }
    if (
      store
        .accessRules(scope)
        .some((x) => x.configuration.target === target && x.configuration.value === value)
    ) {
      fail(res, 'cloudflare', 400, 'firewallaccessrules.api.duplicate_of_existing', 10009);
      return;
    }
    const incidentId = incidentOf(req);
    const rule = store.addAccessRule(
      { scope, mode, configuration: { target, value }, notes: typeof b.notes === 'string' ? b.notes : '' },
      { call: callOf(req), ...(incidentId ? { incidentId } : {}) },
    );
    res.json({ success: true, errors: [], messages: [], result: ruleJson(rule) });
  });
  r.delete(`${base}/:ruleId`, (req, res) => {
    const scope = scopeOf(req, res);
    if (!scope) return;
    const rule = store.accessRules(scope).find((x) => x.id === req.params.ruleId);
    if (!rule) {
      fail(
        res,
        'cloudflare',
        404,
        `Could not route to ${req.path}, perhaps your object identifier is invalid?`,
        7003,
      );
      return;
    }
    const incidentId = incidentOf(req);
    store.deleteAccessRule(rule.id, { call: callOf(req), ...(incidentId ? { incidentId } : {}) });
    res.json({ success: true, errors: [], messages: [], result: { id: rule.id } });
  });
  return r;
}

// -------------------------------------------------------------------------------------------------------
// Slack
// -------------------------------------------------------------------------------------------------------

function slackRouter(store: LabStore, channels: Map<string, string>): Router {
  const r = express.Router();
  r.post('/api/chat.postMessage', (req, res) => {
    const token = bearer(req) ?? str(bodyOf(req).token);
    if (!token) {
      res.json({ ok: false, error: 'not_authed' });
      return;
    }
    if (token !== store.credentials.slack.botToken || locals(res).authExpired) {
      res.json({ ok: false, error: 'invalid_auth' });
      return;
    }
    const b = bodyOf(req);
    const raw = typeof b.channel === 'string' ? b.channel.replace(/^#/, '') : '';
    const channelId = channels.get(raw) ?? ([...channels.values()].includes(raw) ? raw : undefined);
    if (!channelId) {
      res.json({ ok: false, error: 'channel_not_found' });
      return;
    }
    const text = typeof b.text === 'string' ? b.text : undefined;
    if (!text && !b.blocks) {
      res.json({ ok: false, error: 'no_text' });
      return;
    }
    const name = [...channels].find(([, id]) => id === channelId)?.[0] ?? raw;
    const msg = store.addMessage({
      kind: 'slack',
      channel: name,
      ...(text ? { text } : {}),
      ...(b.blocks ? { blocks: b.blocks } : {}),
    });
    res.json({
      ok: true,
      channel: channelId,
      ts: msg.ts,
      message: { type: 'message', text: text ?? '', ts: msg.ts },
    });
  });
  r.post('/webhook/:name', (req, res) => {
    if (locals(res).authExpired) {
      res.status(403).type('text/plain').send('invalid_token');
      return;
    }
    const b = bodyOf(req);
    const text = typeof b.text === 'string' ? b.text : undefined;
    if (!text && !b.blocks) {
      res.status(400).type('text/plain').send('no_text');
      return;
    }
    store.addMessage({
      kind: 'slack-webhook',
      channel: String(req.params.name),
      ...(text ? { text } : {}),
      ...(b.blocks ? { blocks: b.blocks } : {}),
    });
    res.status(200).type('text/plain').send('ok');
  });
  return r;
}

// -------------------------------------------------------------------------------------------------------
// PagerDuty Events v2
// -------------------------------------------------------------------------------------------------------

function pagerdutyRouter(store: LabStore): Router {
  const r = express.Router();
  r.post('/v2/enqueue', (req, res) => {
    if (locals(res).authExpired) {
      fail(res, 'pagerduty', 401, 'Invalid routing key', 'unauthorized');
      return;
    }
    const b = bodyOf(req);
    const errors: string[] = [];
    const routingKey = typeof b.routing_key === 'string' ? b.routing_key : '';
    if (!routingKey) errors.push("'routing_key' is missing or blank");
    const action = b.event_action;
    if (action !== 'trigger' && action !== 'acknowledge' && action !== 'resolve') {
      errors.push("'event_action' is invalid (must be one of trigger, acknowledge or resolve)");
    }
    let dedupKey = typeof b.dedup_key === 'string' ? b.dedup_key : undefined;
    if (dedupKey !== undefined && dedupKey.length > 255)
      errors.push("'dedup_key' is too long (must be 255 characters or less)");
    if (action !== 'trigger' && !dedupKey)
      errors.push("'dedup_key' is required for acknowledge and resolve events");
    const payload = (b.payload ?? undefined) as Record<string, unknown> | undefined;
    if (action === 'trigger') {
      if (!payload || typeof payload !== 'object') errors.push("'payload' is missing");
      else {
        if (typeof payload.summary !== 'string' || !payload.summary)
          errors.push("'payload.summary' is missing or blank");
        else if (payload.summary.length > 1024) errors.push("'payload.summary' is too long");
        if (typeof payload.source !== 'string' || !payload.source)
          errors.push("'payload.source' is missing or blank");
        if (!['critical', 'error', 'warning', 'info'].includes(String(payload.severity))) {
          errors.push("'payload.severity' is invalid (must be one of critical, error, warning or info)");
        }
      }
    }
    if (errors.length) {
      res.status(400).json({ status: 'invalid event', message: 'Event object is invalid', errors });
      return;
    }
    dedupKey ??= randomUUID().replace(/-/g, '');
    store.addPagerDutyEvent({
      eventAction: String(action),
      dedupKey,
      routingKeyHint: routingKey.slice(-4),
      ...(payload ? { payload } : {}),
    });
    res.status(202).json({ status: 'success', message: 'Event processed', dedup_key: dedupKey });
  });
  return r;
}

// -------------------------------------------------------------------------------------------------------
// Lab control plane
// -------------------------------------------------------------------------------------------------------

const ACCOUNT_STATUSES = new Set<LabAccountStatus>([
  'ACTIVE',
  'SUSPENDED',
  'DEPROVISIONED',
  'LOCKED_OUT',
  'STAGED',
  'PROVISIONED',
  'RECOVERY',
  'PASSWORD_EXPIRED',
]);

function labRouter(store: LabStore): Router {
  const r = express.Router();
  r.get('/', (_req, res) => {
    res.json({
      lab: 'Quell lab estate',
      vendors: LAB_PREFIXES,
      endpoints: [
        'GET /lab/state',
        'GET /lab/ledger?vendor=&target=&effect=&incidentId=',
        'GET /lab/calls?vendor=&method=&pathIncludes=',
        'GET|POST|DELETE /lab/faults, DELETE /lab/faults/:id',
        'GET /lab/logs/:host?from=&to=',
        'POST /lab/hosts {name, platform}',
        'POST /lab/accounts/:login/status {status}',
      ],
    });
  });
  r.get('/health', (_req, res) => {
    res.json({ ok: true });
  });
  r.get('/state', (_req, res) => {
    res.json(store.snapshot());
  });
  r.get('/ledger', (req, res) => {
    res.json({
      entries: store.ledger({
        vendor: str(req.query.vendor),
        target: str(req.query.target),
        effect: str(req.query.effect),
        incidentId: str(req.query.incidentId),
      }),
    });
  });
  r.get('/calls', (req, res) => {
    res.json({
      calls: store.calls({
        vendor: str(req.query.vendor),
        method: str(req.query.method),
        pathIncludes: str(req.query.pathIncludes),
      }),
    });
  });
  r.get('/faults', (_req, res) => {
    res.json({ rules: store.faults() });
  });
  r.post('/faults', (req, res) => {
    const b: unknown = req.body;
    const inputs: unknown[] = Array.isArray(b)
      ? b
      : b && typeof b === 'object' && Array.isArray((b as { rules?: unknown }).rules)
        ? (b as { rules: unknown[] }).rules
        : [b];
    try {
      const rules = inputs.map((i) => {
        if (!i || typeof i !== 'object') throw new Error('a fault rule must be an object');
        return store.addFault(i as LabFaultInput);
      });
      res.status(201).json({ rules });
    } catch (err) {
      res.status(400).json({ error: (err as Error).message });
    }
  });
  r.delete('/faults', (_req, res) => {
    store.clearFaults();
    res.status(204).end();
  });
  r.delete('/faults/:id', (req, res) => {
    res.status(store.removeFault(req.params.id) ? 204 : 404).end();
  });
  r.post('/hosts', (req, res) => {
    const b = bodyOf(req);
    try {
      const h = store.addHost(String(b.name), b.platform === 'Linux' ? 'Linux' : 'Windows');
      res.status(201).json({ name: h.name, deviceId: h.deviceId, machineId: h.machineId, status: h.status });
    } catch (err) {
      res.status(400).json({ error: (err as Error).message });
    }
  });
  r.post('/accounts/:login/status', (req, res) => {
    const status = bodyOf(req).status as LabAccountStatus;
    if (!ACCOUNT_STATUSES.has(status)) {
      res.status(400).json({ error: `status must be one of ${[...ACCOUNT_STATUSES].join(', ')}` });
      return;
    }
    try {
      const a = store.setAccountStatus(req.params.login, status);
      res.json({ login: a.login, status: a.status });
    } catch (err) {
      res.status(400).json({ error: (err as Error).message });
    }
  });
  r.get('/logs/:host', (req, res) => {
    const host = req.params.host;
    const from = Date.parse(str(req.query.from) ?? '');
    const to = Date.parse(str(req.query.to) ?? '');
    if (Number.isNaN(from) || Number.isNaN(to) || from > to) {
      res.status(400).json({ error: 'from and to must be ISO-8601 timestamps with from <= to' });
      return;
    }
    const h = store.findHost(host);
    if (!h) {
      res.status(404).json({ error: `unknown host ${host}` });
      return;
    }
    const lines = labLogLines(h.name, from, to);
    res.type('text/plain; charset=utf-8').send(lines.length ? `${lines.join('\n')}\n` : '');
  });
  return r;
}

// -------------------------------------------------------------------------------------------------------
// The whole lab
// -------------------------------------------------------------------------------------------------------

/**
 * An express Router speaking the lab estate: the vendors' HTTP contracts under their prefixes
 * (`/crowdstrike`, `/defender`, `/azuread`, `/graph`, `/okta`, `/cloudflare`, `/slack`, `/pagerduty`) and the
 * lab's own control plane under `/lab` (state, ledger, calls, faults, logs). Mount it at the root of an app
 * (the prefixes are part of the contract the lab's connectors are configured with).
 *
 * Fault rules apply to vendor prefixes only; per vendor they answer in the vendor's own shape:
 * - '5xx': 503; '4xx': 400 (a malformed-request refusal; Slack's Web API: 200 `invalid_arguments`);
 * - '429': 429 with `Retry-After` (Okta: `X-Rate-Limit-Reset`, epoch seconds);
 * - 'timeout': no answer for `holdMs` (default 30 s), then 504;
 * - 'slow_response': the request takes effect, its answer is held for `holdMs` (default 5 s);
 * - 'in_progress': Defender's 400 "Action is already in progress", Cloudflare's duplicate-rule 400 (10009),
 *   others a 409;
 * - 'auth_expired': invalidates the vendor's issued OAuth tokens (CrowdStrike, Defender, Graph), so the
 *   request at hand gets a 401 and the connector must refresh; for static credentials (Okta, Cloudflare,
 *   Slack, PagerDuty) the request at hand is refused as unauthenticated.
 */
export function createLabRouter(store: LabStore): Router {
  const router = express.Router();
  router.use(express.json({ limit: '1mb' }));
  router.use(express.urlencoded({ extended: false, limit: '256kb' }));
  const channels = new Map(
    LAB_SLACK_CHANNELS.map((name, i) => [name, `C0LAB${String(i + 1).padStart(4, '0')}`]),
  );
  router.use('/lab', labRouter(store));
  router.use(LAB_PREFIXES.crowdstrike, gate(store, 'crowdstrike'), crowdstrikeRouter(store));
  router.use(LAB_PREFIXES.azuread, gate(store, 'azuread'), azureAdRouter(store));
  router.use(LAB_PREFIXES.defender, gate(store, 'defender'), defenderRouter(store));
  router.use(LAB_PREFIXES.graph, gate(store, 'graph'), graphRouter(store));
  router.use(LAB_PREFIXES.okta, gate(store, 'okta'), oktaRouter(store));
  router.use(LAB_PREFIXES.cloudflare, gate(store, 'cloudflare'), cloudflareRouter(store));
  router.use(LAB_PREFIXES.slack, gate(store, 'slack'), slackRouter(store, channels));
  router.use(LAB_PREFIXES.pagerduty, gate(store, 'pagerduty'), pagerdutyRouter(store));
  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const status = (err as { status?: number }).status ?? 500;
    res
      .status(status >= 400 && status < 600 ? status : 500)
      .json({ error: (err as Error).message || 'error' });
  });
  return router;
}
