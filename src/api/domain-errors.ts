import { REFUSALS, isRefusalType } from '../contracts';
import {
  IncidentNotFoundError,
  IncidentRefusedError,
  IncidentStateUnavailableError,
  InvalidCursorError,
  NoWorkerError,
  TemporalUnavailableError,
} from '../incidents/errors';
import { ApiProblem } from './problem';

function kebab(type: string): string {
  return type.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

function refusalProblem(type: string, message: string, status: number): ApiProblem {
  const title = type.replace(/([a-z0-9])([A-Z])/g, '$1 $2');
  return new ApiProblem(status, kebab(type), title.charAt(0) + title.slice(1).toLowerCase(), message, {
    refusal: type,
  });
}

/**
 * Domain errors to problems: not found 404, refusals their status, a bad list cursor 400, Temporal down 503 with
 * Retry-After.
 */
export function mapDomainError(err: unknown): ApiProblem | undefined {
  if (err instanceof IncidentNotFoundError) {
    return new ApiProblem(404, 'incident-not-found', 'Incident not found', err.message);
  }
  if (err instanceof IncidentRefusedError) {
    const status = isRefusalType(err.type)
      ? REFUSALS[err.type]
      : err.httpStatus >= 400 && err.httpStatus < 500
        ? err.httpStatus
        : 409;
    return refusalProblem(err.type, err.message, status);
  }
  if (err instanceof NoWorkerError) {
    return new ApiProblem(
      503,
      'no-worker',
      'No worker available',
      'No Quell worker is serving incidents right now, so this request could not be confirmed; send it again ' +
        'later (an alert sent again is recorded once).',
      { retryAfterSeconds: err.retryAfterSeconds },
    );
  }
  if (err instanceof InvalidCursorError) {
    return new ApiProblem(
      400,
      'validation-error',
      'Request validation failed',
      `Invalid query: query.cursor: ${err.message}`,
      { errors: [{ path: 'query.cursor', message: err.message }] },
    );
  }
  if (err instanceof IncidentStateUnavailableError) {
    return new ApiProblem(503, 'incident-state-unavailable', 'Incident state unavailable', err.message, {
      retryAfterSeconds: err.retryAfterSeconds,
    });
  }
  if (err instanceof TemporalUnavailableError) {
    return new ApiProblem(
      503,
      'temporal-unavailable',
      'Temporal unavailable',
      'The workflow service is unreachable; retry later.',
      { retryAfterSeconds: err.retryAfterSeconds },
    );
  }
  // From the payload codec (src/temporal/codec.ts, matched by name so the API does not depend on it): the
  // incident's payloads are encrypted with a key this server does not hold (rotated out, or another
  // deployment's). Not a fault of the request and nothing retrying fixes, so the same 422 the codec routes give,
  // naming the keys to configure.
  if (err instanceof Error && err.name === 'MissingEncryptionKeyError') {
    const keyIds = (err as { keyIds?: unknown }).keyIds;
    const named = Array.isArray(keyIds) ? keyIds.filter((k): k is string => typeof k === 'string') : [];
    return new ApiProblem(
      422,
      'encryption-key-unavailable',
      'Encryption key unavailable',
      "This incident's payloads are encrypted with " +
        (named.length ? `key ${named.map((k) => `"${k}"`).join(', ')}, which` : 'a key that') +
        ' this server does not hold; add it to QUELL_ENCRYPTION_KEY to read them.',
      { keyIds: named },
    );
  }
  return undefined;
}
