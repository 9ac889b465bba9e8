/**
 * The OpenAPI 3.1 document, generated from the route table (routes.ts) and the zod schemas the routes validate
 * with, via zod 4's JSON Schema conversion (draft 2020-12, which OpenAPI 3.1 uses). Request schemas are rendered
 * as what the API accepts (`io: "input"`: defaults make fields optional), response schemas as what it returns.
 */
import { z } from 'zod';
import { ROLES } from '../domain/incident';
import { ALERT_FORMAT_SCHEMAS, elasticDocumentJsonSchema } from '../ingest';
import { PROBLEM_CONTENT_TYPE } from './problem';
import type { RouteSpec } from './route-spec';
import { codecPayloadsSchema } from './routes/codec';
import {
  actionResolutionBody,
  actionSchema,
  alertBatchItemSchema,
  alertBatchReceiptSchema,
  alertBatchResultSchema,
  alertReceiptSchema,
  approvalDecisionBody,
  approvalSchema,
  auditDocumentSchema,
  checklistBody,
  checklistItemSchema,
  closeBody,
  closeReceiptSchema,
  healthSchema,
  incidentListItemSchema,
  incidentListSchema,
  incidentStateSchema,
  meSchema,
  noteBody,
  noteSchema,
  openApiDocumentSchema,
  problemSchema,
  readinessSchema,
} from './schemas';

type JsonSchema = Record<string, unknown>;
type Registry = z.core.$ZodRegistry<{ id: string }>;

const REQUEST_NAMES: [z.ZodType, string][] = [
  [approvalDecisionBody, 'ApprovalDecisionRequest'],
  [actionResolutionBody, 'ActionResolutionRequest'],
  [checklistBody, 'ChecklistCompletionRequest'],
  [noteBody, 'NoteRequest'],
  [closeBody, 'CloseIncidentRequest'],
  [ALERT_FORMAT_SCHEMAS.ocsf, 'OcsfDetectionFinding'],
  [ALERT_FORMAT_SCHEMAS.elastic, 'ElasticSecurityAlert'],
  [ALERT_FORMAT_SCHEMAS.alertmanager, 'AlertmanagerWebhook'],
  [ALERT_FORMAT_SCHEMAS.generic, 'GenericAlert'],
  [codecPayloadsSchema, 'CodecPayloads'],
];
const RESPONSE_NAMES: [z.ZodType, string][] = [
  [problemSchema, 'Problem'],
  [incidentStateSchema, 'IncidentState'],
  [approvalSchema, 'Approval'],
  [actionSchema, 'IncidentAction'],
  [checklistItemSchema, 'ChecklistItem'],
  [noteSchema, 'IncidentNote'],
  [closeReceiptSchema, 'CloseReceipt'],
  [incidentListSchema, 'IncidentList'],
  [incidentListItemSchema, 'IncidentListItem'],
  [alertReceiptSchema, 'AlertReceipt'],
  [alertBatchReceiptSchema, 'AlertBatchReceipt'],
  [alertBatchResultSchema, 'AlertBatchResult'],
  [alertBatchItemSchema, 'AlertBatchItem'],
  [healthSchema, 'Health'],
  [readinessSchema, 'Readiness'],
  [auditDocumentSchema, 'AuditDocument'],
  [openApiDocumentSchema, 'OpenApiDocument'],
  [meSchema, 'Caller'],
  [codecPayloadsSchema, 'CodecPayloads'],
];

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });

function register(registry: Registry, schema: z.ZodType, id: string): string {
  const existing = registry.get(schema);
  if (existing) return existing.id;
  registry.add(schema, { id });
  return id;
}

function convert(registry: Registry, io: 'input' | 'output'): Record<string, JsonSchema> {
  const out = z.toJSONSchema(registry, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
  }) as { schemas: Record<string, JsonSchema> };
  const schemas: Record<string, JsonSchema> = {};
  for (const [id, s] of Object.entries(out.schemas)) {
    const { $schema: _s, $id: _i, ...rest } = s;
    schemas[id] = rest;
  }
  return schemas;
}

/** Path and query parameters from an object schema's properties. */
function parameters(schema: z.ZodType | undefined, where: 'path' | 'query'): JsonSchema[] {
  if (!schema) return [];
  const js = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, JsonSchema>;
    required?: string[];
  };
  return Object.entries(js.properties ?? {}).map(([name, s]) => {
    const { description, ...rest } = s;
    return {
      name,
      in: where,
      required: where === 'path' || (js.required ?? []).includes(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: rest,
    };
  });
}

const headers = {
  requestId: {
    'X-Request-Id': { description: 'The request ID (also on every log line).', schema: { type: 'string' } },
  },
  retryAfter: {
    'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer' } },
  },
  wwwAuthenticate: { 'WWW-Authenticate': { description: 'Bearer challenge.', schema: { type: 'string' } } },
};

function problem(description: string, extraHeaders: Record<string, unknown> = {}): JsonSchema {
  return {
    description,
    headers: { ...headers.requestId, ...extraHeaders },
    content: { [PROBLEM_CONTENT_TYPE]: { schema: ref('Problem') } },
  };
}

function elasticLayouts(): Record<string, JsonSchema> {
  const id = 'ElasticSecurityAlert';
  const { root, definitions } = elasticDocumentJsonSchema(id, (name) => ref(name).$ref);
  return { [id]: root, ...definitions };
}

/** Express `:param` to OpenAPI `{param}`. */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
}

const cap = (s: string) => `${s[0]!.toUpperCase()}${s.slice(1)}`;

const TAGS = [
  { name: 'alerts', description: 'Alert intake.' },
  { name: 'incidents', description: 'Reading incidents.' },
  { name: 'responders', description: 'Responder and approver actions (as the verified caller).' },
  { name: 'audit', description: 'Timelines, histories and reports (audit module).' },
  { name: 'integrations', description: 'Callbacks from chat tools (Slack approvals).' },
  { name: 'operations', description: 'Health, readiness, metrics, this document.' },
  { name: 'identity', description: 'Who the caller is.' },
];

const SECURITY_SCHEMES = {
  bearer: {
    type: 'http',
    scheme: 'bearer',
    description:
      'An API token (QUELL_API_TOKENS), or a JWT from the configured OpenID Connect issuer ' +
      '(QUELL_OIDC_ISSUER; RS256, ES256 or EdDSA; its audience, groups claim and role map as configured). ' +
      'A refused JWT answers 401 with WWW-Authenticate error="invalid_token" and an error_description.',
  },
  quellSource: {
    type: 'apiKey',
    in: 'header',
    name: 'X-Quell-Source',
    description:
      'Alert sources only, with X-Quell-Signature: the source name configured in ' +
      'QUELL_INGEST_SIGNING_SECRETS. Sending either signature header selects signature authentication, ' +
      'even beside an Authorization header: both must then be present and verify.',
  },
  quellSignature: {
    type: 'apiKey',
    in: 'header',
    name: 'X-Quell-Signature',
    description:
      'Alert sources only, with X-Quell-Source: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + ' +
      'raw body)> with a secret of that source (300 s tolerance; several v1 values during rotation).',
  },
  slackSignature: {
    type: 'apiKey',
    in: 'header',
    name: 'X-Slack-Signature',
    description:
      'Slack interactions only, with X-Slack-Request-Timestamp: v0=<hex HMAC-SHA256(QUELL_SLACK_SIGNING_SECRET, ' +
      '"v0:" + timestamp + ":" + raw body)>.',
  },
  slackTimestamp: {
    type: 'apiKey',
    in: 'header',
    name: 'X-Slack-Request-Timestamp',
    description: 'Slack interactions only: Unix seconds, within 5 minutes of the server clock.',
  },
};

/** The OpenAPI 3.1 document of `routes`; component schemas are named in the order routes first use them. */
export function buildOpenApiDocument(
  routes: RouteSpec[],
  info: { title: string; version: string },
): JsonSchema {
  const requests: Registry = z.registry<{ id: string }>();
  const responses: Registry = z.registry<{ id: string }>();
  for (const [s, id] of REQUEST_NAMES) register(requests, s, id);
  for (const [s, id] of RESPONSE_NAMES) register(responses, s, id);

  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = openApiPath(r.path);
    paths[path] ??= {};
    paths[path][r.method] = operation(r, requests, responses);
  }

  return {
    openapi: '3.1.0',
    info: {
      ...info,
      description:
        'Quell: security incident response on Temporal. Errors are RFC 9457 problem details ' +
        '(application/problem+json). Roles: ' +
        `${ROLES.join(', ')} (admin may do everything).`,
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    tags: TAGS,
    paths,
    components: {
      securitySchemes: SECURITY_SCHEMES,
      schemas: {
        ...convert(requests, 'input'),
        // Zod describes the Elastic fields read, not the layouts they are read from (dotted, nested or mixed).
        ...elasticLayouts(),
        ...convert(responses, 'output'),
      },
    },
  };
}

/** One operation object: who may call it, its parameters, its request body and every response it can give. */
function operation(r: RouteSpec, requests: Registry, responses: Registry): Record<string, unknown> {
  const op: Record<string, unknown> = {
    operationId: r.operationId,
    tags: [r.tag],
    summary: r.summary,
    ...(r.description ? { description: r.description } : {}),
  };
  if (r.auth === 'public') {
    op.security = [];
  } else if (r.auth === 'slack') {
    // Who acts comes from the signed payload's Slack user (QUELL_SLACK_USERS), not from a token.
    op.security = [{ slackSignature: [], slackTimestamp: [] }];
  } else {
    // Alternatives: a bearer token, or the two signature headers together.
    op.security =
      r.auth === 'ingest' ? [{ bearer: [] }, { quellSource: [], quellSignature: [] }] : [{ bearer: [] }];
    // Decisions need the approver role itself; everywhere else admin passes.
    op['x-quell-roles'] = r.decision ? [...r.roles] : [...new Set([...r.roles, 'admin'])];
  }
  const params = [...parameters(r.params, 'path'), ...parameters(r.query, 'query')];
  if (params.length > 0) op.parameters = params;

  const bodySchema = r.body ?? r.rawBodyDoc;
  if (bodySchema) {
    const id = register(requests, bodySchema, `${cap(r.operationId)}Request`);
    op.requestBody = {
      // Responder routes read a missing body as {}: the body is required only when {} is not valid.
      required: r.auth === 'ingest' || r.auth === 'slack' || !bodySchema.safeParse({}).success,
      content: {
        [r.auth === 'slack' ? 'application/x-www-form-urlencoded' : 'application/json']: { schema: ref(id) },
      },
    };
  }

  const res = declaredResponses(r, responses);
  // A declared response keeps its own description; a problem only fills a status the route did not declare.
  for (const [status, p] of problemResponses(r)) {
    if (res[String(status)] === undefined) res[String(status)] = problem(p.descriptions.join(' '), p.headers);
  }
  res.default = problem('Unexpected error.');
  op.responses = res;
  return op;
}

/** The responses the route declares, each content type's schema registered under the operation's name. */
function declaredResponses(r: RouteSpec, responses: Registry): Record<string, unknown> {
  const res: Record<string, unknown> = {};
  for (const [status, doc] of Object.entries(r.responses)) {
    const content: Record<string, unknown> = {};
    if (doc.schema) {
      const id = register(responses, doc.schema, `${cap(r.operationId)}${status}Response`);
      content[doc.contentType ?? 'application/json'] = { schema: ref(id) };
    }
    for (const alt of doc.alternatives ?? []) {
      const id = register(
        responses,
        alt.schema,
        `${cap(r.operationId)}${status}${cap(alt.contentType.split('/')[1] ?? 'alt')}Response`,
      );
      content[alt.contentType] = { schema: ref(id) };
    }
    const declared = Object.fromEntries(
      Object.entries(doc.headers ?? {}).map(([name, description]) => [
        name,
        { description, schema: { type: 'string' } },
      ]),
    );
    res[status] = {
      description: doc.description,
      headers: { ...headers.requestId, ...declared },
      ...(Object.keys(content).length > 0 ? { content } : {}),
    };
  }
  return res;
}

/** The problems the API's own stages can answer on this route (validation, auth, limits...), by status. */
function problemResponses(
  r: RouteSpec,
): [number, { descriptions: string[]; headers: Record<string, unknown> }][] {
  const problems = new Map<number, { descriptions: string[]; headers: Record<string, unknown> }>();
  const add = (status: number, description: string, extra: Record<string, unknown> = {}) => {
    const entry = problems.get(status) ?? { descriptions: [], headers: {} };
    entry.descriptions.push(description);
    Object.assign(entry.headers, extra);
    problems.set(status, entry);
  };
  if (r.body || r.query || r.auth === 'ingest' || r.auth === 'slack') {
    add(400, 'Invalid request: malformed JSON, or fields that fail validation (`errors[]` names each one).');
  }
  if (r.auth === 'slack') {
    add(401, 'Missing, malformed, stale or wrong Slack signature.');
  } else if (r.auth !== 'public') {
    add(401, 'Missing or invalid credentials.', headers.wwwAuthenticate);
    add(403, 'The caller lacks the role this operation needs.');
  }
  if (r.params) add(404, 'No such resource (IDs that cannot exist are not found either).');
  for (const [status, description] of Object.entries(r.errors ?? {})) add(Number(status), description);
  if (r.body || r.auth === 'ingest') {
    add(413, 'The body exceeds the size limit.');
    add(415, 'The body is not application/json (or not UTF-8).');
  }
  if (r.auth === 'slack') {
    add(413, 'The body exceeds the size limit.');
    add(415, 'The body is not application/x-www-form-urlencoded.');
  }
  if (r.auth === 'ingest') add(429, 'Rate limited: retry after the given time.', headers.retryAfter);
  if (r.usesIncidents) add(503, 'Temporal is unavailable: retry after the given time.', headers.retryAfter);
  if (r.auth !== 'public') {
    add(503, "A bearer JWT's issuer cannot be reached: retry after the given time.", headers.retryAfter);
  }
  return [...problems].sort(([a], [b]) => a - b);
}
