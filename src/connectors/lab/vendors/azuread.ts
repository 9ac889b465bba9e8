import express, { type Router } from 'express';
import { bodyOf, fail } from '../http';
import type { LabStore } from '../store';

/** The lab's Azure AD token endpoint, for the Defender and Graph audiences (client credentials). */
export function azureAdRouter(store: LabStore): Router {
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
