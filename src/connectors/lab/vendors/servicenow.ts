import { randomBytes } from 'node:crypto';
import express, { type Request, type Response, type Router } from 'express';
import { bearer, bodyOf, fail, incidentOf, locals, str } from '../http';
import type { LabServiceNowIncident } from '../estate/tickets';
import type { LabStore } from '../store';

/** Incident fields a caller may write (besides the journal field `work_notes`). */
const WRITABLE = new Set([
  'short_description',
  'description',
  'impact',
  'urgency',
  'state',
  'close_code',
  'close_notes',
  'correlation_id',
  'correlation_display',
  'category',
  'assignment_group',
]);
const STATES = new Set(['1', '2', '3', '6', '7', '8']);
const LEVELS = new Set(['1', '2', '3']);

/** The priority the out-of-box matrix derives from impact and urgency. */
function priorityOf(impact: string, urgency: string): string {
  const sum = Number(impact) + Number(urgency);
  return String(Math.min(5, Math.max(1, sum - 1)));
}

function recordJson(r: LabServiceNowIncident, fields?: string[]) {
  const all: Record<string, string> = {
    sys_id: r.sysId,
    number: r.number,
    sys_created_on: r.createdOn,
    sys_updated_on: r.updatedOn,
    priority: priorityOf(r.fields.impact ?? '3', r.fields.urgency ?? '3'),
    ...r.fields,
    // Journal fields read back empty from the Table API; the entries live in sys_journal_field.
    work_notes: '',
  };
  const wanted = fields?.length ? fields : Object.keys(all);
  return Object.fromEntries(wanted.map((f) => [f, all[f] ?? '']));
}

/**
 * An encoded query of `field=value` and `fieldLIKEvalue` conditions joined by `^` (AND), and an optional
 * `ORDERBY<field>`: the subset of ServiceNow's encoded queries the lab evaluates.
 */
function parseQuery(q: string): ((get: (f: string) => string) => boolean)[] {
  const tests: ((get: (f: string) => string) => boolean)[] = [];
  for (const cond of q.split('^').filter(Boolean)) {
    if (/^ORDERBY(DESC)?\w+$/.test(cond)) continue;
    const like = /^(\w+)LIKE(.*)$/.exec(cond);
    if (like) {
      const [, field, value] = like;
      tests.push((get) => get(field!).toLowerCase().includes(value!.toLowerCase()));
      continue;
    }
    const eq = /^(\w+)=(.*)$/.exec(cond);
    // ServiceNow ignores a condition it cannot read (and may then match every record): the lab matches none.
    if (!eq) return [() => false];
    const [, field, value] = eq;
    tests.push((get) => get(field!) === value);
  }
  return tests;
}

function limitOf(req: Request): number {
  return Math.min(10_000, Math.max(1, Number(str(req.query.sysparm_limit) ?? 10_000) || 10_000));
}

function fieldsOf(req: Request): string[] | undefined {
  return str(req.query.sysparm_fields)?.split(',').filter(Boolean);
}

function noRecord(res: Response): void {
  fail(
    res,
    'servicenow',
    404,
    'No Record found',
    "Record doesn't exist or ACL restricts the record retrieval",
  );
}

/** Checks and applies a body's fields; answers the refusal itself and returns undefined. */
function writable(
  res: Response,
  body: Record<string, unknown>,
  current?: Record<string, string>,
): { fields: Record<string, string>; notes: string[] } | undefined {
  const fields: Record<string, string> = {};
  const notes: string[] = [];
  for (const [k, v] of Object.entries(body)) {
    if (v === null || v === undefined) continue;
    const value = typeof v === 'number' ? String(v) : v;
    if (typeof value !== 'string') {
      fail(res, 'servicenow', 400, 'Exception while reading request', `Invalid value for field ${k}`);
      return undefined;
    }
    if (k === 'work_notes') {
      if (value.trim()) notes.push(value);
    } else if (WRITABLE.has(k)) {
      fields[k] = value;
    }
    // Unknown fields are ignored, as ServiceNow does.
  }
  for (const k of ['impact', 'urgency'] as const) {
    if (fields[k] !== undefined && !LEVELS.has(fields[k])) {
      fail(res, 'servicenow', 400, 'Invalid value', `${k} must be 1, 2 or 3`);
      return undefined;
    }
  }
  if (fields.state !== undefined && !STATES.has(fields.state)) {
    fail(res, 'servicenow', 400, 'Invalid value', 'state is not a choice of the incident table');
    return undefined;
  }
  const merged = { ...current, ...fields };
  if ((merged.state === '6' || merged.state === '7') && (!merged.close_code || !merged.close_notes)) {
    fail(
      res,
      'servicenow',
      403,
      'Operation Failed',
      'Data Policy Exception: \n  The following fields are mandatory: Resolution code, Resolution notes',
    );
    return undefined;
  }
  return { fields, notes };
}

/**
 * The lab's ServiceNow Table API: `incident` records (create, list with `sysparm_query`, read, PATCH with
 * `work_notes`) and their journal entries in `sys_journal_field`, basic auth with the lab integration
 * user or a bearer token from `POST /oauth_token.do` (password grant with the lab's OAuth client; tokens
 * live `tokenTtlSeconds` and are not persisted). Answers wrap in `result`; errors are `{error: {message, detail}, status: "failure"}`.
 */
export function serviceNowRouter(store: LabStore): Router {
  const r = express.Router();
  const { user, password, clientId, clientSecret } = store.credentials.servicenow;
  const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const tokens = new Map<string, number>();
  r.post('/oauth_token.do', (req, res) => {
    const b = bodyOf(req);
    if (b.client_id !== clientId || b.client_secret !== clientSecret) {
      res.status(401).json({ error_description: 'access_denied', error: 'server_error' });
      return;
    }
    if (b.grant_type !== 'password') {
      res.status(400).json({ error_description: 'unsupported grant type', error: 'unsupported_grant_type' });
      return;
    }
    if (b.username !== user || b.password !== password) {
      res.status(401).json({ error_description: 'access_denied', error: 'server_error' });
      return;
    }
    const token = `lab-servicenow-${randomBytes(18).toString('base64url')}`;
    tokens.set(token, store.now() + store.tokenTtlSeconds * 1000);
    res.json({
      access_token: token,
      refresh_token: `lab-servicenow-refresh-${randomBytes(9).toString('base64url')}`,
      scope: 'useraccount',
      token_type: 'Bearer',
      expires_in: store.tokenTtlSeconds,
    });
  });
  const validBearer = (req: Request): boolean => {
    const t = bearer(req);
    const until = t ? tokens.get(t) : undefined;
    return until !== undefined && store.now() < until;
  };
  r.use((req, res, next) => {
    if (locals(res).authExpired) tokens.clear();
    if ((req.get('authorization') !== expected && !validBearer(req)) || locals(res).authExpired) {
      fail(res, 'servicenow', 401, 'User Not Authenticated', 'Required to provide Auth information');
      return;
    }
    next();
  });
  const find = (req: Request, res: Response): LabServiceNowIncident | undefined => {
    const record = store.tickets.incident(String(req.params.sysId));
    if (!record) noRecord(res);
    return record;
  };

  r.post('/api/now/table/incident', (req, res) => {
    const w = writable(res, bodyOf(req));
    if (!w) return;
    const incidentId = incidentOf(req);
    const record = store.tickets.addIncident(w.fields, w.notes, incidentId);
    res
      .status(201)
      .location(
        `${req.protocol}://${req.get('host') ?? 'localhost'}${req.baseUrl}/api/now/table/incident/${record.sysId}`,
      )
      .json({ result: recordJson(record, fieldsOf(req)) });
  });

  r.get('/api/now/table/incident', (req, res) => {
    const tests = parseQuery(str(req.query.sysparm_query) ?? '');
    const found = store.tickets
      .serviceNowIncidents()
      .filter((i) => tests.every((t) => t((f) => (recordJson(i) as Record<string, string>)[f] ?? '')));
    res.json({ result: found.slice(0, limitOf(req)).map((i) => recordJson(i, fieldsOf(req))) });
  });

  r.get('/api/now/table/incident/:sysId', (req, res) => {
    const record = find(req, res);
    if (record) res.json({ result: recordJson(record, fieldsOf(req)) });
  });

  r.patch('/api/now/table/incident/:sysId', (req, res) => {
    const record = find(req, res);
    if (!record) return;
    const w = writable(res, bodyOf(req), record.fields);
    if (!w) return;
    store.tickets.updateIncident(record, w.fields, w.notes);
    res.json({ result: recordJson(record, fieldsOf(req)) });
  });

  r.get('/api/now/table/sys_journal_field', (req, res) => {
    const tests = parseQuery(str(req.query.sysparm_query) ?? '');
    const entries = store.tickets.serviceNowIncidents().flatMap((i) =>
      i.notes.map((n) => ({
        sys_id: n.sysId,
        element_id: i.sysId,
        name: 'incident',
        element: n.element,
        value: n.value,
        sys_created_on: n.createdOn,
        sys_created_by: user,
      })),
    );
    const found = entries.filter((e) => tests.every((t) => t((f) => (e as Record<string, string>)[f] ?? '')));
    const fields = fieldsOf(req);
    res.json({
      result: found
        .slice(0, limitOf(req))
        .map((e) =>
          fields ? Object.fromEntries(fields.map((f) => [f, (e as Record<string, string>)[f] ?? ''])) : e,
        ),
    });
  });

  r.use((req, res) => {
    fail(res, 'servicenow', 400, 'Requested URI does not represent any resource', req.path);
  });
  return r;
}
