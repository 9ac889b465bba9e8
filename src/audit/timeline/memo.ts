/**
 * What the incident waits for people to do: the memo's `waitingFor`, read from `WorkflowPropertiesModified`
 * (set, changed, or cleared).
 */
import type { JsonPayload } from '../history-json';
import { payloadValue } from '../payloads';
import type { TimelineCollector } from './collector';
import { anchorAt, refOf, timeOf } from './events';
import type { EventReader, RunEvent } from './types';

/** The memo's `waitingFor` across every run: an entry where it changes. */
export class WaitingChanges implements EventReader {
  private last: string | undefined;

  constructor(private readonly timeline: TimelineCollector) {}

  read(ev: RunEvent): void {
    if (ev.event.eventType !== 'EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED') return;
    const fields =
      (ev.attrs.upsertedMemo as { fields?: Record<string, JsonPayload> } | undefined)?.fields ?? {};
    if (!('waitingFor' in fields)) return;
    let waiting: unknown;
    try {
      waiting = payloadValue(fields.waitingFor);
    } catch {
      waiting = undefined;
    }
    const text = typeof waiting === 'string' && waiting ? waiting : undefined;
    if (text === this.last) return;
    if (text === undefined && this.last === undefined) return;
    this.last = text;
    this.timeline.add(anchorAt(ev), {
      at: timeOf(ev),
      kind: 'waiting',
      summary: text ?? 'No longer waiting: the phase goes on',
      refs: [refOf(ev)],
      details: { waitingFor: text ?? null },
    });
  }
}
