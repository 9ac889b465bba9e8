import express, { type Request, type Response, type Router } from 'express';
import { bodyOf, callOf, fail, incidentOf, requireIssuedToken, str } from '../http';
import type { LabHost, LabMachineAction } from '../estate/hosts';
import type { LabStore } from '../store';

function machineJson(store: LabStore, h: LabHost) {
  return {
    id: h.machineId,
    computerDnsName: h.name,
    osPlatform: h.platform === 'Linux' ? 'Linux' : 'Windows11',
    healthStatus: 'Active',
    onboardingStatus: 'Onboarded',
    riskScore: 'None',
    exposureLevel: 'Low',
    lastSeen: new Date(store.now()).toISOString(),
  };
}

function actionJson(a: LabMachineAction) {
  const { completesAt: _c, ...rest } = a;
  return {
    ...rest,
    lastUpdateDateTimeUtc:
      a.status === 'Succeeded' ? new Date(a.completesAt).toISOString() : a.creationDateTimeUtc,
  };
}

/** The hosts an OData `$filter` on machines selects (`computerDnsName eq` or `startswith`); undefined if unsupported. */
function machinesMatching(store: LabStore, filter: string | undefined): LabHost[] | undefined {
  if (!filter) return store.hostList();
  const eq = /^computerDnsName eq '((?:[^']|'')*)'$/.exec(filter);
  if (eq) {
    const h = store.findHost((eq[1] ?? '').replace(/''/g, "'"));
    return h ? [h] : [];
  }
  const sw = /^startswith\(computerDnsName,\s*'((?:[^']|'')*)'\)$/.exec(filter);
  if (sw) return store.hostsStartingWith((sw[1] ?? '').replace(/''/g, "'"));
  return undefined;
}

/** `POST /api/machines/:id/isolate|unisolate`: a machine action, refused while the same one is pending. */
function machineAction(store: LabStore, type: 'Isolate' | 'Unisolate') {
  return (req: Request<{ id: string }>, res: Response): void => {
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
  };
}

/** The lab's Microsoft Defender for Endpoint: machines, isolate/unisolate, machine actions. */
export function defenderRouter(store: LabStore): Router {
  const r = express.Router();
  r.use(
    requireIssuedToken(store, 'defender', 'Authorization has been denied for this request.', 'Unauthorized'),
  );
  r.get('/api/machines', (req, res) => {
    const filter = str(req.query.$filter);
    const hosts = machinesMatching(store, filter);
    if (!hosts) {
      fail(res, 'defender', 400, `Invalid filter clause: ${filter}`, 'InvalidRequestBody');
      return;
    }
    res.json({
      '@odata.context': 'https://api.securitycenter.microsoft.com/api/$metadata#Machines',
      value: hosts.map((h) => machineJson(store, h)),
    });
  });
  r.get('/api/machines/:id', (req, res) => {
    const h = store.hostByMachineId(req.params.id);
    if (!h) {
      fail(res, 'defender', 404, `Machine ${req.params.id} was not found`, 'ResourceNotFound');
      return;
    }
    res.json(machineJson(store, h));
  });
  r.post('/api/machines/:id/isolate', machineAction(store, 'Isolate'));
  r.post('/api/machines/:id/unisolate', machineAction(store, 'Unisolate'));
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
