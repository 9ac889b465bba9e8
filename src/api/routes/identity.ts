/** Who the caller is: the verified subject and roles behind the bearer token (the console shows them). */
import { ROLES } from '../../domain/incident';
import { defineRoute, type RouteSpec } from '../route-spec';
import { meSchema } from '../schemas';

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

export function identityRoutes(): RouteSpec[] {
  return [me()];
}
