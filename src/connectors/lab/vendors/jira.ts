import express, { type Request, type Response, type Router } from 'express';
import { bodyOf, fail, incidentOf, locals, str } from '../http';
import {
  LAB_JIRA_STATUSES,
  LAB_JIRA_TRANSITIONS,
  type LabJiraComment,
  type LabJiraIssue,
} from '../estate/tickets';
import type { LabStore } from '../store';

const ISSUE_TYPES = new Set(['Task', 'Incident', 'Bug']);
const AUTHOR = { accountId: '5b10a2844c20165700ede21g', displayName: 'Quell (lab)', active: true };

function statusJson(statusId: string) {
  const s = LAB_JIRA_STATUSES.find((x) => x.id === statusId)!;
  return {
    id: s.id,
    name: s.name,
    statusCategory: { key: s.category, name: s.category === 'done' ? 'Done' : s.name },
  };
}

function self(req: Request, path: string): string {
  return `${req.protocol}://${req.get('host') ?? 'localhost'}${req.baseUrl}${path}`;
}

function issueJson(req: Request, i: LabJiraIssue, fields?: string[]) {
  const all: Record<string, unknown> = {
    summary: i.summary,
    status: statusJson(i.statusId),
    labels: i.labels,
    issuetype: { name: i.issueType },
    project: { key: i.project },
    created: i.created,
    updated: i.updated,
    description: i.description ?? null,
  };
  const wanted = fields && !fields.includes('*all') ? fields : Object.keys(all);
  return {
    id: i.id,
    key: i.key,
    self: self(req, `/rest/api/3/issue/${i.id}`),
    fields: Object.fromEntries(wanted.filter((f) => f in all).map((f) => [f, all[f]])),
  };
}

function commentJson(req: Request, i: LabJiraIssue, c: LabJiraComment) {
  return {
    id: c.id,
    self: self(req, `/rest/api/3/issue/${i.id}/comment/${c.id}`),
    author: AUTHOR,
    body: c.body,
    created: c.created,
    updated: c.created,
  };
}

/** Whether a value is an ADF document (the v3 API refuses anything else in rich-text fields). */
function isAdfDoc(v: unknown): boolean {
  const d = v as { type?: unknown; version?: unknown; content?: unknown } | null;
  return !!d && typeof d === 'object' && d.type === 'doc' && d.version === 1 && Array.isArray(d.content);
}

/** 400 in Jira's shape: field errors, general messages, or both. */
function invalid(res: Response, errors: Record<string, string>, messages: string[] = []): void {
  res.status(400).json({ errorMessages: messages, errors });
}

function issueNotFound(res: Response): void {
  fail(res, 'jira', 404, 'Issue does not exist or you do not have permission to see it.');
}

/**
 * The JQL the lab understands: clauses `field = "value"` (or `field = value`) joined by AND, for `project`,
 * `labels` and `key`, and an optional `ORDER BY created ASC|DESC`. Anything else is Jira's 400.
 */
function parseJql(jql: string): { clauses: [string, string][]; desc: boolean } | string {
  const m = /^(.*?)(?:\s+ORDER\s+BY\s+created(?:\s+(ASC|DESC))?)?\s*$/i.exec(jql.trim());
  const where = m?.[1]?.trim() ?? '';
  const desc = (m?.[2] ?? '').toUpperCase() === 'DESC';
  if (!where) return { clauses: [], desc };
  const clauses: [string, string][] = [];
  for (const part of where.split(/\s+AND\s+/i)) {
    const c = /^(project|labels|key)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([A-Za-z0-9_.:-]+))$/i.exec(part.trim());
    if (!c) return `Error in the JQL Query: the lab cannot parse ${JSON.stringify(part.trim())}.`;
    clauses.push([c[1]!.toLowerCase(), (c[2] ?? c[3] ?? '').replace(/\\(.)/g, '$1')]);
  }
  return { clauses, desc };
}

/**
 * The lab's Jira Cloud (REST API v3), basic auth with the lab account's e-mail and API token: issues of the
 * project `SOC` (create, read), enhanced JQL search, comments (ADF bodies) and the To Do / In Progress /
 * Done workflow's transitions. Error bodies are Jira's `{errorMessages, errors}`.
 */
export function jiraRouter(store: LabStore): Router {
  const r = express.Router();
  const { email, apiToken, project } = store.credentials.jira;
  const expected = `Basic ${Buffer.from(`${email}:${apiToken}`).toString('base64')}`;
  r.use((req, res, next) => {
    if (req.get('authorization') !== expected || locals(res).authExpired) {
      fail(res, 'jira', 401, 'You are not authenticated. Authentication required to perform this operation.');
      return;
    }
    next();
  });
  const find = (req: Request, res: Response): LabJiraIssue | undefined => {
    const issue = store.tickets.issue(String(req.params.key));
    if (!issue) issueNotFound(res);
    return issue;
  };

  r.post('/rest/api/3/issue', (req, res) => {
    const f = (bodyOf(req).fields ?? {}) as Record<string, unknown>;
    const errors: Record<string, string> = {};
    const projectKey = str((f.project as { key?: unknown } | undefined)?.key);
    if (projectKey !== project) errors.project = 'Specify a valid project ID or key';
    const issueType = str((f.issuetype as { name?: unknown } | undefined)?.name);
    if (!issueType || !ISSUE_TYPES.has(issueType)) errors.issuetype = 'Specify an issue type';
    const summary = typeof f.summary === 'string' ? f.summary : '';
    if (!summary.trim()) errors.summary = 'You must specify a summary of the issue.';
    else if (summary.length > 255) errors.summary = 'Summary must be less than 255 characters.';
    else if (/[\r\n]/.test(summary))
      errors.summary = 'The summary is invalid because it contains newline characters.';
    if (f.description !== undefined && f.description !== null && !isAdfDoc(f.description)) {
      errors.description =
        'Operation value must be an Atlassian Document (see the Atlassian Document Format)';
    }
    const labels = f.labels === undefined ? [] : f.labels;
    if (!Array.isArray(labels) || labels.some((l) => typeof l !== 'string')) {
      errors.labels = 'Operation value must be an array of strings';
    } else {
      const spaced = (labels as string[]).find((l) => /\s/.test(l));
      if (spaced !== undefined) errors.labels = `The label '${spaced}' contains spaces which is invalid.`;
    }
    if (Object.keys(errors).length) {
      invalid(res, errors);
      return;
    }
    const incidentId = incidentOf(req);
    const issue = store.tickets.addIssue({
      project,
      issueType: issueType!,
      summary,
      description: f.description ?? undefined,
      labels: labels as string[],
      ...(incidentId ? { incidentId } : {}),
    });
    res.status(201).json({ id: issue.id, key: issue.key, self: self(req, `/rest/api/3/issue/${issue.id}`) });
  });

  r.get('/rest/api/3/issue/:key', (req, res) => {
    const issue = find(req, res);
    const fields = str(req.query.fields)?.split(',').filter(Boolean);
    if (issue) res.json(issueJson(req, issue, fields));
  });

  r.get('/rest/api/3/search/jql', (req, res) => {
    const parsed = parseJql(str(req.query.jql) ?? '');
    if (typeof parsed === 'string') {
      invalid(res, {}, [parsed]);
      return;
    }
    const max = Math.min(5000, Math.max(1, Number(str(req.query.maxResults) ?? 50) || 50));
    const fields = (str(req.query.fields) ?? 'id').split(',').filter(Boolean);
    let issues = store.tickets
      .jiraIssues()
      .filter((i) =>
        parsed.clauses.every(([field, value]) =>
          field === 'project'
            ? i.project === value
            : field === 'key'
              ? i.key === value
              : i.labels.includes(value),
        ),
      );
    if (parsed.desc) issues = issues.reverse();
    const page = issues.slice(0, max);
    res.json({
      issues: page.map((i) => issueJson(req, i, fields)),
      isLast: page.length === issues.length,
      ...(page.length < issues.length ? { nextPageToken: `lab-${max}` } : {}),
    });
  });

  r.get('/rest/api/3/issue/:key/comment', (req, res) => {
    const issue = find(req, res);
    if (!issue) return;
    const startAt = Math.max(0, Number(str(req.query.startAt) ?? 0) || 0);
    const maxResults = Math.min(5000, Math.max(1, Number(str(req.query.maxResults) ?? 5000) || 5000));
    const ordered = str(req.query.orderBy) === '-created' ? [...issue.comments].reverse() : issue.comments;
    res.json({
      startAt,
      maxResults,
      total: issue.comments.length,
      comments: ordered.slice(startAt, startAt + maxResults).map((c) => commentJson(req, issue, c)),
    });
  });

  r.post('/rest/api/3/issue/:key/comment', (req, res) => {
    const issue = find(req, res);
    if (!issue) return;
    const body = bodyOf(req).body;
    if (!isAdfDoc(body)) {
      invalid(res, { comment: 'Comment body can not be empty!' });
      return;
    }
    const comment = store.tickets.addComment(issue, body, incidentOf(req));
    res.status(201).json(commentJson(req, issue, comment));
  });

  r.get('/rest/api/3/issue/:key/transitions', (req, res) => {
    const issue = find(req, res);
    if (!issue) return;
    res.json({
      expand: 'transitions',
      transitions: LAB_JIRA_TRANSITIONS.filter((t) => t.to !== issue.statusId).map((t) => ({
        id: t.id,
        name: t.name,
        to: statusJson(t.to),
        hasScreen: false,
        isGlobal: true,
        isInitial: false,
        isAvailable: true,
        isConditional: false,
      })),
    });
  });

  r.post('/rest/api/3/issue/:key/transitions', (req, res) => {
    const issue = find(req, res);
    if (!issue) return;
    const id = str((bodyOf(req).transition as { id?: unknown } | undefined)?.id);
    const t = LAB_JIRA_TRANSITIONS.find((x) => x.id === id && x.to !== issue.statusId);
    if (!t) {
      invalid(res, {}, [`Transition id '${id ?? ''}' is not valid for this issue.`]);
      return;
    }
    store.tickets.transition(issue, t.to);
    res.status(204).end();
  });

  r.use((req, res) => {
    fail(res, 'jira', 404, `No resource found for ${req.method} ${req.path} (lab)`);
  });
  return r;
}
