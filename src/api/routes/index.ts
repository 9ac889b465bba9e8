/**
 * Every route of the API, one file per domain (as Tracecat keeps a router per domain). app.ts registers
 * routes from this table and openapi.ts documents it, so the document cannot drift from what is served.
 */
import type { RouteDeps, RouteSpec } from '../route-spec';
import { alertRoutes } from './alerts';
import { auditRoutes } from './audit';
import { codecRoutes } from './codec';
import { identityRoutes } from './identity';
import { incidentRoutes } from './incidents';
import { integrationRoutes } from './integrations';
import { operationsRoutes } from './operations';
import { responderRoutes } from './responders';

export type { AuditOperations, RouteDeps, RouteSpec } from '../route-spec';

/** The API's routes. Their order is the document's path order and the order express registers them in. */
export function apiRoutes(deps: RouteDeps): RouteSpec[] {
  return [
    ...operationsRoutes(deps),
    ...identityRoutes(deps),
    ...alertRoutes(deps),
    ...incidentRoutes(deps),
    ...responderRoutes(deps),
    ...auditRoutes(deps),
    ...codecRoutes(deps),
    ...integrationRoutes(deps),
  ];
}
