/**
 * The schemas the API validates with and documents with: request bodies, path parameters and queries are
 * parsed with these, and the OpenAPI document is generated from the very same objects (see openapi.ts).
 * Response schemas mirror the domain types; the type assertions at the bottom make the build fail when the
 * two drift apart.
 */
import { z } from 'zod';
import { ALERT_FORMATS, SEVERITIES } from '../domain/alert';
import { INCIDENT_ID_PATTERN, type CloseReceipt } from '../contracts';
import {
  ACTION_PHASES,
  ACTION_STATES,
  PHASES,
  ROLES,
  type Approval,
  type ChecklistItem,
  type IncidentAction,
  type IncidentNote,
  type IncidentState,
} from '../domain/incident';
import type { IncidentListItem } from '../incidents/types';
import { trimmedText } from '../ingest/common';

// ---- Path parameters ----

export const incidentIdSchema = z
  .string()
  .regex(INCIDENT_ID_PATTERN, 'not an incident ID (INC-<16 hex>-<6 hex>)')
  .describe('Incident ID, e.g. INC-3f9a0c1b2d4e5f60-a1b2c3.');
/** Approval, action and checklist item IDs: whatever the workflow assigns, within a safe alphabet. */
const subId = (what: string) =>
  z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/, `not a valid ${what} ID`)
    .describe(`${what[0]!.toUpperCase()}${what.slice(1)} ID, as listed in the incident state.`);

export const incidentParams = z.strictObject({ id: incidentIdSchema });
export const approvalParams = z.strictObject({ id: incidentIdSchema, approvalId: subId('approval') });
export const actionParams = z.strictObject({ id: incidentIdSchema, actionId: subId('action') });
export const checklistParams = z.strictObject({ id: incidentIdSchema, itemId: subId('checklist item') });

// ---- Queries ----

export const alertQuery = z.strictObject({
  format: z
    .enum(ALERT_FORMATS, { error: `expected one of ${ALERT_FORMATS.join(', ')}` })
    .optional()
    .describe('The body format, which the body must then be in; detected from the body when omitted.'),
});

export const LIST_LIMIT_DEFAULT = 20;
/** base64url of a version byte, an 8-byte checksum and Temporal's page token (see IncidentService.list). */
export const LIST_CURSOR_PATTERN = /^[A-Za-z0-9_-]{12,4000}$/;
export const LIST_LIMIT_MAX = 100;
export const listQuery = z.strictObject({
  status: z.enum(['open', 'closed']).optional(),
  severity: z.enum(SEVERITIES).optional(),
  phase: z.enum(PHASES).optional(),
  playbook: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,127}$/, 'expected a playbook ID (lower-case letters, digits and dashes)')
    .optional()
    .describe('Only incidents handled under this playbook (its ID, e.g. c2-traffic).'),
  limit: z.coerce
    // The one message covers every check: a type error, a fraction and each bound are all the same rule.
    .number({ error: `expected an integer from 1 to ${LIST_LIMIT_MAX}` })
    .int()
    .min(1)
    .max(LIST_LIMIT_MAX)
    .default(LIST_LIMIT_DEFAULT)
    .describe(`Page size, 1-${LIST_LIMIT_MAX} (default ${LIST_LIMIT_DEFAULT}).`),
  cursor: z
    .string()
    .regex(LIST_CURSOR_PATTERN, 'expected nextCursor from a previous page (base64url)')
    .optional()
    .describe(
      '`nextCursor` from the previous page, with the same filters. Any other value, even well-formed, is a 400.',
    ),
});

export const reportQuery = z.strictObject({
  /** Overrides the Accept header: `markdown` or `json`. */
  format: z.enum(['json', 'markdown']).optional(),
});

// ---- Request bodies (strict: an unknown field is an error, so nobody can smuggle in an approver or a role) ----

const comment = z.string().max(5_000).trim().describe('Free text recorded with the decision.');

export const approvalDecisionBody = z
  .strictObject({
    decision: z.enum(['approve', 'reject']),
    comment: comment.optional(),
  })
  .describe('An approver decision. The approver is the verified caller; it cannot be named in the body.');

export const actionResolutionBody = z.strictObject({ comment: comment.optional() });

export const checklistBody = z.strictObject({
  note: z.string().max(5_000).trim().optional(),
});

export const noteBody = z.strictObject({
  text: trimmedText(20_000),
  kind: z.enum(['note', 'lessons_learned']).default('note'),
});

export const closeBody = z.strictObject({
  resolution: z.enum(['false_positive', 'resolved']),
  comment: comment.optional(),
});

// ---- Responses ----

const timestamp = z.iso.datetime({ offset: true });
const severity = z.enum(SEVERITIES);
const alertSeverity = z.enum([...SEVERITIES, 'informational']);
const phase = z.enum(PHASES);
const role = z.enum(ROLES);
const actionKind = z
  .string()
  .describe(
    'A catalogue action (e.g. isolate_host, run_antivirus_scan) or the undo one declares (e.g. release_host).',
  );

export const problemSchema = z
  .looseObject({
    type: z.string().describe('URI identifying the problem type.'),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().optional(),
    requestId: z.string().optional(),
    errors: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .optional()
      .describe('For validation problems: each offending field and what is wrong with it.'),
    refusal: z.string().optional().describe('For refusals by the incident: the refusal type.'),
  })
  .describe('RFC 9457 problem details (application/problem+json).');

export const alertReceiptSchema = z.object({
  incidentId: z.string(),
  workflowId: z.string(),
  alertId: z.string(),
  deduplicated: z.boolean(),
});
export const alertBatchReceiptSchema = z
  .object({ items: z.array(alertReceiptSchema) })
  .describe('For an Alertmanager webhook: one receipt per alert, in the order of `alerts[]`.');

const batchPosition = {
  index: z.number().int().min(0).describe('Position of the item in the request array.'),
  entry: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe("For an Alertmanager webhook item: the alert's position in its `alerts[]`."),
};
export const alertBatchItemSchema = z
  .discriminatedUnion('status', [
    z.object({
      ...batchPosition,
      status: z.enum(['recorded', 'deduplicated']),
      ...alertReceiptSchema.shape,
    }),
    z.object({
      ...batchPosition,
      status: z.literal('rejected'),
      problem: problemSchema.describe(
        'Why the item cannot be recorded (400 invalid, 422 unrecognized or not recordable); `errors[].path` ' +
          'names each field from the request array, e.g. `3.severity`. Sending it again will not help.',
      ),
    }),
    z.object({
      ...batchPosition,
      status: z.literal('unavailable'),
      problem: problemSchema.describe(
        'Temporal, a worker or the incident could not take the alert now (503); not recorded: send it again ' +
          'after `retryAfterSeconds`.',
      ),
    }),
  ])
  .describe('What became of one alert of a batch.');
export const alertBatchResultSchema = z
  .object({ items: z.array(alertBatchItemSchema) })
  .describe(
    'One receipt per alert, in request order (an Alertmanager webhook item has one per entry of its `alerts[]`).',
  );

export const incidentListItemSchema = z.object({
  incidentId: z.string(),
  workflowId: z.string(),
  runId: z.string(),
  title: z
    .string()
    .optional()
    .describe("The first alert's title (incidents opened before titles were listed have none)."),
  severity: z.string().optional(),
  phase: z.string().optional(),
  status: z.string().optional(),
  playbook: z.string().optional(),
  hosts: z.array(z.string()),
  startedAt: z.string(),
  closedAt: z.string().optional(),
  pendingApprovals: z
    .number()
    .int()
    .nonnegative()
    .optional()
    .describe(
      'Approvals waiting for a decision. Absent when unknown: the incident was opened before the list carried the count and no approval has opened or settled since.',
    ),
});
export const incidentListSchema = z.object({
  items: z.array(incidentListItemSchema),
  nextCursor: z.string().optional(),
});

const entitiesSchema = z.object({
  hosts: z.array(z.string()),
  accounts: z.array(z.string()),
  ips: z.array(z.string()),
  domains: z.array(z.string()),
  files: z
    .array(z.string())
    .optional()
    .describe('File hashes (MD5, SHA-1 or SHA-256) the alerts name; absent when they name none.'),
});

export const actionSchema = z.object({
  actionId: z.string(),
  kind: actionKind,
  label: z.string().optional().describe('How people read the action, from the catalogue.'),
  target: z.string(),
  files: z
    .array(z.string())
    .optional()
    .describe(
      'The file hashes it acts on, for an action that takes them from the alerts (fixed when planned).',
    ),
  purpose: z.enum([...ACTION_PHASES, 'recovery']),
  undoes: z.string().optional(),
  policy: z.enum(['auto', 'approve', 'two_person', 'never']),
  state: z.enum(ACTION_STATES),
  approvalId: z.string().optional(),
  attempts: z.number().int(),
  responderRetries: z.number().int(),
  lastError: z
    .object({ type: z.string(), message: z.string(), at: timestamp, attempt: z.number().int().optional() })
    .optional(),
  result: z
    .object({
      alreadyInState: z.boolean(),
      vendorRef: z.string().optional(),
      detail: z.string().optional(),
      verifiedState: z.string().optional(),
      evidenceId: z.string().optional(),
    })
    .optional(),
  createdAt: timestamp,
  startedAt: timestamp.optional(),
  finishedAt: timestamp.optional(),
  reason: z.string().optional(),
  resolutions: z.array(
    z.object({
      resolution: z.enum(['retry', 'skip']),
      by: z.string(),
      at: timestamp,
      comment: z.string().optional(),
    }),
  ),
  compensatedBy: z.string().optional(),
  requestedResolution: z.enum(['retry', 'skip']).optional(),
  saga: z.boolean().optional(),
});

const decisionVia = z
  .enum(['update', 'signal', 'slack'])
  .describe('How the decision arrived: the API (update), a signal, or a Slack button.');
const slackIdentity = z
  .object({ userId: z.string(), teamId: z.string() })
  .describe('The Slack user and workspace that clicked (via slack).');

const refusedDecisionSchema = z.object({
  decider: z.string(),
  roles: z.array(role).optional(),
  decision: z.enum(['approve', 'reject']),
  reason: z.string(),
  type: z.string().describe('The refusal type, as in the 403/409 answer (e.g. SelfApproval).'),
  at: timestamp,
  via: decisionVia,
  slack: slackIdentity.optional(),
});

const refusedRequestSchema = z.object({
  request: z.enum(['decideApproval', 'closeIncident']),
  approvalId: z.string().optional(),
  decision: z.string().describe('approve or reject for a decision; the requested resolution for a close.'),
  decider: z.string(),
  roles: z.array(role),
  reason: z.string(),
  type: z.string(),
  at: timestamp,
  via: decisionVia,
  slack: slackIdentity.optional(),
});

const waitingForSchema = z
  .object({
    phase,
    since: timestamp,
    summary: z.string(),
    approvals: z.array(z.object({ approvalId: z.string(), action: actionKind, target: z.string() })),
    failedActions: z.array(z.object({ actionId: z.string(), kind: actionKind, target: z.string() })),
    runningActions: z.array(z.string()),
  })
  .describe('What the incident waits for before its next step, when people must act.');

const ticketSchema = z
  .object({
    system: z.string(),
    status: z.enum(['open', 'closed', 'not_configured', 'failed']),
    key: z.string().optional(),
    displayId: z.string().optional(),
    url: z.string().optional(),
    openedAt: timestamp.optional(),
    closedAt: timestamp.optional(),
    synced: z.array(z.string()),
    lastError: z.string().optional(),
  })
  .describe("The incident's ticket in the SOC's ticketing system (playbooks with ticket sync only).");
const indicatorKind = z.enum(['ip', 'domain', 'file']);
const intelFindingSchema = z.discriminatedUnion('source', [
  z.object({
    source: z.literal('virustotal'),
    indicator: z.string(),
    kind: indicatorKind,
    found: z.boolean(),
    malicious: z.number(),
    suspicious: z.number(),
    harmless: z.number(),
    undetected: z.number(),
    reputation: z.number().optional(),
    link: z.string().optional(),
  }),
  z.object({
    source: z.literal('abuseipdb'),
    indicator: z.string(),
    kind: z.literal('ip'),
    found: z.boolean(),
    confidence: z.number(),
    totalReports: z.number(),
    countryCode: z.string().optional(),
    isWhitelisted: z.boolean().optional(),
    lastReportedAt: z.string().optional(),
  }),
]);
const enrichmentSchema = z
  .object({
    startedAt: timestamp,
    at: timestamp,
    timeoutMs: z.number().int(),
    timedOut: z.boolean(),
    failure: z.object({ type: z.string(), message: z.string() }).optional(),
    configured: z.boolean(),
    sources: z.array(z.string()),
    indicators: z.array(
      z.object({
        kind: indicatorKind,
        indicator: z.string(),
        findings: z.array(intelFindingSchema),
        errors: z.array(
          z.object({
            source: z.string(),
            type: z.enum(['auth', 'not_found', 'conflict', 'rate_limited', 'transient', 'permanent']),
            message: z.string(),
            retryAfterMs: z.number().optional(),
          }),
        ),
      }),
    ),
    skippedInternal: z.array(z.string()),
    asked: z
      .array(z.string())
      .optional()
      .describe('Every indicator asked about, as `<kind>:<value>`, so none is asked twice.'),
    later: z
      .array(
        z.object({
          startedAt: timestamp,
          at: timestamp,
          indicators: z.number().int(),
          failure: z.object({ type: z.string(), message: z.string() }).optional(),
        }),
      )
      .optional()
      .describe('Lookups of the indicators later alerts added, oldest first.'),
  })
  .describe(
    "Threat-intelligence lookups of the incident's indicators during identification (playbooks with `enrichment` only).",
  );

export const approvalSchema = z.object({
  approvalId: z.string(),
  actionIds: z.array(z.string()),
  policy: z.enum(['approve', 'two_person']),
  state: z.enum(['pending', 'approved', 'rejected', 'expired', 'cancelled']),
  requiredApprovers: z.number().int(),
  request: z.object({ action: actionKind, target: z.string(), why: z.string(), undo: z.string(), severity }),
  requestedBy: z.array(z.string()),
  decisions: z.array(
    z.object({
      decision: z.enum(['approve', 'reject']),
      decider: z.string(),
      roles: z.array(role),
      comment: z.string().optional(),
      at: timestamp,
      via: decisionVia,
      slack: slackIdentity.optional(),
    }),
  ),
  refusedAttempts: z.array(refusedDecisionSchema),
  requestedAt: timestamp,
  escalateAt: timestamp.optional(),
  expiresAt: timestamp.optional(),
  escalatedAt: timestamp.optional(),
  decidedAt: timestamp.optional(),
  expiryOutcome: z.enum(['approve', 'reject']).optional(),
  notice: z.string().optional(),
});

export const checklistItemSchema = z.object({
  itemId: z.string(),
  text: z.string(),
  action: z.string().optional().describe('The eradication action whose success completes the item.'),
  completedBy: z.string().optional(),
  completedAt: timestamp.optional(),
  note: z.string().optional(),
});

export const noteSchema = z.object({
  noteId: z.string(),
  kind: z.enum(['note', 'lessons_learned']),
  text: z.string(),
  author: z.string(),
  at: timestamp,
});

export const closeReceiptSchema = z.object({
  incidentId: z.string(),
  resolution: z.enum(['false_positive', 'resolved']),
  compensating: z
    .array(z.string())
    .describe('Containment actions that will be undone (in this order) before the incident closes.'),
});

const evidenceSchema = z.object({
  evidenceId: z.string(),
  name: z.string(),
  subject: z.string(),
  sha256: z.string(),
  sizeBytes: z.number().int(),
  location: z.string(),
  collectedBy: z.string(),
  collectedAt: timestamp,
  timeZone: z.string(),
  source: z.string(),
  window: z.object({ from: timestamp, to: timestamp }).optional(),
});

export const evidenceManifestSchema = z
  .object({
    incidentId: z.string(),
    items: z.array(
      evidenceSchema.extend({
        custody: z
          .array(
            z.object({ at: z.string(), actor: z.string(), action: z.string(), note: z.string().optional() }),
          )
          .describe('Chain of custody, oldest first.'),
        custodySource: z
          .enum(['evidence-store', 'incident-state'])
          .describe(
            '`incident-state`: the evidence store could not be read, so only the collection is known.',
          ),
        refs: z
          .array(z.object({ runId: z.string(), eventId: z.number().int(), eventType: z.string() }))
          .describe('The history events of the activity that collected it.'),
      }),
    ),
  })
  .describe("The incident's evidence: hashes, where each item is kept, and its chain of custody.");

const notificationSchema = z.object({
  route: z.string(),
  subject: z.string(),
  reason: z.string(),
  phase,
  at: timestamp,
  delivered: z.boolean(),
  error: z.string().optional(),
});

const alertSummarySchema = z.object({
  alertId: z.string(),
  source: z.string(),
  title: z.string(),
  ruleName: z.string(),
  severity: alertSeverity,
  detectedAt: timestamp,
  receivedAt: timestamp,
  raisedBy: z.string(),
});

const seconds = z.number().nullable();

export const incidentStateSchema = z.object({
  incidentId: z.string(),
  workflowId: z.string(),
  title: z.string(),
  severity,
  phase,
  status: z.enum(['open', 'closed']),
  resolution: z.enum(['false_positive', 'resolved']).optional(),
  playbook: z.object({ id: z.string(), name: z.string(), version: z.number().int(), hash: z.string() }),
  correlationKey: z.string(),
  openedAt: timestamp,
  scope: entitiesSchema,
  alerts: z.object({
    count: z.number().int(),
    deduplicated: z.number().int(),
    recent: z.array(alertSummarySchema),
  }),
  actions: z.array(actionSchema),
  approvals: z.array(approvalSchema),
  checklist: z.array(checklistItemSchema),
  evidence: z.array(evidenceSchema),
  notifications: z.array(notificationSchema),
  notes: z.array(noteSchema),
  phaseTimestamps: z.partialRecord(phase, timestamp),
  milestones: z.object({
    firstActivityAt: timestamp.optional(),
    detectedAt: timestamp.optional(),
    openedAt: timestamp,
    acknowledgedAt: timestamp.optional(),
    containedAt: timestamp.optional(),
    recoveredAt: timestamp.optional(),
    closedAt: timestamp.optional(),
  }),
  metrics: z.object({
    mttdSeconds: seconds,
    mttaSeconds: seconds,
    mttcSeconds: seconds,
    mttrSeconds: seconds,
  }),
  runs: z.number().int(),
  refusedSignals: z.array(refusedDecisionSchema.extend({ approvalId: z.string() })).optional(),
  refusedRequests: z.array(refusedRequestSchema).optional(),
  investigatedHosts: z.array(z.string()).optional(),
  waitingFor: waitingForSchema.optional(),
  ticket: ticketSchema.optional(),
  reopened: z.number().int(),
  enrichment: enrichmentSchema.optional(),
});

export const meSchema = z
  .object({ subject: z.string(), roles: z.array(role) })
  .describe('The verified caller behind the bearer token.');

export const signInOptionsSchema = z
  .object({
    token: z.literal(true).describe('API tokens are always accepted.'),
    oidc: z
      .object({
        issuer: z.string(),
        clientId: z.string(),
        authorizationEndpoint: z.string(),
        tokenEndpoint: z.string(),
        scope: z.string(),
        bearer: z.enum(['id_token', 'access_token']),
      })
      .optional()
      .describe(
        'Present when the console signs in with OpenID Connect (authorization code with PKCE, public client).',
      ),
  })
  .describe('How a person signs in to the console. Nothing here is secret.');

export const healthSchema = z.object({ status: z.literal('ok') });
export const readinessSchema = z.object({
  ready: z.boolean(),
  temporal: z.object({ reachable: z.boolean(), error: z.string().optional() }),
  worker: z.object({
    polling: z.boolean(),
    pollers: z.number().int().describe('Workers seen live on the incident task queue.'),
    source: z
      .enum(['heartbeats', 'pollers'])
      .optional()
      .describe(
        "Temporal's worker heartbeats (a dead worker shows within seconds) or the poller list (about a minute).",
      ),
    error: z.string().optional(),
  }),
});
/** Audit outputs (timeline, history, JSON report) belong to the audit module; documented as JSON objects. */
export const auditDocumentSchema = z
  .record(z.string(), z.unknown())
  .describe('Produced by the audit module.');
export const openApiDocumentSchema = z.record(z.string(), z.unknown()).describe('This OpenAPI 3.1 document.');

// ---- Drift guards: the response schemas must describe exactly the domain types ----

/** Flattens intersections (deeply) so structurally identical types compare equal. */
type Simplify<T> = T extends (infer U)[]
  ? Simplify<U>[]
  : T extends object
    ? { [K in keyof T]: Simplify<T[K]> }
    : T;
type Equal<A, B> =
  (<T>() => T extends Simplify<A> ? 1 : 2) extends <T>() => T extends Simplify<B> ? 1 : 2 ? true : false;
type Assert<T extends true> = T;
export type SchemaDriftGuards = [
  Assert<Equal<z.infer<typeof incidentStateSchema>, IncidentState>>,
  Assert<Equal<z.infer<typeof approvalSchema>, Approval>>,
  Assert<Equal<z.infer<typeof actionSchema>, IncidentAction>>,
  Assert<Equal<z.infer<typeof checklistItemSchema>, ChecklistItem>>,
  Assert<Equal<z.infer<typeof noteSchema>, IncidentNote>>,
  Assert<Equal<z.infer<typeof closeReceiptSchema>, CloseReceipt>>,
  Assert<Equal<z.infer<typeof incidentListItemSchema>, IncidentListItem>>,
];
