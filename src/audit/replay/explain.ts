/**
 * Explaining failures: which incident, workflow, run and file, which history event (ID and type, from the
 * SDK's nondeterminism message, or the marker of the patch it names), and the error.
 */
import { eventAttributes, shortEventType, type HistoryJson } from '../history-json';
import type { ReplayFailure, ReplayFailureKind, ReplayItem } from './types';

const EVENT_REF = /HistoryEvent\(id:\s*(\d+),\s*([A-Za-z]+)\)/;
const CORE_MESSAGE = /message:\s*"((?:[^"\\]|\\.)*)"/;

/** Picks the event ID and type and the core message out of an SDK replay error message. */
export function parseReplayError(message: string): { eventId?: number; eventType?: string; cause: string } {
  const core = CORE_MESSAGE.exec(message)?.[1]?.replace(/\\"/g, '"');
  const cause = core ?? message.replace(/^Replay failed with a nondeterminism error\.[^:]*:\s*/, '');
  const ref = EVENT_REF.exec(core ?? message);
  if (ref) return { eventId: Number(ref[1]), eventType: ref[2], cause };
  const idOnly = /event(?:\s+id)?[:\s#]+(\d+)/i.exec(core ?? message);
  return idOnly ? { eventId: Number(idOnly[1]), cause } : { cause };
}

/** The ID of the MarkerRecorded event that recorded `patched(change)`, if the history has one. */
function findPatchMarker(history: HistoryJson, change: string): number | undefined {
  for (const event of history.events) {
    if (!String(event.eventType).includes('MARKER_RECORDED')) continue;
    const details = eventAttributes<{ details?: Record<string, { payloads?: { data?: string }[] }> }>(
      event,
    ).details;
    const payloads = Object.values(details ?? {}).flatMap((d) => d.payloads ?? []);
    if (
      payloads.some(
        (p) => p.data && Buffer.from(p.data, 'base64').toString('utf8').includes(JSON.stringify(change)),
      )
    ) {
      return Number(event.eventId);
    }
  }
  return undefined;
}

function describeEvent(history: HistoryJson, eventId: number): string | undefined {
  const event = history.events.find((e) => Number(e.eventId) === eventId);
  // A malformed history (what an invalid-history failure is about) may name an event with no type.
  if (!event || typeof event.eventType !== 'string') return undefined;
  const a = eventAttributes<Record<string, unknown>>(event);
  const bits: string[] = [shortEventType(event.eventType)];
  const activity = (a.activityType as { name?: string } | undefined)?.name;
  if (activity) bits.push(`activity ${activity}`);
  const input = (a.acceptedRequest as { input?: { name?: string } } | undefined)?.input?.name;
  if (input) bits.push(`update ${input}`);
  if (typeof a.signalName === 'string') bits.push(`signal ${a.signalName}`);
  if (typeof a.timerId === 'string') bits.push(`timer ${a.timerId}`);
  if (event.eventTime) bits.push(`at ${event.eventTime}`);
  return bits.join(', ');
}

export function explain(
  item: Omit<ReplayItem, 'history'>,
  history: HistoryJson | undefined,
  kind: ReplayFailureKind,
  detail: string,
): ReplayFailure {
  const parsed = parseReplayError(detail);
  if (parsed.eventId === undefined && history) {
    // Patch-marker mismatches name the change, not the event: point at the marker that recorded it.
    const change = /patch marker encountered for change (\S+?),/.exec(parsed.cause)?.[1];
    const marker = change ? findPatchMarker(history, change) : undefined;
    if (marker !== undefined) parsed.eventId = marker;
  }
  const eventType =
    parsed.eventType ??
    (parsed.eventId !== undefined && history
      ? history.events.find((e) => Number(e.eventId) === parsed.eventId)?.eventType
      : undefined);
  const lines = [
    `${kind === 'nondeterminism' ? 'NONDETERMINISM' : kind === 'missing-key' ? 'CANNOT DECRYPT' : 'REPLAY FAILED'}: ${item.label}`,
    ...(item.incidentId ? [`  incident: ${item.incidentId}`] : []),
    `  workflow: ${item.workflowId}${item.runId ? `  run: ${item.runId}` : ''}`,
    ...(item.file ? [`  file:     ${item.file}`] : []),
  ];
  if (parsed.eventId !== undefined) {
    const described = history ? describeEvent(history, parsed.eventId) : undefined;
    lines.push(
      `  event:    ${parsed.eventId}${described ? ` (${described})` : eventType ? ` (${shortEventType(eventType)})` : ''}`,
    );
  }
  lines.push(`  error:    ${parsed.cause}`);
  if (kind === 'nondeterminism') {
    lines.push(
      '  meaning:  the current workflow code issues different commands than the code that wrote this history;',
      '            running incidents with this history would fail. Guard the change with patched() / deprecatePatch().',
    );
  }
  return {
    label: item.label,
    ...(item.file ? { file: item.file } : {}),
    ...(item.incidentId ? { incidentId: item.incidentId } : {}),
    workflowId: item.workflowId,
    ...(item.runId ? { runId: item.runId } : {}),
    kind,
    ...(parsed.eventId !== undefined ? { eventId: parsed.eventId } : {}),
    ...(eventType ? { eventType: shortEventType(eventType) } : {}),
    message: parsed.cause,
    detail,
    explanation: lines.join('\n'),
  };
}
