import express, { type Request, type Response, type Router } from 'express';
import { callOf, fail, incidentField, locals, oktaErrorId } from '../http';
import type { LabAccount } from '../estate/accounts';
import type { LabStore } from '../store';

function userJson(a: LabAccount) {
  return {
    id: a.oktaId,
    status: a.status,
    created: '2024-01-15T09:00:00.000Z',
    activated: '2024-01-15T09:05:00.000Z',
    statusChanged: null,
    lastLogin: null,
    profile: { login: a.upn, email: a.upn, firstName: a.login.split(/[.-]/)[0] ?? a.login, lastName: 'Lab' },
    _links: { self: { href: `/api/v1/users/${a.oktaId}` } },
  };
}

/** The lab's Okta: users, lifecycle suspend/unsuspend, sessions (API token auth). */
export function oktaRouter(store: LabStore): Router {
  const r = express.Router();
  r.use((req, res, next) => {
    const h = req.get('authorization') ?? '';
    if (h !== `SSWS ${store.credentials.okta.apiToken}` || locals(res).authExpired) {
      fail(res, 'okta', 401, 'Invalid token provided', 'E0000011');
      return;
    }
    next();
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
        errorId: oktaErrorId(),
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
    store.setAccountEnabled(a, op === 'unsuspend', {
      vendor: 'okta',
      vendorAction: op,
      call: callOf(req),
      ...incidentField(req),
    });
    res.json({});
  });
  r.delete('/api/v1/users/:key/sessions', (req, res) => {
    const a = find(req, res);
    if (!a) return;
    store.revokeSessions(a, {
      vendor: 'okta',
      vendorAction: `clear sessions${req.query.oauthTokens === 'true' ? ' (oauthTokens=true)' : ''}`,
      call: callOf(req),
      ...incidentField(req),
    });
    res.status(204).end();
  });
  return r;
}
