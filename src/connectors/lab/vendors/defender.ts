import express, { type Request, type Response, type Router } from 'express';
import { bodyOf, callOf, fail, incidentOf, requireIssuedToken, str } from '../http';
import type { LabHost, LabMachineAction, LabResponseActionType } from '../estate/hosts';
import { labInvestigationPackage } from '../package';
import type { LabStore } from '../store';

/** How long the lab's package download URIs stay valid (Defender: "a short time"). */
const PACKAGE_URI_TTL_MS = 10 * 60_000;

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
  const { completesAt: _c, startsAt: _s, outcome: _o, packageToken: _p, ...rest } = a;
  const updated =
    a.status === 'Pending'
      ? undefined
      : a.status === 'InProgress'
        ? (a.startsAt ?? a.completesAt)
        : a.completesAt;
  return {
    ...rest,
    lastUpdateDateTimeUtc: updated === undefined ? a.creationDateTimeUtc : new Date(updated).toISOString(),
  };
}

const RUNNING = new Set<LabMachineAction['status']>(['Pending', 'InProgress']);
const SHA1_RE = /^[0-9a-fA-F]{40}$/;

/** The machine a machine action names and its request body, or undefined once refused (unknown machine, no Comment). */
function machineWithComment(store: LabStore, req: Request<{ id: string }>, res: Response) {
  const h = store.hostByMachineId(req.params.id);
  if (!h) {
    fail(res, 'defender', 404, `Machine ${req.params.id} was not found`, 'ResourceNotFound');
    return undefined;
  }
  const b = bodyOf(req);
  if (typeof b.Comment !== 'string' || !b.Comment.trim()) {
    fail(res, 'defender', 400, 'Comment is required', 'InvalidRequestBody');
    return undefined;
  }
  return { h, b: b as typeof b & { Comment: string } };
}

/**
 * `POST /api/machines/:id/runAntiVirusScan | StopAndQuarantineFile | collectInvestigationPackage`: a response
 * action, answered 201 with the MachineAction; a repeat while one of the type (for the same file) is Pending
 * or InProgress is 400 "Action is already in progress", as the docs say of repeated scans.
 */
function responseAction(store: LabStore, type: LabResponseActionType) {
  return (req: Request<{ id: string }>, res: Response): void => {
    const target = machineWithComment(store, req, res);
    if (!target) return;
    const { h, b } = target;
    let scope: string | undefined;
    let sha1: string | undefined;
    if (type === 'RunAntiVirusScan') {
      if (b.ScanType !== 'Quick' && b.ScanType !== 'Full') {
        fail(res, 'defender', 400, 'ScanType must be Quick or Full', 'InvalidRequestBody');
        return;
      }
      scope = b.ScanType;
    }
    if (type === 'StopAndQuarantineFile') {
      if (typeof b.Sha1 !== 'string' || !SHA1_RE.test(b.Sha1)) {
        fail(res, 'defender', 400, 'Sha1 must be a SHA-1 hash', 'InvalidRequestBody');
        return;
      }
      sha1 = b.Sha1.toLowerCase();
    }
    const running = store
      .machineActions(h.machineId)
      .find(
        (a) =>
          a.type === type &&
          RUNNING.has(a.status) &&
          (sha1 === undefined || a.relatedFileInfo?.fileIdentifier === sha1),
      );
    if (running) {
      fail(res, 'defender', 400, 'Action is already in progress', 'ActiveRequestAlreadyExists');
      return;
    }
    const incidentId = incidentOf(req);
    const action = store.addResponseAction(h, {
      type,
      comment: b.Comment,
      ...(scope ? { scope } : {}),
      ...(sha1 ? { sha1 } : {}),
      call: callOf(req),
      ...(incidentId ? { incidentId } : {}),
    });
    res.status(201).json(actionJson(action));
  };
}

/**
 * `GET /userrequests/:id/package.zip?se=&sig=`: the package at its "SAS URI". It stands for Azure blob
 * storage, so it takes no bearer token: a request that carries one is refused (which is how tests see that
 * the connector keeps its token to the API).
 */
function packageDownload(store: LabStore) {
  return (req: Request<{ id: string }>, res: Response): void => {
    if (req.get('authorization')) {
      res.status(400).type('text/plain').send('a SAS request must not carry an Authorization header');
      return;
    }
    const a = store.machineAction(req.params.id);
    const expires = Date.parse(str(req.query.se) ?? '');
    if (
      !a ||
      a.type !== 'CollectInvestigationPackage' ||
      a.status !== 'Succeeded' ||
      str(req.query.sig) !== a.packageToken ||
      !(expires > store.now())
    ) {
      res.status(403).type('text/plain').send('AuthenticationFailed');
      return;
    }
    res.type('application/zip').send(labInvestigationPackage(a.computerDnsName));
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
    const target = machineWithComment(store, req, res);
    if (!target) return;
    const { h, b } = target;
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
  r.get('/userrequests/:id/package.zip', packageDownload(store));
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
  r.post('/api/machines/:id/runAntiVirusScan', responseAction(store, 'RunAntiVirusScan'));
  r.post('/api/machines/:id/StopAndQuarantineFile', responseAction(store, 'StopAndQuarantineFile'));
  r.post(
    '/api/machines/:id/collectInvestigationPackage',
    responseAction(store, 'CollectInvestigationPackage'),
  );
  r.get('/api/machineactions/:id/GetPackageUri', (req, res) => {
    const a = store.machineAction(req.params.id);
    // Defender: 404 while the collection's action exists but has not completed.
    if (!a || a.type !== 'CollectInvestigationPackage' || a.status !== 'Succeeded' || !a.packageToken) {
      fail(res, 'defender', 404, `Package for action ${req.params.id} was not found`, 'ResourceNotFound');
      return;
    }
    const se = new Date(store.now() + PACKAGE_URI_TTL_MS).toISOString();
    const base = `${req.protocol}://${req.get('host') ?? 'localhost'}${req.baseUrl}`;
    res.json({
      '@odata.context': 'https://api.securitycenter.microsoft.com/api/$metadata#Edm.String',
      value: `${base}/userrequests/${encodeURIComponent(a.id)}/package.zip?se=${encodeURIComponent(se)}&sig=${a.packageToken}`,
    });
  });
  r.get('/api/machineactions/:id', (req, res) => {
    const a = store.machineAction(req.params.id);
    if (!a) {
      fail(res, 'defender', 404, `Machine action ${req.params.id} was not found`, 'ResourceNotFound');
      return;
    }
    res.json({
      '@odata.context': 'https://api.securitycenter.microsoft.com/api/$metadata#MachineActions/$entity',
      ...actionJson(a),
    });
  });
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
