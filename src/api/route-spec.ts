/**
 * What a route of the API is: the declaration each domain's routes file (routes/) writes once, that app.ts
 * registers (authentication, role check, validation, handler) and openapi.ts documents, so the document cannot
 * drift from what is served.
 */
import type { Request, Response } from 'express';
import type { Client } from '@temporalio/client';
import type { z } from 'zod';
import type { Actor, Role } from '../domain/incident';
import type { IncidentOperations } from '../incidents/types';
import type { ApiMetrics } from './metrics';
import type { CodecServerOptions } from './routes/codec';
import type { ConsoleSignIn } from './oidc';
import type { SlackApprovals } from './slack-interactions';

/** What the audit engineer's module provides (timeline, history, report, bundle, evidence); optional in this build. */
export interface AuditOperations {
  timeline(incidentId: string): Promise<unknown>;
  history(incidentId: string): Promise<unknown>;
  /** JSON: a document (object); markdown: the report's text. */
  report(incidentId: string, format: 'json' | 'markdown'): Promise<unknown>;
  /** The tamper-evident audit bundle `quell audit export` writes (signed when the module has a key), and its file name. */
  bundle(incidentId: string): Promise<{ fileName: string; bundle: unknown }>;
  /** The evidence manifest: each item's hash, location and chain of custody. */
  evidence(incidentId: string): Promise<{ incidentId: string; items: unknown[] }>;
}

export interface RouteDeps {
  client: Client;
  taskQueue: string;
  incidents: IncidentOperations;
  audit?: AuditOperations;
  metrics: ApiMetrics;
  /** The OpenAPI document (built from this same table). */
  openApi: () => unknown;
  /** Decisions from Slack buttons; absent when Slack approvals are not configured. */
  slack?: SlackApprovals;
  /** The console's OpenID Connect sign-in (see `OidcVerifier.consoleSignIn`); absent without an issuer. */
  consoleSignIn?: () => Promise<ConsoleSignIn | undefined>;
  /** The Temporal codec server's codec and namespace; absent: the codec routes act as with encryption off. */
  codecServer?: CodecServerOptions;
}

/** `headers`: set on the response as they are (each documented in the route's `ResponseDoc.headers`). */
export type Reply = (
  { status: number; json: unknown } | { status: number; text: string; contentType: string }
) & {
  headers?: Record<string, string>;
};

export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** The verified caller; undefined only on public routes. */
  actor: Actor;
  req: Request;
  res: Response;
}

export interface ResponseDoc {
  description: string;
  schema?: z.ZodType;
  /** Default application/json. */
  contentType?: string;
  /** Further content types for the same status (e.g. text/markdown for a report). */
  alternatives?: { contentType: string; schema: z.ZodType }[];
  /** Response headers the handler sets (name: description), for the document. */
  headers?: Record<string, string>;
}

/**
 * - `public`: no authentication;
 * - `bearer`: `Authorization: Bearer <token>` and one of `roles` (admin always passes);
 * - `ingest`: a bearer token with the ingest role, or an `X-Quell-Signature` signed by a configured source;
 *   the body is read raw (for the signature), then parsed, and the caller is rate limited;
 * - `slack`: Slack's request signature (`X-Slack-Signature`) over the raw form body, verified before the
 *   `payload` field is parsed (slack-interactions.ts); who acts is decided from the payload's Slack user.
 */
export type AuthMode = 'public' | 'bearer' | 'ingest' | 'slack';

export interface RouteSpec {
  operationId: string;
  method: 'get' | 'post';
  /** Express path syntax (`:id`); the document renders `{id}`. */
  path: string;
  tag: string;
  summary: string;
  description?: string;
  auth: AuthMode;
  roles: readonly Role[];
  params?: z.ZodType;
  query?: z.ZodType;
  /** JSON body, validated strictly; a request without a body is validated as `{}`. */
  body?: z.ZodType;
  /** For `ingest`: what the raw body may be (documentation only; the handler parses and normalizes). */
  rawBodyDoc?: z.ZodType;
  /**
   * For `ingest`: how many alerts a parsed body carries. The caller's rate limit is charged one token per alert
   * (one when absent), so a batch counts as its alerts.
   */
  alertCount?: (body: unknown) => number;
  /** For `ingest`: the body is a batch, read up to the batch body limit instead of the API's. */
  batchBody?: true;
  /** The route calls IncidentOperations, so Temporal being down answers 503. */
  usesIncidents: boolean;
  responses: Record<number, ResponseDoc>;
  /**
   * An approver's decision (approve, reject, close). The incident itself checks `roles` (admin alone does not
   * pass: separation of duties) and records every refused attempt for auditors, so any caller who may read
   * incidents is let through to it; the others are refused here.
   */
  decision?: true;
  /** Problem statuses beyond those the auth/validation settings imply (e.g. refusals: 403, 409). */
  errors?: Record<number, string>;
  handle(ctx: RouteContext<unknown, unknown, unknown>): Promise<Reply>;
}

/** The 422 a route that decodes an incident's payloads answers when it lacks their encryption key. */
export const ENCRYPTION_KEY_UNAVAILABLE =
  "The incident's payloads are encrypted with a key this server does not hold (`keyIds` names them).";

/** Who may read incidents, and so who is let through to a decision route (the incident refuses the rest). */
export const INCIDENT_READERS: readonly Role[] = ['responder', 'approver', 'auditor'];

/** Declares a route with handler types inferred from its schemas. */
export function defineRoute<
  P extends z.ZodType = z.ZodObject<Record<string, never>>,
  Q extends z.ZodType = z.ZodObject<Record<string, never>>,
  B extends z.ZodType = z.ZodUnknown,
>(
  spec: Omit<RouteSpec, 'params' | 'query' | 'body' | 'handle'> & {
    params?: P;
    query?: Q;
    body?: B;
    handle(ctx: RouteContext<z.output<P>, z.output<Q>, z.output<B>>): Promise<Reply>;
  },
): RouteSpec {
  return spec;
}
