import { randomUUID } from 'node:crypto';
import express, { type Router } from 'express';
import type { LabScan } from '../estate/falcon';
import { bodyOf, callOf, fail, incidentField, requireIssuedToken, str, strList } from '../http';
import type { LabHost } from '../estate/hosts';
import type { LabStore } from '../store';

const meta = () => ({ query_time: 0.001, powered_by: 'quell-lab', trace_id: randomUUID() });

function deviceJson(store: LabStore, h: LabHost) {
  return {
    device_id: h.deviceId,
    hostname: h.name,
    platform_name: h.platform,
    status: h.status,
    first_seen: h.firstSeen,
    last_seen: new Date(store.now()).toISOString(),
    product_type_desc: h.name.startsWith('srv-') || h.name.startsWith('dc-') ? 'Server' : 'Workstation',
  };
}

/**
 * The FQL the lab understands: `field:'value'` and `field:['a','b']` terms joined by `+` (AND). Undefined
 * for anything else.
 */
function parseFql(filter: string): { field: string; values: string[] }[] | undefined {
  const terms: { field: string; values: string[] }[] = [];
  const re = /^([a-z_.]+):(?:'((?:[^'\\]|\\.)*)'|\[((?:'(?:[^'\\]|\\.)*',?)*)\])(?:\+|$)/;
  let rest = filter;
  while (rest) {
    const m = re.exec(rest);
    if (!m) return undefined;
    const unescape = (v: string) => v.replace(/\\(.)/g, '$1');
    const values =
      m[2] !== undefined
        ? [unescape(m[2])]
        : [...(m[3] ?? '').matchAll(/'((?:[^'\\]|\\.)*)'/g)].map((x) => unescape(x[1] ?? ''));
    terms.push({ field: m[1]!, values });
    rest = rest.slice(m[0].length);
  }
  return terms.length ? terms : undefined;
}

const IOC_TYPES = new Set(['sha256', 'md5', 'domain', 'ipv4', 'ipv6']);
const IOC_ACTIONS = new Set(['no_action', 'allow', 'prevent_no_ui', 'detect', 'prevent']);
const IOC_PLATFORMS = new Set(['windows', 'mac', 'linux', 'ios', 'android']);
const HASH_FORMAT: Record<string, RegExp> = { sha256: /^[0-9a-fA-F]{64}$/, md5: /^[0-9a-fA-F]{32}$/ };

function scanJson(s: LabScan) {
  const { startsAt: _s, completesAt: _c, outcome: _o, ...rest } = s;
  return rest;
}

/** Custom IOCs: `GET /iocs/combined/indicator/v1`, `POST|DELETE /iocs/entities/indicators/v1`. */
function iocRoutes(r: Router, store: LabStore): void {
  r.get('/iocs/combined/indicator/v1', (req, res) => {
    const filter = str(req.query.filter);
    const terms = filter === undefined ? [] : parseFql(filter);
    if (!terms || terms.some((t) => !['type', 'value', 'action', 'source'].includes(t.field))) {
      fail(
        res,
        'crowdstrike',
        400,
        `invalid filter ${JSON.stringify(filter)} (lab: type, value, action, source)`,
      );
      return;
    }
    const resources = store
      .falconIndicators()
      .filter((i) =>
        terms.every((t) =>
          t.values.some((v) => String(i[t.field as 'type']).toLowerCase() === v.toLowerCase()),
        ),
      );
    res.json({
      meta: { ...meta(), pagination: { offset: 0, limit: 100, total: resources.length } },
      resources,
      errors: [],
    });
  });
  r.post('/iocs/entities/indicators/v1', (req, res) => {
    const b = bodyOf(req);
    const list = Array.isArray(b.indicators) ? (b.indicators as unknown[]) : [];
    if (list.length !== 1 || !list[0] || typeof list[0] !== 'object') {
      fail(res, 'crowdstrike', 400, 'indicators must hold one indicator (lab)');
      return;
    }
    const i = list[0] as Record<string, unknown>;
    const type = str(i.type) ?? '';
    const value = (str(i.value) ?? '').trim();
    const action = str(i.action) ?? '';
    const platforms = strList(i.platforms);
    const hostGroups = strList(i.host_groups);
    const problem = !IOC_TYPES.has(type)
      ? `unsupported type ${JSON.stringify(type)}`
      : !value || (HASH_FORMAT[type] && !HASH_FORMAT[type].test(value))
        ? `invalid ${type} value`
        : !IOC_ACTIONS.has(action)
          ? `invalid action ${JSON.stringify(action)}`
          : (action === 'prevent' || action === 'detect') && !str(i.severity)
            ? 'severity is required for this action'
            : platforms.length === 0 || platforms.some((p) => !IOC_PLATFORMS.has(p))
              ? 'platforms must list windows, mac, linux, ios or android'
              : (i.applied_globally === true) === hostGroups.length > 0
                ? 'exactly one of applied_globally and host_groups'
                : undefined;
    if (problem) {
      fail(res, 'crowdstrike', 400, problem);
      return;
    }
    const normalized = HASH_FORMAT[type] ? value.toLowerCase() : value;
    if (store.findFalconIndicator(type, normalized)) {
      // The lab's wording; Falcon refuses a duplicate type/value pair with a 400.
      fail(res, 'crowdstrike', 400, `Duplicate type: '${type}' and value: '${normalized}' combination.`);
      return;
    }
    const ioc = store.addFalconIndicator(
      {
        type,
        value: normalized,
        action,
        ...(str(i.severity) ? { severity: str(i.severity) } : {}),
        platforms,
        applied_globally: i.applied_globally === true,
        host_groups: hostGroups,
        ...(str(i.source) ? { source: str(i.source) } : {}),
        ...(str(i.description) ? { description: str(i.description) } : {}),
      },
      { call: callOf(req), ...incidentField(req), ...(str(b.comment) ? { comment: str(b.comment) } : {}) },
    );
    res.status(201).json({ meta: meta(), resources: [ioc], errors: [] });
  });
  r.delete('/iocs/entities/indicators/v1', (req, res) => {
    const ids = strList(req.query.ids);
    if (ids.length === 0) {
      fail(res, 'crowdstrike', 400, 'ids is required');
      return;
    }
    const comment = str(req.query.comment);
    const deleted = ids
      .map((id) =>
        store.deleteFalconIndicator(id, {
          call: callOf(req),
          ...incidentField(req),
          ...(comment ? { comment } : {}),
        }),
      )
      .filter(Boolean);
    if (deleted.length === 0) {
      fail(res, 'crowdstrike', 404, 'Indicator not found.');
      return;
    }
    res.json({ meta: meta(), resources: deleted.map((d) => d!.id), errors: [] });
  });
}

/** On-demand scans: `POST|GET /ods/entities/scans/v1`, `GET /ods/queries/scans/v1`. */
function odsRoutes(r: Router, store: LabStore): void {
  r.post('/ods/entities/scans/v1', (req, res) => {
    const b = bodyOf(req);
    const ids = strList(b.hosts);
    const paths = strList(b.file_paths);
    if (ids.length === 0 || paths.length === 0) {
      fail(res, 'crowdstrike', 400, 'hosts and file_paths are required (lab)');
      return;
    }
    const hosts = ids.map((id) => store.hostByDeviceId(id));
    if (hosts.some((h) => !h)) {
      fail(res, 'crowdstrike', 404, 'Device not found.');
      return;
    }
    const scan = store.addScan(
      {
        hosts: ids,
        file_paths: paths,
        description: str(b.description) ?? '',
        ...(str(b.initiated_from) ? { initiated_from: str(b.initiated_from) } : {}),
        quarantine: b.quarantine === true,
      },
      hosts as LabHost[],
      { call: callOf(req), ...incidentField(req) },
    );
    res.status(201).json({ meta: meta(), resources: [scanJson(scan)], errors: [] });
  });
  r.get('/ods/entities/scans/v1', (req, res) => {
    const found = strList(req.query.ids)
      .map((id) => store.scan(id))
      .filter((s): s is LabScan => Boolean(s));
    if (found.length === 0) {
      fail(res, 'crowdstrike', 404, 'Scan not found.');
      return;
    }
    res.json({ meta: meta(), resources: found.map(scanJson), errors: [] });
  });
  r.get('/ods/queries/scans/v1', (req, res) => {
    const filter = str(req.query.filter);
    const terms = filter === undefined ? [] : parseFql(filter);
    if (!terms || terms.some((t) => t.field !== 'status' && t.field !== 'description.keyword')) {
      fail(
        res,
        'crowdstrike',
        400,
        `invalid filter ${JSON.stringify(filter)} (lab: status, description.keyword)`,
      );
      return;
    }
    const resources = store
      .scans()
      .filter((s) => terms.every((t) => t.values.includes(t.field === 'status' ? s.status : s.description)))
      .map((s) => s.id);
    res.json({
      meta: { ...meta(), pagination: { offset: 0, limit: 500, total: resources.length } },
      resources,
      errors: [],
    });
  });
}

/**
 * The lab's CrowdStrike Falcon: OAuth2 token, device queries and entities, containment actions, custom IOCs
 * and on-demand scans.
 */
export function crowdstrikeRouter(store: LabStore): Router {
  const r = express.Router();
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
    res.json({ meta: meta(), resources: found.map((h) => deviceJson(store, h)), errors: [] });
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
    for (const h of hosts as LabHost[]) {
      store.setContainment(h, action === 'contain' ? 'contain' : 'release', {
        vendor: 'crowdstrike',
        vendorAction: action,
        call: callOf(req),
        vendorRef: h.deviceId,
        ...incidentField(req),
      });
    }
    res.status(202).json({ meta: meta(), resources: ids.map((id) => ({ id, path: '' })), errors: [] });
  });
  iocRoutes(r, store);
  odsRoutes(r, store);
  return r;
}
