/**
 * The ticket sync capability: an incident mirrored to the SOC's ticketing system (Jira, ServiceNow). Plain
 * data only; every call is idempotent so that a retried activity never makes a second ticket or comment.
 */
import type { ActionContext, EffectResult } from '../types';

export type TicketSeverity = 'critical' | 'high' | 'medium' | 'low';

export interface OpenTicketRequest {
  incidentId: string;
  /** Untrusted (it comes from the alert): connectors render it inert. */
  title: string;
  severity: TicketSeverity;
  /** Untrusted, plain text; line breaks are kept. */
  description: string;
  /** Where the incident is in Quell's own UI (an http(s) URL); ignored when it is not one. */
  link?: string;
}

export interface OpenTicketResult {
  /** What later calls take: the Jira issue key, the ServiceNow `sys_id`. Store it with the incident. */
  key: string;
  /** What people call the ticket: the Jira key (`SOC-42`), the ServiceNow number (`INC0010001`). */
  displayId: string;
  /** The ticket in the vendor's UI, when it is known. */
  url?: string;
  /** False when a ticket for this incident existed already (a retry, or an earlier run). */
  created: boolean;
}

export type TicketResolution = 'resolved' | 'false_positive';

export interface CloseTicketRequest {
  resolution: TicketResolution;
  /** Untrusted closing note, plain text. */
  text: string;
}

/**
 * A ticketing system. Idempotency:
 * - `openTicket` looks for the incident's ticket (Jira label, ServiceNow correlation ID) before it creates
 *   one, so a retry after a lost answer finds the first ticket;
 * - `addComment` marks each comment with a reference derived from `ctx.idempotencyKey` and posts nothing
 *   when a comment with that reference is there already (`alreadyInState: true`);
 * - `closeTicket` on a ticket already done/resolved/closed is `alreadyInState: true`.
 * Errors: only the classes in `../errors` (`not_found` for an unknown key).
 */
export interface TicketSystem {
  readonly vendor: string;
  /**
   * The incident's ticket, found or created. Thrown: `PermanentConnectorError` when the incident ID holds
   * characters other than letters, digits, `.`, `_`, `-`, `:` or the vendor refuses the fields;
   * `ConnectorAuthError` on bad credentials; `RateLimitedError` (with `retryAfterMs`) on a 429;
   * `TransientConnectorError` on 5xx, timeouts and network failures.
   */
  openTicket(req: OpenTicketRequest, ctx: ActionContext): Promise<OpenTicketResult>;
  /**
   * One comment per `ctx.idempotencyKey`. Thrown: `TargetNotFoundError` when no ticket has that key,
   * `PermanentConnectorError` when the key is not of the vendor's form; otherwise as `openTicket`.
   */
  addComment(key: string, text: string, ctx: ActionContext): Promise<EffectResult>;
  /**
   * Resolves the ticket with a closing note. Thrown: `TargetNotFoundError` for an unknown key,
   * `PermanentConnectorError` when the workflow has no such transition (Jira) or a data policy refuses
   * (ServiceNow); otherwise as `openTicket`.
   */
  closeTicket(key: string, req: CloseTicketRequest, ctx: ActionContext): Promise<EffectResult>;
}
