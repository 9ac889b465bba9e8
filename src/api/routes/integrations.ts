/** Integrations that call Quell back: Slack's interactivity (Approve / Reject buttons on approval cards). */
import { slackInteractionForm, type SlackInteractionPayload } from '../slack-interactions';
import { defineRoute, type RouteDeps, type RouteSpec } from '../route-spec';

const slackInteractions = ({ slack }: Pick<RouteDeps, 'slack'>): RouteSpec =>
  defineRoute({
    operationId: 'slackInteraction',
    method: 'post',
    path: '/api/v1/integrations/slack/interactions',
    tag: 'integrations',
    summary: "Slack's interactivity request URL: Approve / Reject clicks on approval cards.",
    description:
      "Slack posts `payload=<JSON>` (application/x-www-form-urlencoded) signed with the Slack app's signing " +
      'secret: `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:" + X-Slack-Request-Timestamp + ":" + body)>`, ' +
      'checked over the raw body before it is parsed, the timestamp within 5 minutes. The click is acknowledged ' +
      'at once (Slack waits 3 s); the decision is then made as the Quell subject the Slack user maps to ' +
      '(`QUELL_SLACK_USERS`), through the same incident update as the decide route, and its outcome (or the ' +
      "refusal, in words) is posted to the payload's `response_url`. Answers 404 when " +
      '`QUELL_SLACK_SIGNING_SECRET` is not set.',
    auth: 'slack',
    roles: [],
    rawBodyDoc: slackInteractionForm,
    usesIncidents: false,
    responses: { 200: { description: 'Acknowledged; the outcome follows on the response_url.' } },
    errors: { 404: 'Slack approvals are not configured (no QUELL_SLACK_SIGNING_SECRET).' },
    handle: async ({ body }) => {
      slack?.accept(body as SlackInteractionPayload);
      return { status: 200, text: '', contentType: 'text/plain' };
    },
  });

/** The integrations' routes. */
export function integrationRoutes(deps: RouteDeps): RouteSpec[] {
  return [slackInteractions(deps)];
}
