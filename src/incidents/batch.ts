import type { NormalizedAlert } from '../domain/alert';
import { IncidentBusyError, TemporalUnavailableError } from './errors';
import type { IncidentOperations, IngestResult } from './types';

/**
 * Alerts of one request recorded at once: enough to keep Temporal busy with a storm's batch, few enough that
 * one request cannot take every connection. Alerts for the same incident are queued by the service's per-incident
 * update gate, so any number of them may be in one batch.
 */
export const BATCH_CONCURRENCY = 16;

/**
 * What became of one alert of a batch: its receipt, or the error that kept it from being recorded.
 * `attempted: false`: never sent, because Temporal was found unavailable for an earlier alert of the batch.
 */
export type AlertOutcome =
  { ok: true; result: IngestResult } | { ok: false; error: unknown; attempted: boolean };

/**
 * Records `alerts` on their incidents, at most `concurrency` at a time, and answers one outcome per alert, in
 * order. An alert that fails does not stop the others, except when Temporal or every worker is unavailable
 * ({@link TemporalUnavailableError} other than {@link IncidentBusyError}): alerts not yet sent are then not
 * sent (each would wait out the same outage) and are reported with that error, so the sender can retry them;
 * those already recorded stay recorded, and a retry of them is deduplicated. Never throws.
 */
export async function recordAlerts(
  incidents: Pick<IncidentOperations, 'ingestAlert'>,
  alerts: readonly NormalizedAlert[],
  raisedBy: string,
  opts: { concurrency?: number; onRecorded?: (alert: NormalizedAlert, result: IngestResult) => void } = {},
): Promise<AlertOutcome[]> {
  const outcomes = new Array<AlertOutcome>(alerts.length);
  let next = 0;
  let outage: unknown;
  const lane = async () => {
    for (let i = next++; i < alerts.length; i = next++) {
      if (outage !== undefined) {
        outcomes[i] = { ok: false, error: outage, attempted: false };
        continue;
      }
      let result: IngestResult;
      try {
        result = await incidents.ingestAlert(alerts[i]!, raisedBy);
      } catch (error) {
        outcomes[i] = { ok: false, error, attempted: true };
        if (error instanceof TemporalUnavailableError && !(error instanceof IncidentBusyError))
          outage ??= error;
        continue;
      }
      outcomes[i] = { ok: true, result };
      opts.onRecorded?.(alerts[i]!, result);
    }
  };
  const lanes = Math.max(1, Math.min(opts.concurrency ?? BATCH_CONCURRENCY, alerts.length));
  await Promise.all(Array.from({ length: lanes }, lane));
  return outcomes;
}
