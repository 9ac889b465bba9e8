import { randomUUID } from 'node:crypto';
import express, { type Router } from 'express';
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

/** The lab's CrowdStrike Falcon: OAuth2 token, device queries and entities, containment actions. */
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
  return r;
}
