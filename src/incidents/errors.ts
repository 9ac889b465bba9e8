/** Thrown when no incident has the given ID (or it is past Temporal's retention). */
export class IncidentNotFoundError extends Error {
  override readonly name = 'IncidentNotFoundError';
  constructor(readonly incidentId: string) {
    super(`No incident ${incidentId}.`);
  }
}

/** Thrown when Temporal cannot be reached; the caller should retry later (the API answers 503). */
export class TemporalUnavailableError extends Error {
  override readonly name = 'TemporalUnavailableError';
  constructor(
    message: string,
    readonly retryAfterSeconds = 5,
  ) {
    super(message);
  }
}

/** Thrown when the incident workflow refuses a message; `type` is one of the contracts' REFUSALS. */
export class IncidentRefusedError extends Error {
  override readonly name = 'IncidentRefusedError';
  constructor(
    readonly type: string,
    message: string,
    readonly httpStatus: number,
  ) {
    super(message);
  }
}

/**
 * Thrown when a list cursor was not issued for this listing: garbage, truncated, from a listing with other
 * filters, or refused by Temporal as a page token. The API answers 400 naming `cursor`.
 */
export class InvalidCursorError extends Error {
  override readonly name = 'InvalidCursorError';
}
