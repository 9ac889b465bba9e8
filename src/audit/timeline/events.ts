/** Reading history events: references to them, their times and the failures they carry. */
import { shortEventType, type HistoryEventJson, type JsonPayload } from '../history-json';
import { payloadValue } from '../payloads';
import type { Anchor, EventRef, RunEvent } from './types';

export const ref = (runId: string, e: HistoryEventJson): EventRef => ({
  runId,
  eventId: Number(e.eventId),
  eventType: shortEventType(e.eventType),
});

/** The reference to the event being read. */
export const refOf = (ev: RunEvent): EventRef => ref(ev.runId, ev.event);

/** An entry read at this event sorts at it. */
export const anchorAt = (ev: RunEvent): Anchor => ({ runIndex: ev.runIndex, eventId: ev.id });

/** The event's time as written (nanoseconds), or '' when it has none. */
export const timeOf = (ev: RunEvent): string => ev.event.eventTime ?? '';

/** Event times carry nanoseconds; workflow code sees milliseconds. */
export const toMs = (t: string | undefined): string | undefined =>
  t ? new Date(Date.parse(t)).toISOString() : undefined;

export interface FailureJson {
  message?: string;
  stackTrace?: string;
  encodedAttributes?: JsonPayload;
  applicationFailureInfo?: { type?: string; nonRetryable?: boolean; details?: unknown };
  timeoutFailureInfo?: { timeoutType?: string };
  cause?: FailureJson;
}

export interface FailureSummary {
  type?: string;
  message: string;
  nonRetryable?: boolean;
}

export function failureSummary(f: FailureJson | undefined): FailureSummary {
  if (!f) return { message: 'unknown failure' };
  let message = f.message ?? '';
  if (f.encodedAttributes) {
    try {
      const attrs = payloadValue(f.encodedAttributes) as { message?: string };
      if (typeof attrs?.message === 'string') message = attrs.message;
    } catch {
      // Still encrypted: the caller decrypts first; keep what is readable.
    }
  }
  const type = f.applicationFailureInfo?.type ?? f.timeoutFailureInfo?.timeoutType;
  return {
    ...(type ? { type } : {}),
    message,
    ...(f.applicationFailureInfo?.nonRetryable ? { nonRetryable: true } : {}),
  };
}

/** `Type: message`, or the message alone when the failure has no type. */
export const describeFailure = (f: FailureSummary): string => `${f.type ? `${f.type}: ` : ''}${f.message}`;
