/**
 * Audit: an incident's timeline, complete history, report, audit bundle and evidence, from the audit module
 * (`AuditOperations`); without it in the build these answer 501.
 */
import { z } from 'zod';
import { ApiProblem } from '../problem';
import { defineRoute, ENCRYPTION_KEY_UNAVAILABLE, type RouteDeps, type RouteSpec } from '../route-spec';
import { auditDocumentSchema, evidenceManifestSchema, incidentParams, reportQuery } from '../schemas';

const AUDIT_ERRORS = {
  404: 'No such incident.',
  422: ENCRYPTION_KEY_UNAVAILABLE,
  501: 'The audit module is not part of this build.',
};

const notAvailable = (what: string) =>
  new ApiProblem(
    501,
    'not-available',
    'Not available in this build',
    `${what} are provided by the audit module, which is not part of this build.`,
  );

type Deps = Pick<RouteDeps, 'audit'>;

/** The two audit documents served as they are: what each is called in the document and in a 501. */
const DOCUMENTS = {
  timeline: { operationId: 'incidentTimeline', summary: "The incident's timeline.", plural: 'timelines' },
  history: {
    operationId: 'incidentHistory',
    summary: "The incident's complete, auditable history.",
    plural: 'histories',
  },
} as const;

const auditDocument = ({ audit }: Deps, document: keyof typeof DOCUMENTS): RouteSpec =>
  defineRoute({
    operationId: DOCUMENTS[document].operationId,
    method: 'get',
    path: `/api/v1/incidents/:id/${document}`,
    tag: 'audit',
    summary: DOCUMENTS[document].summary,
    auth: 'bearer',
    roles: ['auditor'],
    params: incidentParams,
    usesIncidents: true,
    responses: { 200: { description: `The ${document}.`, schema: auditDocumentSchema } },
    errors: AUDIT_ERRORS,
    handle: async ({ params }) => {
      if (!audit) throw notAvailable(`Incident ${DOCUMENTS[document].plural}`);
      return { status: 200, json: await audit[document](params.id) };
    },
  });

const incidentReport = ({ audit }: Deps): RouteSpec =>
  defineRoute({
    operationId: 'incidentReport',
    method: 'get',
    path: '/api/v1/incidents/:id/report',
    tag: 'audit',
    summary: 'The incident report: JSON, or Markdown with `Accept: text/markdown` (or ?format=markdown).',
    auth: 'bearer',
    roles: ['auditor'],
    params: incidentParams,
    query: reportQuery,
    usesIncidents: true,
    responses: {
      200: {
        description: 'The report.',
        schema: auditDocumentSchema,
        alternatives: [{ contentType: 'text/markdown', schema: z.string() }],
      },
    },
    errors: AUDIT_ERRORS,
    handle: async ({ params, query, req }) => {
      if (!audit) throw notAvailable('Incident reports');
      const format =
        query.format ??
        (req.accepts(['application/json', 'text/markdown']) === 'text/markdown' ? 'markdown' : 'json');
      const report = await audit.report(params.id, format);
      if (format === 'markdown') {
        return {
          status: 200,
          text: typeof report === 'string' ? report : JSON.stringify(report),
          contentType: 'text/markdown; charset=utf-8',
        };
      }
      return { status: 200, json: report };
    },
  });

/**
 * The bundle `quell audit export` writes, as a download under the same file name, so `quell audit verify`
 * checks it as it would the CLI's file.
 */
const incidentBundle = ({ audit }: Deps): RouteSpec =>
  defineRoute({
    operationId: 'incidentAuditBundle',
    method: 'get',
    path: '/api/v1/incidents/:id/bundle',
    tag: 'audit',
    summary:
      "The incident's tamper-evident audit bundle (what `quell audit export` writes), as a download; " +
      'signed when the server has QUELL_AUDIT_SIGNING_KEY. Check it with `quell audit verify`.',
    auth: 'bearer',
    roles: ['auditor'],
    params: incidentParams,
    usesIncidents: true,
    responses: {
      200: {
        description: 'The audit bundle (quell.audit-bundle/v1).',
        schema: auditDocumentSchema,
        headers: { 'Content-Disposition': 'attachment; filename="<incidentId>.audit-bundle.json"' },
      },
    },
    errors: AUDIT_ERRORS,
    handle: async ({ params }) => {
      if (!audit) throw notAvailable('Audit bundles');
      const { fileName, bundle } = await audit.bundle(params.id);
      return {
        status: 200,
        json: bundle,
        headers: { 'Content-Disposition': `attachment; filename="${fileName}"` },
      };
    },
  });

/** Responders act on evidence as auditors check it, so both read its custody. */
const incidentEvidence = ({ audit }: Deps): RouteSpec =>
  defineRoute({
    operationId: 'incidentEvidence',
    method: 'get',
    path: '/api/v1/incidents/:id/evidence',
    tag: 'audit',
    summary: "The incident's evidence manifest: SHA-256, size, location and chain of custody of each item.",
    auth: 'bearer',
    roles: ['responder', 'auditor'],
    params: incidentParams,
    usesIncidents: true,
    responses: { 200: { description: 'The evidence manifest.', schema: evidenceManifestSchema } },
    errors: AUDIT_ERRORS,
    handle: async ({ params }) => {
      if (!audit) throw notAvailable('Evidence manifests');
      return { status: 200, json: await audit.evidence(params.id) };
    },
  });

export function auditRoutes(deps: Deps): RouteSpec[] {
  return [
    auditDocument(deps, 'timeline'),
    auditDocument(deps, 'history'),
    incidentReport(deps),
    incidentBundle(deps),
    incidentEvidence(deps),
  ];
}
