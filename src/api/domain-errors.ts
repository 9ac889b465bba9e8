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
  // server lacks the key an incident's payloads were encrypted with. A configuration fault, not bad input.
  if (err instanceof Error && err.name === 'MissingEncryptionKeyError') {
    return new ApiProblem(
      500,
      'encryption-key-missing',
      'Encryption key missing',
      "This incident's payloads are encrypted with a key this server does not hold; configure the key.",
    );
  }
  return undefined;
}
