import net from 'node:net';
import express, { type Request, type Response, type Router } from 'express';
import { bearer, bodyOf, callOf, fail, incidentField, locals, str } from '../http';
import type { LabAccessRule, LabGatewayRule } from '../estate/blocklists';
import type { LabStore } from '../store';

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

function ruleJson(rule: LabAccessRule) {
  return {
    id: rule.id,
    paused: false,
    modified_on: rule.createdOn,
    allowed_modes: [...CF_MODES],
    mode: rule.mode,
    notes: rule.notes,
    configuration: rule.configuration,
    scope: { id: rule.scope.id, type: rule.scope.type },
    created_on: rule.createdOn,
  };
}

function gatewayJson(g: LabGatewayRule) {
  return {
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
  };
}

const ok = (result: unknown) => ({ success: true, errors: [], messages: [], result });

function notFound(req: Request, res: Response): void {
  fail(
    res,
    'cloudflare',
    404,
    `Could not route to ${req.path}, perhaps your object identifier is invalid?`,
    7003,
  );
}

/** Zero Trust Gateway rules of an account (DNS policies: how the lab blocks domains). */
function gatewayRoutes(r: Router, store: LabStore): void {
  const base = '/client/v4/accounts/:accountId/gateway/rules';
  r.get(base, (req, res) => {
    res.json(ok(store.gatewayRules(req.params.accountId).map(gatewayJson)));
  });
  r.post(base, (req, res) => {
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
      { call: callOf(req), ...incidentField(req) },
    );
    res.json(ok(gatewayJson(rule)));
  });
  r.delete(`${base}/:ruleId`, (req, res) => {
    const rule = store.gatewayRules(req.params.accountId).find((g) => g.id === req.params.ruleId);
    if (!rule) {
      notFound(req, res);
      return;
    }
    store.deleteGatewayRule(rule.id, { call: callOf(req), ...incidentField(req) });
    res.json(ok({ id: rule.id }));
  });
}

type Scope = LabAccessRule['scope'];

function scopeOf(req: Request, res: Response): Scope | undefined {
  const kind = req.params.scopeType;
  if (kind !== 'zones' && kind !== 'accounts') {
    fail(res, 'cloudflare', 404, 'No route for that URI', 7000);
    return undefined;
  }
  return { type: kind === 'zones' ? 'zone' : 'account', id: String(req.params.scopeId) };
}

/** The rules a list query selects: every filter given (or, with `match=any`, any of them). */
function matchingRules(store: LabStore, scope: Scope, q: Record<string, unknown>): LabAccessRule[] {
  const checks: ((x: LabAccessRule) => boolean)[] = [];
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
  return store
    .accessRules(scope)
    .filter((x) => checks.length === 0 || (any ? checks.some((c) => c(x)) : checks.every((c) => c(x))));
}

/** IP Access Rules of a zone or an account. */
function accessRuleRoutes(r: Router, store: LabStore): void {
  const base = '/client/v4/:scopeType/:scopeId/firewall/access_rules/rules';
  r.get(base, (req, res) => {
    const scope = scopeOf(req, res);
    if (!scope) return;
    const q = req.query as Record<string, unknown>;
    const matched = matchingRules(store, scope, q);
    const perPage = Math.min(1000, Math.max(1, Number(str(q.per_page) ?? 20) || 20));
    const page = Math.max(1, Number(str(q.page) ?? 1) || 1);
    const slice = matched.slice((page - 1) * perPage, page * perPage);
    res.json({
      ...ok(slice.map(ruleJson)),
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
    const rule = store.addAccessRule(
      { scope, mode, configuration: { target, value }, notes: typeof b.notes === 'string' ? b.notes : '' },
      { call: callOf(req), ...incidentField(req) },
    );
    res.json(ok(ruleJson(rule)));
  });
  r.delete(`${base}/:ruleId`, (req, res) => {
    const scope = scopeOf(req, res);
    if (!scope) return;
    const rule = store.accessRules(scope).find((x) => x.id === req.params.ruleId);
    if (!rule) {
      notFound(req, res);
      return;
    }
    store.deleteAccessRule(rule.id, { call: callOf(req), ...incidentField(req) });
    res.json(ok({ id: rule.id }));
  });
}

/** The lab's Cloudflare: IP Access Rules (zone or account) and Gateway DNS rules, with the API token. */
export function cloudflareRouter(store: LabStore): Router {
  const r = express.Router();
  r.use((req, res, next) => {
    if (bearer(req) !== store.credentials.cloudflare.apiToken || locals(res).authExpired) {
      fail(res, 'cloudflare', 403, 'Authentication error', 10000);
      return;
    }
    next();
  });
  gatewayRoutes(r, store);
  accessRuleRoutes(r, store);
  return r;
}
