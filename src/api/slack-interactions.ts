/**
 * Slack approvals: configuration (`QUELL_SLACK_SIGNING_SECRET`, the Slack user -> Quell subject mapping), the
 * request stages of `POST /api/v1/integrations/slack/interactions` (raw body, Slack's signature, then the
 * form's `payload`), and the decision itself, made as the mapped subject through the same
 * `IncidentOperations.decideApproval` as the API's decide route. The outcome goes back to Slack through the
 * interaction's `response_url`.
 */
import { readFileSync } from 'node:fs';
import express, { type RequestHandler } from 'express';
import { z } from 'zod';
import { ConfigError } from '../config';
import { type AllowList, HttpClient } from '../connectors/http';
import {
  SLACK_APPROVE_ACTION,
  SLACK_REJECT_ACTION,
  approvalMessage,
  approvalOutcome,
  parseApprovalButtonValue,
} from '../connectors/notify/slack-approval';
import {
  SLACK_SIGNATURE_HEADER,
  SLACK_TIMESTAMP_HEADER,
  verifySlackSignature,
} from '../connectors/notify/slack-signature';
import { ROLES, type Actor, type Approval } from '../domain/incident';
import { slackText } from '../domain/untrusted-text';
import { IncidentNotFoundError, IncidentRefusedError, TemporalUnavailableError } from '../incidents/errors';
import type { IncidentOperations } from '../incidents/types';
import type { Logger } from '../logging';
import { hasBody } from './body';
import { ApiProblem, validationProblem } from './problem';

export const SLACK_ENV = {
  signingSecret: 'QUELL_SLACK_SIGNING_SECRET',
  users: 'QUELL_SLACK_USERS',
  usersFile: 'QUELL_SLACK_USERS_FILE',
} as const;

/** Where Slack's `response_url`s point; anything else in a payload is not posted to. */
export const SLACK_RESPONSE_ORIGIN = 'https://hooks.slack.com/';

const slackUserId = z.string().regex(/^[UW][A-Z0-9]{2,30}$/, 'a Slack user ID (U... or W...)');
const slackTeamId = z.string().regex(/^[TE][A-Z0-9]{2,30}$/, 'a Slack team ID (T... or E...)');

const usersSchema = z.record(
  slackUserId,
  z.strictObject({
    subject: z.string().min(1).max(200),
    roles: z.array(z.enum(ROLES)).min(1),
    /** When set, clicks count only from this workspace. */
    team: slackTeamId.optional(),
  }),
);

/** Who a Slack user is in Quell. */
export interface SlackUserMapping {
  subject: string;
  roles: Actor['roles'];
  team?: string;
}

export interface SlackInteractionsConfig {
  signingSecret: string;
  users: ReadonlyMap<string, SlackUserMapping>;
  /** Where response_urls may point (Slack's hooks; plus the lab's Slack when Quell runs the lab). */
  responseUrlAllowList: AllowList;
}

type Env = Record<string, string | undefined>;

/**
 * Reads Slack approvals' configuration once: `QUELL_SLACK_SIGNING_SECRET` (never defaulted; without it the
 * interactions route answers 404 and this returns undefined) and the user mapping from `QUELL_SLACK_USERS`
 * (JSON `{"U123": {"subject": "alice", "roles": ["approver"], "team"?: "T123"}}`) or `QUELL_SLACK_USERS_FILE`.
 * `extraResponseOrigins`: further response_url prefixes (the lab's Slack).
 * Thrown: {@link ConfigError} for an invalid mapping, both or unreadable sources, or a mapping without a secret.
 */
export function loadSlackInteractionsConfig(
  env: Env,
  extraResponseOrigins: readonly string[] = [],
): SlackInteractionsConfig | undefined {
  const secret = env[SLACK_ENV.signingSecret]?.trim();
  const inline = env[SLACK_ENV.users]?.trim();
  const file = env[SLACK_ENV.usersFile]?.trim();
  if (inline && file) throw new ConfigError(`Set ${SLACK_ENV.users} or ${SLACK_ENV.usersFile}, not both.`);
  if (!secret) {
    if (inline || file) {
      throw new ConfigError(
        `${inline ? SLACK_ENV.users : SLACK_ENV.usersFile} is set but ${SLACK_ENV.signingSecret} is not: ` +
          `Slack approvals need the Slack app's signing secret.`,
      );
    }
    return undefined;
  }
  let text = '{}';
  let from: string = SLACK_ENV.users;
  if (inline) text = inline;
  else if (file) {
    from = `${SLACK_ENV.usersFile} (${file})`;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(
        `${SLACK_ENV.usersFile}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}.`,
      );
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ConfigError(`${from} is not valid JSON.`);
  }
  const parsed = usersSchema.safeParse(json);
  if (!parsed.success) {
    const lines = parsed.error.issues
      // A user ID that fails: its own messages, at its path.
      .flatMap((i) =>
        i.code === 'invalid_key' ? i.issues.map((inner) => ({ ...inner, path: i.path })) : [i],
      )
      .map((i) => `  ${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`Invalid Slack user mapping in ${from}:\n${lines.join('\n')}`);
  }
  return {
    signingSecret: secret,
    users: new Map(Object.entries(parsed.data)),
    responseUrlAllowList: [SLACK_RESPONSE_ORIGIN, ...extraResponseOrigins],
  };
}

// ---------------------------------------------------------------------------------------------------------
// The interaction payload (what Slack posts when someone clicks a button)
// ---------------------------------------------------------------------------------------------------------

/** The fields of a `block_actions` payload Quell reads; the rest of what Slack sends is ignored. */
export const slackInteractionPayload = z.object({
  type: z.string().min(1).max(64),
  user: z.object({ id: slackUserId, username: z.string().max(200).optional() }),
  team: z.object({ id: slackTeamId }).nullable().optional(),
  actions: z
    .array(
      z.object({
        action_id: z.string().min(1).max(255),
        value: z.string().max(2000).optional(),
      }),
    )
    .max(20)
    .optional(),
  response_url: z
    .url({ protocol: /^https?$/ })
    .max(2000)
    .optional(),
  channel: z
    .object({ id: z.string().max(64) })
    .nullable()
    .optional(),
  message: z
    .object({ ts: z.string().max(64) })
    .nullable()
    .optional(),
});
export type SlackInteractionPayload = z.output<typeof slackInteractionPayload>;

/** The form body Slack sends: `payload=<JSON>`; documented in the OpenAPI document. */
export const slackInteractionForm = z
  .object({ payload: z.string().describe('The interaction as JSON (Slack block_actions payload).') })
  .describe('application/x-www-form-urlencoded, as Slack sends interactions.');

const FORM_TYPE = 'application/x-www-form-urlencoded';

function signatureRefused(reason: string): ApiProblem {
  const detail: Record<string, string> = {
    missing: `Send ${SLACK_SIGNATURE_HEADER} and ${SLACK_TIMESTAMP_HEADER} (Slack signs every request).`,
    malformed: `${SLACK_SIGNATURE_HEADER} must be v0=<64 hex digits> and ${SLACK_TIMESTAMP_HEADER} Unix seconds.`,
    stale: `${SLACK_TIMESTAMP_HEADER} is more than 5 minutes from Quell's clock (a replay, or a skewed clock).`,
    mismatch: `${SLACK_SIGNATURE_HEADER} does not match the body for the configured signing secret.`,
  };
  return new ApiProblem(
    401,
    'slack-signature-invalid',
    'Unauthorized',
    detail[reason] ?? 'Signature invalid.',
    {
      reason,
    },
  );
}

/**
 * The route's stages before its handler: 404 when Slack is not configured; 415 unless form-encoded; the raw
 * body read and its signature verified (401), and only then the form and its `payload` parsed and validated
 * (400 naming the field). The validated payload is left in `req.body`.
 */
export function slackInteractionStages(
  config: SlackInteractionsConfig | undefined,
  bodyLimit: string,
): RequestHandler[] {
  const rawParser = express.raw({ limit: bodyLimit, type: () => true });
  return [
    (req, res, next) => {
      if (!config) {
        // 404, not 501: without a signing secret the route is not there (and no 5xx answers a caller's request).
        throw new ApiProblem(
          404,
          'slack-not-configured',
          'Slack approvals are not configured',
          `Set ${SLACK_ENV.signingSecret} (the Slack app's signing secret) and ${SLACK_ENV.users} to take decisions from Slack.`,
        );
      }
      if (!hasBody(req)) {
        throw new ApiProblem(400, 'missing-body', 'Missing body', 'Send the interaction as a form body.');
      }
      if (!req.is(FORM_TYPE)) {
        throw new ApiProblem(
          415,
          'unsupported-media-type',
          'Unsupported media type',
          `Send the body as ${FORM_TYPE} (as Slack does).`,
        );
      }
      rawParser(req, res, next);
    },
    (req, _res, next) => {
      const raw: unknown = req.body;
      if (!Buffer.isBuffer(raw)) {
        throw new ApiProblem(400, 'missing-body', 'Missing body', 'Send the interaction as a form body.');
      }
      const header = (name: string) => {
        const v = req.headers[name];
        return typeof v === 'string' ? v : undefined;
      };
      const check = verifySlackSignature(
        config!.signingSecret,
        { signature: header(SLACK_SIGNATURE_HEADER), timestamp: header(SLACK_TIMESTAMP_HEADER) },
        raw,
      );
      if (!check.ok) {
        req.log.warn({ reason: check.reason }, 'slack interaction signature rejected');
        throw signatureRefused(check.reason);
      }
      const payloadText = new URLSearchParams(raw.toString('utf8')).get('payload');
      if (payloadText === null) {
        throw new ApiProblem(400, 'validation-failed', 'Invalid request', 'The form has no payload field.', {
          errors: [{ path: 'payload', message: 'Required' }],
        });
      }
      let json: unknown;
      try {
        json = JSON.parse(payloadText);
      } catch {
        throw new ApiProblem(400, 'validation-failed', 'Invalid request', 'payload is not valid JSON.', {
          errors: [{ path: 'payload', message: 'Not valid JSON' }],
        });
      }
      const parsed = slackInteractionPayload.safeParse(json);
      if (!parsed.success) throw validationProblem(parsed.error, 'body', { prefix: 'payload' });
      req.body = parsed.data;
      next();
    },
  ];
}

// ---------------------------------------------------------------------------------------------------------
// Deciding
// ---------------------------------------------------------------------------------------------------------

/** What Quell posts to a response_url: Slack's message fields. */
export interface SlackResponse {
  response_type?: 'ephemeral' | 'in_channel';
  replace_original: boolean;
  text: string;
  blocks?: unknown[];
}

const refusalWords = (type: string, subject: string, approval: string, fallback: string): string => {
  switch (type) {
    case 'SelfApproval':
      return `You (${subject}) raised or requested this action, so you cannot approve it: another approver must decide ${approval}.`;
    case 'DuplicateApprover':
      return `You (${subject}) have already decided on ${approval}; it needs a second, different approver.`;
    case 'NotAnApprover':
      return `${subject} does not hold the approver role in Quell, so cannot decide ${approval}.`;
    case 'ApprovalExpired':
      return `${approval} has expired; nothing was decided.`;
    case 'ApprovalNotFound':
      return `Quell has no approval ${approval} on this incident.`;
    case 'IncidentClosed':
    case 'IncidentClosing':
      return `The incident is closed (or closing); ${approval} can no longer be decided.`;
    default:
      return fallback;
  }
};

/**
 * Takes decisions from Slack clicks. `accept` validates the click and starts the decision without waiting
 * for it (Slack wants its answer within 3 s; an incident update can wait longer on a busy worker); the
 * outcome, or the refusal in plain words, is posted to the interaction's `response_url`.
 */
export class SlackApprovals {
  private readonly http: HttpClient;
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly config: SlackInteractionsConfig,
    private readonly incidents: IncidentOperations,
    private readonly logger: Logger,
  ) {
    this.http = new HttpClient({
      vendor: 'slack',
      allowList: config.responseUrlAllowList,
      timeoutMs: 10_000,
      logger,
      // A response_url is a short-lived credential: its path is never logged.
      redactPath: true,
    });
  }

  /** Starts handling a click; never throws (what goes wrong is told to the clicker and logged). */
  accept(payload: SlackInteractionPayload): void {
    const task = this.handle(payload)
      .catch((err: unknown) =>
        this.logger.error({ err: (err as Error).message }, 'slack interaction could not be handled'),
      )
      .finally(() => this.pending.delete(task));
    this.pending.add(task);
  }

  /** Resolves when every accepted click has been handled (for shutdown and tests). */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private async handle(p: SlackInteractionPayload): Promise<void> {
    if (p.type !== 'block_actions') return;
    const action = p.actions?.find(
      (a) => a.action_id === SLACK_APPROVE_ACTION || a.action_id === SLACK_REJECT_ACTION,
    );
    if (!action) return;
    const target = parseApprovalButtonValue(action.value ?? '');
    if (!target) {
      await this.reply(p, { ephemeral: 'This button does not name a Quell approval; nothing was decided.' });
      return;
    }
    const decision = action.action_id === SLACK_APPROVE_ACTION ? 'approve' : 'reject';
    const userId = p.user.id;
    const teamId = p.team?.id ?? '';
    const log = this.logger.child({ slackUser: userId, slackTeam: teamId, ...target, decision });
    const mapped = this.config.users.get(userId);
    if (!mapped || (mapped.team && mapped.team !== teamId)) {
      log.warn('slack click from an unmapped user refused');
      await this.reply(p, {
        ephemeral:
          `Quell does not know Slack user ${userId}${teamId ? ` in ${teamId}` : ''}, so nothing was decided. ` +
          `An administrator maps Slack users to Quell identities in ${SLACK_ENV.users}.`,
      });
      return;
    }
    const actor: Actor = { subject: mapped.subject, roles: mapped.roles };
    try {
      const approval = await this.incidents.decideApproval(
        target.incidentId,
        target.approvalId,
        decision,
        undefined,
        actor,
        { via: 'slack', slack: { userId, teamId } },
      );
      log.info({ subject: actor.subject, state: approval.state }, 'slack decision recorded');
      await this.reply(p, { replace: approvalMessage(target.incidentId, approval) });
    } catch (err) {
      const words = await this.refusalText(err, actor.subject, target);
      log.warn({ subject: actor.subject, error: (err as Error).message }, 'slack decision refused');
      await this.reply(p, { ephemeral: words });
    }
  }

  private async refusalText(
    err: unknown,
    subject: string,
    target: { incidentId: string; approvalId: string },
  ): Promise<string> {
    if (err instanceof IncidentRefusedError) {
      if (err.type === 'ApprovalAlreadyDecided') {
        const approval = await this.approval(target).catch(() => undefined);
        return approval
          ? `${target.approvalId} is already decided: ${approvalOutcome(approval)}.`
          : `${target.approvalId} is already decided.`;
      }
      return refusalWords(err.type, subject, target.approvalId, err.message);
    }
    if (err instanceof IncidentNotFoundError) return `Quell has no incident ${target.incidentId}.`;
    if (err instanceof TemporalUnavailableError) {
      return 'Quell cannot reach its workflow engine right now; nothing was decided. Try again in a minute.';
    }
    return 'Quell could not record the decision; nothing was decided. Try again, or decide in Quell.';
  }

  private async approval(target: { incidentId: string; approvalId: string }): Promise<Approval | undefined> {
    const state = await this.incidents.getState(target.incidentId);
    return state.approvals.find((a) => a.approvalId === target.approvalId);
  }

  private async reply(
    p: SlackInteractionPayload,
    what: { ephemeral: string } | { replace: { text: string; blocks: unknown[] } },
  ): Promise<void> {
    if (!p.response_url) return;
    const body: SlackResponse =
      'ephemeral' in what
        ? { response_type: 'ephemeral', replace_original: false, text: slackText(what.ephemeral) }
        : { replace_original: true, text: slackText(what.replace.text), blocks: what.replace.blocks };
    const res = await this.http.request({ method: 'POST', url: p.response_url, op: 'respond', json: body });
    if (res.status >= 300) {
      this.logger.warn({ status: res.status }, 'slack response_url refused the reply');
    }
  }
}
