/** Reading incidents: the list (filtered, paged) and one incident's full state. */
import {
  defineRoute,
  ENCRYPTION_KEY_UNAVAILABLE,
  INCIDENT_READERS,
  type RouteDeps,
  type RouteSpec,
} from '../route-spec';
import { incidentListSchema, incidentParams, incidentStateSchema, listQuery } from '../schemas';

const listIncidents = ({ incidents }: Pick<RouteDeps, 'incidents'>): RouteSpec =>
  defineRoute({
    operationId: 'listIncidents',
    method: 'get',
    path: '/api/v1/incidents',
    tag: 'incidents',
    summary: 'List incidents, newest first, with optional filters.',
    auth: 'bearer',
    roles: INCIDENT_READERS,
    query: listQuery,
    usesIncidents: true,
    responses: { 200: { description: 'A page of incidents.', schema: incidentListSchema } },
    handle: async ({ query }) => {
      const page = await incidents.list({
        limit: query.limit,
        ...(query.status ? { status: query.status } : {}),
        ...(query.severity ? { severity: query.severity } : {}),
        ...(query.phase ? { phase: query.phase } : {}),
        ...(query.playbook ? { playbook: query.playbook } : {}),
        ...(query.cursor ? { cursor: query.cursor } : {}),
      });
      return {
        status: 200,
        json: { items: page.items, ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) },
      };
    },
  });

const getIncident = ({ incidents }: Pick<RouteDeps, 'incidents'>): RouteSpec =>
  defineRoute({
    operationId: 'getIncident',
    method: 'get',
    path: '/api/v1/incidents/:id',
    tag: 'incidents',
    summary: "An incident's full state.",
    auth: 'bearer',
    roles: INCIDENT_READERS,
    params: incidentParams,
    usesIncidents: true,
    responses: { 200: { description: 'The incident.', schema: incidentStateSchema } },
    errors: { 422: ENCRYPTION_KEY_UNAVAILABLE },
    handle: async ({ params }) => ({ status: 200, json: await incidents.getState(params.id) }),
  });

export function incidentRoutes(deps: Pick<RouteDeps, 'incidents'>): RouteSpec[] {
  return [listIncidents(deps), getIncident(deps)];
}
