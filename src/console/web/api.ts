/**
 * The console's only way into Quell: the REST API, with the signed-in person's token (held in this module's
 * memory, never in storage or a URL). Problems come back as values, so views can say what went wrong.
 */
import type { Role } from '../../domain/incident';

export interface Me {
  subject: string;
  roles: Role[];
}

export interface Problem {
  status: number;
  title: string;
  detail: string;
  /** For refusals by the incident: the refusal type (e.g. SelfApproval). */
  refusal?: string;
  errors?: { path: string; message: string }[];
}

export type Answer<T> =
  | { ok: true; status: number; body: T; etag?: string }
  | { ok: true; status: 304; notModified: true }
  | { ok: false; problem: Problem };

let token: string | undefined;

export function setToken(value: string | undefined): void {
  token = value;
}

export function signedIn(): boolean {
  return token !== undefined;
}

async function problemOf(res: Response): Promise<Problem> {
  try {
    const body = (await res.json()) as Partial<Problem>;
    return {
      status: res.status,
      title: body.title ?? res.statusText,
      detail: body.detail ?? '',
      ...(body.refusal ? { refusal: body.refusal } : {}),
      ...(body.errors ? { errors: body.errors } : {}),
    };
  } catch {
    return { status: res.status, title: res.statusText || 'Request failed', detail: '' };
  }
}

/** One API call. `etag` makes it conditional: an unchanged resource answers 304 (`notModified`). */
export async function call<T>(
  method: 'GET' | 'POST',
  path: string,
  opts: { body?: unknown; etag?: string; accept?: string; text?: boolean } = {},
): Promise<Answer<T>> {
  const headers: Record<string, string> = { Accept: opts.accept ?? 'application/json' };
  if (token !== undefined) headers.Authorization = `Bearer ${token}`;
  if (opts.etag) headers['If-None-Match'] = opts.etag;
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      cache: 'no-store',
      credentials: 'omit',
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
    });
  } catch (err) {
    return {
      ok: false,
      problem: { status: 0, title: 'Quell is unreachable', detail: (err as Error).message },
    };
  }
  if (res.status === 304) return { ok: true, status: 304, notModified: true };
  if (!res.ok) return { ok: false, problem: await problemOf(res) };
  const body = (opts.text ? await res.text() : await res.json()) as T;
  const etag = res.headers.get('ETag') ?? undefined;
  return { ok: true, status: res.status, body, ...(etag ? { etag } : {}) };
}

/** A file the API answers as an attachment: its content, and the name `Content-Disposition` gives it. */
export async function fetchAttachment(
  path: string,
  fallbackName: string,
): Promise<{ ok: true; blob: Blob; fileName: string } | { ok: false; problem: Problem }> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (token !== undefined) headers.Authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch(path, { headers, cache: 'no-store', credentials: 'omit' });
  } catch (err) {
    return {
      ok: false,
      problem: { status: 0, title: 'Quell is unreachable', detail: (err as Error).message },
    };
  }
  if (!res.ok) return { ok: false, problem: await problemOf(res) };
  const named = /filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') ?? '')?.[1];
  return { ok: true, blob: await res.blob(), fileName: named ?? fallbackName };
}

/** The refusals the incident gives, in the words of the person who met them. */
const REFUSAL_WORDS: Record<string, string> = {
  SelfApproval:
    'You raised or requested this action, so you may not approve it: another approver must decide.',
  DuplicateApprover:
    'You have already approved this. It needs a second, different approver: ask a colleague to decide.',
  ApprovalAlreadyDecided: 'This approval has already been decided.',
  ApprovalExpired: 'This approval has expired: it can no longer be decided.',
  NotAnApprover: 'You do not hold the approver role, so you cannot decide approvals.',
  ApprovalNotFound: 'This approval does not exist (any more).',
  IncidentClosed: 'The incident is closed.',
  IncidentClosing: 'The incident is closing.',
  ActionNotFailed: 'This action has not failed (any more), so there is nothing to retry or skip.',
  ChecklistItemCompleted: 'This checklist item has already been completed.',
  WrongPhase: 'The incident is not in the phase that allows this.',
};

/** A problem in plain words, with the API's own detail (which names who decided, when it applies). */
export function describeProblem(p: Problem): string {
  const plain = p.refusal ? REFUSAL_WORDS[p.refusal] : undefined;
  if (plain) return p.detail ? `${plain} (${p.detail})` : plain;
  if (p.status === 401) return 'Your token was not accepted: sign in again.';
  if (p.status === 403) return `Not allowed: ${p.detail || p.title}`;
  if (p.errors?.length) return p.errors.map((e) => `${e.path}: ${e.message}`).join('; ');
  return p.detail ? `${p.title}: ${p.detail}` : p.title;
}

/** Admin passes every role check but a decision's (which the incident holds to the approver role itself). */
export function may(me: Me, role: Role): boolean {
  return me.roles.includes(role) || (role !== 'approver' && me.roles.includes('admin'));
}
