/** Operations: liveness, readiness, Prometheus metrics and this API's own OpenAPI document (all public). */
import { z } from 'zod';
import { readinessCheck } from '../readiness';
import { defineRoute, type RouteDeps, type RouteSpec } from '../route-spec';
import { healthSchema, openApiDocumentSchema, readinessSchema } from '../schemas';

const health = (): RouteSpec =>
  defineRoute({
    operationId: 'health',
    method: 'get',
    path: '/healthz',
    tag: 'operations',
    summary: 'Liveness: the process answers.',
    auth: 'public',
    roles: [],
    usesIncidents: false,
    responses: { 200: { description: 'Alive.', schema: healthSchema } },
    handle: async () => ({ status: 200, json: { status: 'ok' } }),
  });

const readiness = ({ client, taskQueue }: Pick<RouteDeps, 'client' | 'taskQueue'>): RouteSpec =>
  defineRoute({
    operationId: 'readiness',
    method: 'get',
    path: '/readyz',
    tag: 'operations',
    summary: 'Readiness: Temporal answers and a worker polls the incident task queue.',
    auth: 'public',
    roles: [],
    usesIncidents: false,
    responses: {
      200: { description: 'Ready.', schema: readinessSchema },
      503: { description: 'Not ready (which part is said in the body).', schema: readinessSchema },
    },
    handle: async () => {
      const result = await readinessCheck(client, taskQueue);
      return { status: result.ready ? 200 : 503, json: result };
    },
  });

const metricsRoute = ({ metrics }: Pick<RouteDeps, 'metrics'>): RouteSpec =>
  defineRoute({
    operationId: 'metrics',
    method: 'get',
    path: '/metrics',
    tag: 'operations',
    summary: 'Prometheus metrics.',
    auth: 'public',
    roles: [],
    usesIncidents: false,
    responses: {
      200: {
        description: 'Prometheus text exposition format.',
        schema: z.string(),
        contentType: 'text/plain',
      },
    },
    handle: async () => ({
      status: 200,
      text: await metrics.registry.metrics(),
      contentType: metrics.registry.contentType,
    }),
  });

const openApi = ({ openApi: document }: Pick<RouteDeps, 'openApi'>): RouteSpec =>
  defineRoute({
    operationId: 'openapi',
    method: 'get',
    path: '/api/v1/openapi.json',
    tag: 'operations',
    summary: 'This API, described as OpenAPI 3.1.',
    auth: 'public',
    roles: [],
    usesIncidents: false,
    responses: { 200: { description: 'The OpenAPI document.', schema: openApiDocumentSchema } },
    handle: async () => ({ status: 200, json: document() }),
  });

export function operationsRoutes(
  deps: Pick<RouteDeps, 'client' | 'taskQueue' | 'metrics' | 'openApi'>,
): RouteSpec[] {
  return [health(), readiness(deps), metricsRoute(deps), openApi(deps)];
}
