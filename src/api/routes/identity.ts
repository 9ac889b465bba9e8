/**
 * Identity: who the caller is (the verified subject and roles behind the bearer token, which the console shows),
 * and, before anyone is signed in, how to sign in.
 */
import { ROLES } from '../../domain/incident';
import { identityProviderUnavailable } from '../auth';
import { OidcUnavailable } from '../oidc';
import { defineRoute, type RouteDeps, type RouteSpec } from '../route-spec';
import { meSchema, signInOptionsSchema } from '../schemas';

const me = (): RouteSpec =>
  defineRoute({
    operationId: 'me',
    method: 'get',
    path: '/api/v1/me',
    tag: 'identity',
    summary: 'The verified caller: subject and roles.',
    auth: 'bearer',
    roles: ROLES,
    usesIncidents: false,
    responses: { 200: { description: 'The caller.', schema: meSchema } },
    handle: async ({ actor }) => ({ status: 200, json: { subject: actor.subject, roles: actor.roles } }),
  });

const signInOptions = ({ consoleSignIn }: Pick<RouteDeps, 'consoleSignIn'>): RouteSpec =>
  defineRoute({
    operationId: 'signInOptions',
    method: 'get',
    path: '/api/v1/auth/config',
    tag: 'identity',
    summary:
      'How the console signs people in: API tokens, and the OpenID Connect client when QUELL_OIDC_CLIENT_ID is set.',
    auth: 'public',
    roles: [],
    usesIncidents: false,
    responses: { 200: { description: 'The sign-in options.', schema: signInOptionsSchema } },
    errors: { 503: 'The identity provider cannot be reached (its discovery document).' },
    handle: async () => {
      try {
        const oidc = await consoleSignIn?.();
        return { status: 200, json: { token: true, ...(oidc ? { oidc } : {}) } };
      } catch (err) {
        if (err instanceof OidcUnavailable) throw identityProviderUnavailable(err);
        throw err;
      }
    },
  });

export function identityRoutes(deps: Pick<RouteDeps, 'consoleSignIn'>): RouteSpec[] {
  return [me(), signInOptions(deps)];
}
