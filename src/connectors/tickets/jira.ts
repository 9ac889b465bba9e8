import type { Logger } from 'pino';
import { z } from 'zod';
import { defineLabVendor, defineVendor, optionalString, optionalUrl, origin } from '../descriptor';
import { PermanentConnectorError } from '../errors';
import { type AllowList, HttpClient, type HttpResponse, pick, pickString } from '../http';
import { LAB_CREDENTIALS, LAB_PREFIXES } from '../lab/credentials';
import type { ActionContext, EffectResult } from '../types';
import { KeyedMutex, queryString, vendorComment } from '../util';
import {
  type AdfDoc,
  adfFromText,
  adfParagraph,
  adfPlainText,
  assertIncidentId,
  commentRef,
  safeLink,
  stripControl,
} from './text';
import type { CloseTicketRequest, OpenTicketRequest, OpenTicketResult, TicketSystem } from './types';

export interface JiraOptions {
  /** The site, e.g. `https://acme.atlassian.net`. */
  baseUrl: string;
  /** The Atlassian account the API token belongs to. */
  email: string;
  apiToken: string;
  /** The project key issues are created in, e.g. `SOC`. */
  project: string;
  /** Default `Task`. */
  issueType?: string;
  /** The transition that closes an issue, by name (or its target status's name); default `Done`. */
  doneTransition?: string;
  allowList: AllowList;
  timeoutMs?: number;
  logger?: Logger;
}

const PROJECT_KEY_RE = /^[A-Z][A-Z0-9_]{0,254}$/;
const ISSUE_KEY_RE = /^[A-Z][A-Z0-9_]*-\d+$/;
/** Jira refuses comments that are too large; the cap keeps ours well inside it. */
const MAX_TEXT = 20_000;
/** Comments read per page, and pages read at most, when looking for a comment's reference. */
const COMMENT_PAGE = 100;
const COMMENT_PAGES = 20;

function jiraMessage(res: HttpResponse): string | undefined {
  const messages = pick(res.json, 'errorMessages');
  const errors = pick(res.json, 'errors');
  const parts: string[] = [];
  if (Array.isArray(messages)) parts.push(...messages.filter((m): m is string => typeof m === 'string'));
  if (errors && typeof errors === 'object') {
    for (const [field, m] of Object.entries(errors as Record<string, unknown>)) {
      if (typeof m === 'string') parts.push(`${field}: ${m}`);
    }
  }
  return parts.length ? parts.join('; ') : undefined;
}

/** The label that names an incident's issue: `quell-<incidentId>` (labels cannot hold spaces). */
export function jiraIncidentLabel(incidentId: string): string {
  return `quell-${incidentId.replace(/:/g, '_')}`;
}

/**
 * Jira Cloud ticket sync over REST API v3, basic auth with an Atlassian account's e-mail and API token.
 * Followed: developer.atlassian.com/cloud/jira/platform/rest/v3 (issues, issue comments, issue search,
 * transitions) and "Atlassian Document Format".
 *
 * - open: `GET /rest/api/3/search/jql?jql=project = "<P>" AND labels = "quell-<incident>"` first; when
 *   nothing matches, `POST /rest/api/3/issue` with `fields.project.key`, `summary`, `issuetype.name`,
 *   `description` (ADF) and `labels` (the incident label, `quell`, `severity-<s>`). 201 `{id, key}`.
 * - comment: `GET /rest/api/3/issue/{key}/comment?orderBy=-created` (paged by `startAt`) for a comment
 *   whose text carries the reference of `ctx.idempotencyKey`; else `POST .../comment {body: ADF}`.
 * - close: `GET /rest/api/3/issue/{key}?fields=status`; status category `done` is already in state. Else
 *   the closing comment (idempotent as above), `GET .../transitions`, and `POST .../transitions
 *   {transition: {id}}` (204) with the transition named `doneTransition` (or leading to a status of that
 *   name).
 * Untrusted text (titles, descriptions, comments) goes only into ADF text nodes, never into markup, and the
 * incident ID into labels and JQL only after {@link assertIncidentId}. 429 answers carry `Retry-After`.
 *
 * Limit: Jira's search index is eventually consistent, so an issue created moments before a retry may not
 * be found yet and a second one could be made; a retry comes seconds later (the activity's backoff), by
 * which time the index has caught up in practice.
 */
export class JiraTickets implements TicketSystem {
  readonly vendor = 'jira';
  private readonly http: HttpClient;
  private readonly base: string;
  private readonly project: string;
  private readonly issueType: string;
  private readonly doneTransition: string;
  private readonly mutex = new KeyedMutex();

  constructor(opts: JiraOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, '');
    if (!PROJECT_KEY_RE.test(opts.project)) {
      throw new PermanentConnectorError(`jira: invalid project key ${JSON.stringify(opts.project)}`, {
        vendor: this.vendor,
      });
    }
    this.project = opts.project;
    this.issueType = opts.issueType ?? 'Task';
    this.doneTransition = opts.doneTransition ?? 'Done';
    const basic = Buffer.from(`${opts.email}:${opts.apiToken}`).toString('base64');
    this.http = new HttpClient({
      vendor: this.vendor,
      allowList: opts.allowList,
      timeoutMs: opts.timeoutMs,
      logger: opts.logger,
      defaultHeaders: { authorization: `Basic ${basic}` },
    });
  }

  async openTicket(req: OpenTicketRequest, ctx: ActionContext): Promise<OpenTicketResult> {
    assertIncidentId(req.incidentId, this.vendor);
    const label = jiraIncidentLabel(req.incidentId);
    return this.mutex.run(label, async () => {
      const existing = await this.findByLabel(label);
      if (existing) return { ...this.ticketOf(existing), created: false };
      const op = `create issue for incident ${req.incidentId}`;
      const link = safeLink(req.link);
      const res = await this.http.request({
        method: 'POST',
        url: `${this.base}/rest/api/3/issue`,
        op,
        headers: { 'x-quell-incident': ctx.incidentId },
        json: {
          fields: {
            project: { key: this.project },
            issuetype: { name: this.issueType },
            // Jira's summary is one line of at most 255 characters.
            summary: oneLine(`[${req.severity}] ${req.title}`, 255),
            description: adfFromText(req.description.slice(0, MAX_TEXT), [
              adfParagraph(
                { type: 'text', text: 'Quell incident ', marks: [{ type: 'strong' }] },
                { type: 'text', text: req.incidentId, marks: [{ type: 'code' }] },
                ...(link
                  ? [' ', { type: 'text' as const, text: 'open in Quell', marks: [linkMark(link)] }]
                  : []),
              ),
            ]),
            labels: [label, 'quell', `severity-${req.severity}`],
          },
        },
      });
      if (res.status !== 201 && res.status !== 200) throw this.http.errorFor(res, op, jiraMessage(res));
      const key = pickString(res.json, 'key');
      if (!key) {
        throw new PermanentConnectorError(`jira: ${op}: the answer names no issue key`, {
          vendor: this.vendor,
        });
      }
      return { ...this.ticketOf(key), created: true };
    });
  }

  async addComment(key: string, text: string, ctx: ActionContext): Promise<EffectResult> {
    assertIssueKey(key, this.vendor);
    return this.mutex.run(key, () => this.comment(key, text, ctx));
  }

  async closeTicket(key: string, req: CloseTicketRequest, ctx: ActionContext): Promise<EffectResult> {
    assertIssueKey(key, this.vendor);
    return this.mutex.run(key, async () => {
      const status = await this.status(key);
      if (status.category === 'done') return { alreadyInState: true, vendorRef: key };
      const outcome = req.resolution === 'false_positive' ? 'Closed as a false positive' : 'Resolved';
      // Its own reference, so that a comment the caller made under the same key is not taken for it.
      await this.comment(key, `${outcome}. ${req.text}`, {
        ...ctx,
        idempotencyKey: `${ctx.idempotencyKey}:close`,
      });
      const transition = await this.findDoneTransition(key);
      const op = `transition issue ${key} (${this.doneTransition})`;
      const res = await this.http.request({
        method: 'POST',
        url: `${this.base}/rest/api/3/issue/${encodeURIComponent(key)}/transitions`,
        op,
        headers: { 'x-quell-incident': ctx.incidentId },
        json: { transition: { id: transition } },
      });
      if (res.status === 204 || res.status === 200) return { alreadyInState: false, vendorRef: key };
      throw this.http.errorFor(res, op, jiraMessage(res));
    });
  }

  private ticketOf(key: string): Omit<OpenTicketResult, 'created'> {
    return { key, displayId: key, url: `${this.base}/browse/${encodeURIComponent(key)}` };
  }

  private async findByLabel(label: string): Promise<string | undefined> {
    const op = `search issue labelled ${label}`;
    const jql = `project = "${this.project}" AND labels = "${label}" ORDER BY created ASC`;
    const res = await this.http.request({
      method: 'GET',
      url: `${this.base}/rest/api/3/search/jql${queryString({ jql, fields: 'summary,status', maxResults: 1 })}`,
      op,
    });
    if (res.status !== 200) throw this.http.errorFor(res, op, jiraMessage(res));
    return pickString(res.json, 'issues', 0, 'key');
  }

  private async comment(key: string, text: string, ctx: ActionContext): Promise<EffectResult> {
    const ref = commentRef(ctx.idempotencyKey);
    const found = await this.findComment(key, ref);
    if (found) return { alreadyInState: true, vendorRef: found };
    const op = `comment on issue ${key}`;
    const body: AdfDoc = adfFromText(text.slice(0, MAX_TEXT), [
      adfParagraph({ type: 'text', text: `${vendorComment(ctx.incidentId, '')} · ${ref}` }),
    ]);
    const res = await this.http.request({
      method: 'POST',
      url: `${this.base}/rest/api/3/issue/${encodeURIComponent(key)}/comment`,
      op,
      headers: { 'x-quell-incident': ctx.incidentId },
      json: { body },
    });
    if (res.status !== 201 && res.status !== 200) throw this.http.errorFor(res, op, jiraMessage(res));
    return { alreadyInState: false, vendorRef: pickString(res.json, 'id') ?? key };
  }

  /** The ID of the issue's comment carrying `ref`, newest first. */
  private async findComment(key: string, ref: string): Promise<string | undefined> {
    const op = `read comments of issue ${key}`;
    for (let page = 0, startAt = 0; page < COMMENT_PAGES; page++) {
      const res = await this.http.request({
        method: 'GET',
        url: `${this.base}/rest/api/3/issue/${encodeURIComponent(key)}/comment${queryString({
          startAt,
          maxResults: COMMENT_PAGE,
          orderBy: '-created',
        })}`,
        op,
      });
      if (res.status !== 200) throw this.http.errorFor(res, op, jiraMessage(res));
      const comments = pick(res.json, 'comments');
      if (!Array.isArray(comments) || comments.length === 0) return undefined;
      for (const c of comments) {
        if (adfPlainText(pick(c, 'body')).includes(ref)) return pickString(c, 'id') ?? key;
      }
      startAt += comments.length;
      const total = pick(res.json, 'total');
      if (typeof total === 'number' && startAt >= total) return undefined;
    }
    return undefined;
  }

  private async status(key: string): Promise<{ name: string; category: string }> {
    const op = `read issue ${key}`;
    const res = await this.http.request({
      method: 'GET',
      url: `${this.base}/rest/api/3/issue/${encodeURIComponent(key)}?fields=status`,
      op,
    });
    if (res.status !== 200) throw this.http.errorFor(res, op, jiraMessage(res));
    return {
      name: pickString(res.json, 'fields', 'status', 'name') ?? '',
      category: pickString(res.json, 'fields', 'status', 'statusCategory', 'key') ?? '',
    };
  }

  private async findDoneTransition(key: string): Promise<string> {
    const op = `read transitions of issue ${key}`;
    const res = await this.http.request({
      method: 'GET',
      url: `${this.base}/rest/api/3/issue/${encodeURIComponent(key)}/transitions`,
      op,
    });
    if (res.status !== 200) throw this.http.errorFor(res, op, jiraMessage(res));
    const list = pick(res.json, 'transitions');
    const want = this.doneTransition.toLowerCase();
    const transitions: unknown[] = Array.isArray(list) ? list : [];
    const match =
      transitions.find((t) => pickString(t, 'name')?.toLowerCase() === want) ??
      transitions.find((t) => pickString(t, 'to', 'name')?.toLowerCase() === want);
    const id = match ? pickString(match, 'id') : undefined;
    if (!id) {
      const names = transitions.map((t) => pickString(t, 'name')).filter(Boolean);
      throw new PermanentConnectorError(
        `jira: issue ${key} has no transition ${JSON.stringify(this.doneTransition)} (available: ${names.join(', ') || 'none'})`,
        { vendor: this.vendor },
      );
    }
    return id;
  }
}

function linkMark(href: string): { type: 'link'; attrs: { href: string } } {
  return { type: 'link', attrs: { href } };
}

function oneLine(s: string, max: number): string {
  const flat = stripControl(s).replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

function assertIssueKey(key: string, vendor: string): void {
  if (!ISSUE_KEY_RE.test(key)) {
    throw new PermanentConnectorError(`invalid Jira issue key ${JSON.stringify(key.slice(0, 40))}`, {
      vendor,
    });
  }
}

/** `QUELL_TICKETS=jira`: a Jira Cloud site with an Atlassian account's API token. */
export const jiraTickets = defineVendor({
  env: {
    QUELL_JIRA_BASE_URL: optionalUrl,
    QUELL_JIRA_EMAIL: optionalString,
    QUELL_JIRA_API_TOKEN: optionalString,
    QUELL_JIRA_PROJECT: optionalString.pipe(
      z.string().regex(PROJECT_KEY_RE, 'must be a Jira project key (e.g. SOC)').optional(),
    ),
    QUELL_JIRA_ISSUE_TYPE: optionalString,
    QUELL_JIRA_DONE_TRANSITION: optionalString,
  },
  secrets: ['QUELL_JIRA_API_TOKEN'],
  resolve: (e, ctx) => ({
    baseUrl: ctx.need('QUELL_JIRA_BASE_URL'),
    email: ctx.need('QUELL_JIRA_EMAIL'),
    apiToken: ctx.need('QUELL_JIRA_API_TOKEN'),
    project: ctx.need('QUELL_JIRA_PROJECT'),
    issueType: e.QUELL_JIRA_ISSUE_TYPE ?? 'Task',
    doneTransition: e.QUELL_JIRA_DONE_TRANSITION ?? 'Done',
  }),
  endpoints: (s) => [s.baseUrl],
  build: (s, ctx) => new JiraTickets({ ...s, ...ctx }),
  describe: (s) => `Jira Cloud (${origin(s.baseUrl)}, project ${s.project}, ${s.issueType})`,
});

/** `QUELL_TICKETS=lab`: the lab estate's Jira, with the lab's account and project. */
export const labTickets = defineLabVendor(LAB_PREFIXES.jira, {
  build: (s, ctx) => new JiraTickets({ baseUrl: s.baseUrl, ...LAB_CREDENTIALS.jira, ...ctx }),
  describe: (s) => `lab estate (${s.baseUrl}), Jira contract`,
});
