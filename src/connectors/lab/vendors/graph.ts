import express, { type Request, type Response, type Router } from 'express';
import { bodyOf, callOf, fail, incidentField, requireIssuedToken, str } from '../http';
import type { LabAccount } from '../estate/accounts';
import type { LabStore } from '../store';

/** The lab's Microsoft Graph: users, accountEnabled, revokeSignInSessions. */
export function graphRouter(store: LabStore): Router {
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
      store.setAccountEnabled(a, b.accountEnabled, {
        vendor: 'graph',
        vendorAction: `accountEnabled=${b.accountEnabled}`,
        call: callOf(req),
        ...incidentField(req),
      });
    }
    res.status(204).end();
  });
  r.post('/v1.0/users/:key/revokeSignInSessions', (req, res) => {
    const a = find(req, res);
    if (!a) return;
    store.revokeSessions(a, {
      vendor: 'graph',
      vendorAction: 'revokeSignInSessions',
      call: callOf(req),
      ...incidentField(req),
    });
    res.json({ '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean', value: true });
  });
  return r;
}
