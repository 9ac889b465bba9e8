/**
 * What responders and approvers do to an incident, as the verified caller: decide an approval, retry or skip a
 * failed action, complete a checklist item, add a note, close. The incident enforces its own rules and
 * answers refusals (403, 409), which it also records.
 */
import {
  actionParams,
  actionResolutionBody,
  actionSchema,
  approvalDecisionBody,
  approvalParams,
  approvalSchema,
  checklistBody,
  checklistItemSchema,
  checklistParams,
  closeBody,
  closeReceiptSchema,
  incidentParams,
  noteBody,
  noteSchema,
} from '../schemas';
import { defineRoute, type RouteDeps, type RouteSpec } from '../route-spec';

const REFUSAL_ERRORS = {
  403: 'Refused: the caller may not do this (e.g. self-approval, not an approver).',
  404: 'The incident, or the approval, action or checklist item in it, does not exist.',
  409: 'Refused: the state does not allow it (already decided, closed, wrong phase...).',
};

type Deps = Pick<RouteDeps, 'incidents' | 'metrics'>;

const decideApproval = ({ incidents, metrics }: Deps): RouteSpec =>
  defineRoute({
    operationId: 'decideApproval',
    method: 'post',
    path: '/api/v1/incidents/:id/approvals/:approvalId',
    tag: 'responders',
    summary: 'Approve or reject a pending approval (as the verified caller).',
    description:
      'Needs the approver role itself (admin alone does not pass). The incident checks the rules (approver ' +
      'role, no self-approval, distinct approvers, not decided or expired) and records every refused attempt ' +
      'in its history, state, timeline and report; the answer is 403/409 with the refusal type.',
    auth: 'bearer',
    roles: ['approver'],
    decision: true,
    params: approvalParams,
    body: approvalDecisionBody,
    usesIncidents: true,
    responses: { 200: { description: 'The approval after the decision.', schema: approvalSchema } },
    errors: REFUSAL_ERRORS,
    handle: async ({ params, body, actor }) => {
      const approval = await incidents.decideApproval(
        params.id,
        params.approvalId,
        body.decision,
        body.comment,
        actor,
      );
      metrics.approvalsDecided.inc({ decision: body.decision });
      return { status: 200, json: approval };
    },
  });

const resolveFailedAction = ({ incidents }: Deps, resolution: 'retry' | 'skip'): RouteSpec =>
  defineRoute({
    operationId: resolution === 'retry' ? 'retryAction' : 'skipAction',
    method: 'post',
    path: `/api/v1/incidents/:id/actions/:actionId/${resolution}`,
    tag: 'responders',
    summary:
      resolution === 'retry'
        ? 'Retry a permanently failed action (resumes from that action).'
        : 'Skip a permanently failed action.',
    auth: 'bearer',
    roles: ['responder'],
    params: actionParams,
    body: actionResolutionBody,
    usesIncidents: true,
    responses: { 200: { description: 'The action.', schema: actionSchema } },
    errors: REFUSAL_ERRORS,
    handle: async ({ params, body, actor }) => ({
      status: 200,
      json: await incidents.resolveFailedAction(params.id, params.actionId, resolution, body.comment, actor),
    }),
  });

const completeChecklistItem = ({ incidents }: Deps): RouteSpec =>
  defineRoute({
    operationId: 'completeChecklistItem',
    method: 'post',
    path: '/api/v1/incidents/:id/checklist/:itemId',
    tag: 'responders',
    summary: 'Complete an eradication checklist item.',
    auth: 'bearer',
    roles: ['responder'],
    params: checklistParams,
    body: checklistBody,
    usesIncidents: true,
    responses: { 200: { description: 'The checklist item.', schema: checklistItemSchema } },
    errors: REFUSAL_ERRORS,
    handle: async ({ params, body, actor }) => ({
      status: 200,
      json: await incidents.completeChecklistItem(params.id, params.itemId, body.note, actor),
    }),
  });

const addNote = ({ incidents }: Deps): RouteSpec =>
  defineRoute({
    operationId: 'addNote',
    method: 'post',
    path: '/api/v1/incidents/:id/notes',
    tag: 'responders',
    summary: 'Add a note (or a lessons-learned entry) to an incident.',
    auth: 'bearer',
    roles: ['responder'],
    params: incidentParams,
    body: noteBody,
    usesIncidents: true,
    responses: { 201: { description: 'The note.', schema: noteSchema } },
    errors: { 404: REFUSAL_ERRORS[404], 409: REFUSAL_ERRORS[409] },
    handle: async ({ params, body, actor }) => ({
      status: 201,
      json: await incidents.addNote(params.id, body.text, body.kind, actor),
    }),
  });

const closeIncident = ({ incidents }: Deps): RouteSpec =>
  defineRoute({
    operationId: 'closeIncident',
    method: 'post',
    path: '/api/v1/incidents/:id/close',
    tag: 'responders',
    summary: 'Close an incident as resolved, or as a false positive (undoing all containment first).',
    description:
      'Needs the approver role itself (admin alone does not pass); refused attempts are recorded by the incident.',
    auth: 'bearer',
    roles: ['approver'],
    decision: true,
    params: incidentParams,
    body: closeBody,
    usesIncidents: true,
    responses: {
      202: {
        description: 'Closing: the listed containment actions are undone first, then the incident closes.',
        schema: closeReceiptSchema,
      },
    },
    errors: REFUSAL_ERRORS,
    handle: async ({ params, body, actor }) => ({
      status: 202,
      json: await incidents.close(params.id, body.resolution, body.comment, actor),
    }),
  });

export function responderRoutes(deps: Deps): RouteSpec[] {
  return [
    decideApproval(deps),
    resolveFailedAction(deps, 'retry'),
    resolveFailedAction(deps, 'skip'),
    completeChecklistItem(deps),
    addNote(deps),
    closeIncident(deps),
  ];
}
