/** Thrown when no incident has the given ID (or it is past Temporal's retention). */
export class IncidentNotFoundError extends Error {
  override readonly name = 'IncidentNotFoundError';
  constructor(readonly incidentId: string) {
    super(`No incident ${incidentId}.`);
  }
}

/** Thrown when Temporal cannot be reached; the caller should retry later (the API answers 503). */
export class TemporalUnavailableError extends Error {
  override readonly name: string = 'TemporalUnavailableError';
  constructor(
    message: string,
    readonly retryAfterSeconds = 5,
  ) {
    super(message);
  }
}

/**
 * Thrown when one incident cannot take an alert now (it is still closing, or too contended to take it within
 * the intake's deadline) while Temporal itself answers: other incidents' alerts are still worth sending. The
 * alert is not recorded; the sender retries it after `retryAfterSeconds` (503).
 */
export class IncidentBusyError extends TemporalUnavailableError {
  override readonly name = 'IncidentBusyError';
}

/**
 * Thrown when an open incident's state is needed and only its workflow can give it (its first run has not
 * finished), but no worker answered the state query in time. A 503: retry once a worker is up.
 */
export class IncidentStateUnavailableError extends TemporalUnavailableError {
  override readonly name = 'IncidentStateUnavailableError';
  constructor(readonly incidentId: string) {
    super(
      `Incident ${incidentId} is open and has no state in its history yet (its first run has not finished), and ` +
        'its workflow did not answer the state query: is a worker running?',
      15,
    );
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
 * Thrown when no worker serves the incident task queue, so an alert cannot be confirmed. The API answers 503
 * with Retry-After; the sender's retry is recorded once (a copy that reaches the incident later is deduplicated).
 */
export class NoWorkerError extends TemporalUnavailableError {
  override readonly name = 'NoWorkerError';
  constructor(message: string) {
    super(message, 15);
  }
}

/**
 * Thrown when a list cursor was not issued for this listing: garbage, truncated, from a listing with other
 * filters, or refused by Temporal as a page token. The API answers 400 naming `cursor`.
 */
export class InvalidCursorError extends Error {
  override readonly name = 'InvalidCursorError';
}
