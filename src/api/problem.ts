import type { ErrorRequestHandler, Response } from 'express';
import type { z } from 'zod';
import type { Logger } from '../logging';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
const PROBLEM_BASE = 'https://quell.dev/problems/';

export interface FieldError {
  path: string;
  message: string;
}

/** An RFC 9457 problem the API answers with; thrown by handlers and middleware. */
export class ApiProblem extends Error {
  override readonly name = 'ApiProblem';
  constructor(
    readonly status: number,
    readonly slug: string,
    readonly title: string,
    readonly detail: string,
    readonly extra: { errors?: FieldError[]; retryAfterSeconds?: number; [k: string]: unknown } = {},
  ) {
    super(detail);
  }

  get type(): string {
    return `${PROBLEM_BASE}${this.slug}`;
  }
}

/** Turns zod issues into `{path, message}` entries that name each offending field. */
export function fieldErrors(error: z.ZodError, prefix = ''): FieldError[] {
  return error.issues.map((issue) => {
    const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
    return { path: path || '(body)', message: issue.message };
  });
}

export function validationProblem(
  error: z.ZodError,
  where: 'body' | 'query' | 'params' = 'body',
): ApiProblem {
  const errors = fieldErrors(error, where === 'body' ? '' : where);
  return new ApiProblem(
    400,
    'validation-error',
    'Request validation failed',
    `Invalid ${where}: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
    { errors },
  );
}

export function sendProblem(res: Response, problem: ApiProblem, instance?: string): void {
  const { retryAfterSeconds, ...extra } = problem.extra;
  if (retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(retryAfterSeconds));
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
      const httpErr = err as HttpErrorLike;
      const status = httpErr.status ?? httpErr.statusCode;
      if (httpErr.type === 'entity.parse.failed') {
        problem = new ApiProblem(
          400,
          'malformed-json',
          'Malformed JSON',
          `The request body is not valid JSON: ${httpErr.message ?? ''}`,
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
    sendProblem(res, problem, req.originalUrl);
  };
}
