import type { ErrorRequestHandler, Response } from 'express';
import type { z } from 'zod';
import type { Logger } from '../logging';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
export const PROBLEM_BASE = 'https://quell.dev/problems/';

export interface FieldError {
  path: string;
  message: string;
}

export interface ProblemExtra {
  errors?: FieldError[];
  /** Sent as the `Retry-After` header (seconds), not in the body. */
  retryAfterSeconds?: number;
  /** Response headers to send with the problem (e.g. `WWW-Authenticate`), not in the body. */
  headers?: Record<string, string>;
  [k: string]: unknown;
}

/** An RFC 9457 problem the API answers with; thrown by handlers and middleware. */
export class ApiProblem extends Error {
  override readonly name = 'ApiProblem';
  constructor(
    readonly status: number,
    readonly slug: string,
    readonly title: string,
    readonly detail: string,
    readonly extra: ProblemExtra = {},
  ) {
    super(detail);
  }

  get type(): string {
    return `${PROBLEM_BASE}${this.slug}`;
  }
}

function joinPath(prefix: string, path: readonly PropertyKey[]): string {
  return [prefix, ...path.map(String)].filter(Boolean).join('.');
}

/**
 * Turns zod issues into `{path, message}` entries that name each offending field. Unknown keys in strict objects
 * get one entry per key, so `{"decision":"approve","approver":"mallory"}` answers `path: "approver"`.
 */
export function fieldErrors(error: z.ZodError, prefix = ''): FieldError[] {
  const out: FieldError[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        out.push({
          path: joinPath(prefix, [...issue.path, key]),
          message: 'Unknown field (not accepted here)',
        });
      }
      continue;
    }
    out.push({ path: joinPath(prefix, issue.path) || '(body)', message: issue.message });
  }
  return out;
}

/** Caps how much a validation problem says, so a hostile body cannot make the answer huge. */
const MAX_FIELD_ERRORS = 50;

export function validationProblem(
  error: z.ZodError,
  where: 'body' | 'query' | 'params' = 'body',
  opts: { prefix?: string; label?: string; extra?: Record<string, unknown> } = {},
): ApiProblem {
  const all = fieldErrors(error, opts.prefix ?? (where === 'body' ? '' : where));
  const errors = all.slice(0, MAX_FIELD_ERRORS).map((e) => ({
    path: e.path.length > 300 ? `${e.path.slice(0, 300)}…` : e.path,
    message: e.message.length > 500 ? `${e.message.slice(0, 500)}…` : e.message,
  }));
  const more = all.length > errors.length ? ` (and ${all.length - errors.length} more)` : '';
  const summary = errors
    .slice(0, 5)
    .map((e) => `${e.path}: ${e.message}`)
    .join('; ');
  return new ApiProblem(
    400,
    'validation-error',
    'Request validation failed',
    `Invalid ${opts.label ?? where}: ${summary}${errors.length > 5 ? '; …' : ''}${more}`,
    { ...opts.extra, errors },
  );
}

export function sendProblem(res: Response, problem: ApiProblem, instance?: string, requestId?: string): void {
  const { retryAfterSeconds, headers, ...extra } = problem.extra;
  if (retryAfterSeconds !== undefined)
    res.setHeader('Retry-After', String(Math.max(1, Math.ceil(retryAfterSeconds))));
  for (const [name, value] of Object.entries(headers ?? {})) res.setHeader(name, value);
  res
    .status(problem.status)
    .type(PROBLEM_CONTENT_TYPE)
    .send(
      JSON.stringify({
        type: problem.type,
        title: problem.title,
        status: problem.status,
        detail: problem.detail,
        ...(instance ? { instance } : {}),
        ...(requestId ? { requestId } : {}),
        ...extra,
      }),
    );
}

interface HttpErrorLike {
  status?: number;
  statusCode?: number;
  type?: string;
  expose?: boolean;
  message?: string;
}

/** Maps errors thrown anywhere in the request pipeline to problem responses; never a 500 for bad input. */
export function problemHandler(
  logger: Logger,
  mapError: (err: unknown) => ApiProblem | undefined,
): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    let problem: ApiProblem | undefined = err instanceof ApiProblem ? err : mapError(err);
    if (!problem) {
      const httpErr = (err ?? {}) as HttpErrorLike;
      const status = httpErr.status ?? httpErr.statusCode;
      if (httpErr.type === 'entity.parse.failed') {
        // The parser's message quotes the body; it is not repeated back.
        problem = new ApiProblem(
          400,
          'malformed-json',
          'Malformed JSON',
          'The request body is not valid JSON.',
        );
      } else if (httpErr.type === 'entity.too.large') {
        problem = new ApiProblem(
          413,
          'payload-too-large',
          'Payload too large',
          'The request body exceeds the size limit.',
        );
      } else if (httpErr.type === 'encoding.unsupported' || httpErr.type === 'charset.unsupported') {
        problem = new ApiProblem(
          415,
          'unsupported-encoding',
          'Unsupported encoding',
          httpErr.message ?? 'Unsupported body encoding.',
        );
      } else if (status && status >= 400 && status < 500) {
        problem = new ApiProblem(
          status,
          'bad-request',
          'Bad request',
          httpErr.expose && httpErr.message ? httpErr.message : 'The request could not be processed.',
        );
      }
    }
    if (!problem) {
      const log = (req as { log?: Logger }).log ?? logger;
      log.error({ err }, 'unhandled error');
      problem = new ApiProblem(
        500,
        'internal-error',
        'Internal server error',
        'An unexpected error occurred; it has been logged.',
      );
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    const id = (req as { id?: unknown }).id;
    // The path only: query values (a token pasted into a URL) are not echoed where proxies may log them.
    sendProblem(res, problem, req.originalUrl.split('?')[0], typeof id === 'string' ? id : undefined);
  };
}
