/**
 * Temporal's JSON form of a workflow history: proto3 JSON of `temporal.api.history.v1.History`, the format
 * `temporal workflow show --output json` writes and `Worker.runReplayHistories` / the Temporal UI read.
 *
 * `historyToJSON` / `historyFromJSON` in `@temporalio/common/lib/proto-utils` (SDK 1.24) do this too, but they
 * take `protobufjs/ext/protojson` from `@temporalio/common`'s own protobufjs copy while the reflected types come
 * from `@temporalio/proto`'s copy; when npm installs two copies (as it does here), protojson's
 * `instanceof Type` check fails with "type must be a Type". This module takes protojson from the same
 * protobufjs `@temporalio/proto` uses, and keeps the SDK's tolerance of older enum spellings.
 */
import path from 'node:path';
import * as proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';

export type History = proto.temporal.api.history.v1.IHistory;

/** One history event in proto3 JSON (int64 as strings, enums as `EVENT_TYPE_...` names, bytes as base64). */
export interface HistoryEventJson {
  eventId: string;
  eventTime?: string;
  eventType: string;
  [attributes: string]: unknown;
}

/** A history in the `temporal workflow show --output json` shape. */
export interface HistoryJson {
  events: HistoryEventJson[];
}

/** A payload in proto3 JSON: metadata values and data are base64. */
export interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
  externalPayloads?: unknown[];
}

interface ProtoJson {
  toJson(type: unknown, message: unknown, options?: unknown): unknown;
  fromJson(type: unknown, json: unknown, options?: unknown): unknown;
}

let cached: { protojson: ProtoJson; historyType: unknown } | undefined;

function reflection(): { protojson: ProtoJson; historyType: unknown } {
  if (cached) return cached;
  const protoDir = path.dirname(require.resolve('@temporalio/proto/package.json'));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const protojson = require(require.resolve('protobufjs/ext/protojson', { paths: [protoDir] })) as ProtoJson;
  const root = patchProtobufRoot(proto as unknown as Record<string, unknown>) as {
    lookupType(name: string): unknown;
  };
  cached = { protojson, historyType: root.lookupType('temporal.api.history.v1.History') };
  return cached;
}

/** A fetched history (e.g. `handle.fetchHistory()`) as Temporal JSON, identical to the CLI's output. */
export function historyToJson(history: History): HistoryJson {
  const { protojson, historyType } = reflection();
  const message = proto.temporal.api.history.v1.History.fromObject(history);
  return protojson.toJson(historyType, message) as HistoryJson;
}

function pascalToConstant(s: string): string {
  return s.replace(/[^\b][A-Z]/g, (m) => `${m[0]}_${m[1]}`).toUpperCase();
}

function fixEnum(obj: Record<string, unknown>, attr: string, prefix: string): Record<string, unknown> {
  const v = obj[attr];
  if (typeof v !== 'string') return {};
  return { [attr]: v.startsWith(prefix) ? v : `${prefix}_${pascalToConstant(v)}` };
}

/**
 * Parses Temporal JSON (current CLI output, or older tools' PascalCase enum spellings) into a History.
 * Thrown: TypeError when the document is not a history.
 */
export function historyFromJson(json: unknown): History {
  if (typeof json !== 'object' || json === null || !Array.isArray((json as { events?: unknown }).events)) {
    throw new TypeError('not a Temporal history: expected an object with an "events" array');
  }
  const events = (json as { events: Record<string, unknown>[] }).events.map((e, i) => {
    const attrKey = Object.keys(e).find((k) => k.endsWith('EventAttributes'));
    if (!attrKey) throw new TypeError(`history event #${i + 1} has no *EventAttributes`);
    const attrs = (e[attrKey] ?? {}) as Record<string, unknown>;
    const taskQueue = attrs.taskQueue as Record<string, unknown> | undefined;
    return {
      ...e,
      ...fixEnum(e, 'eventType', 'EVENT_TYPE'),
      [attrKey]: {
        ...attrs,
        ...(taskQueue
          ? { taskQueue: { ...taskQueue, ...fixEnum(taskQueue, 'kind', 'TASK_QUEUE_KIND') } }
          : {}),
        ...fixEnum(attrs, 'parentClosePolicy', 'PARENT_CLOSE_POLICY'),
        ...fixEnum(attrs, 'workflowIdReusePolicy', 'WORKFLOW_ID_REUSE_POLICY'),
        ...fixEnum(attrs, 'initiator', 'CONTINUE_AS_NEW_INITIATOR'),
        ...fixEnum(attrs, 'retryState', 'RETRY_STATE'),
      },
    };
  });
  const { protojson, historyType } = reflection();
  const loaded = protojson.fromJson(historyType, { events }, { ignoreUnknownFields: true });
  if (!loaded) throw new TypeError('not a Temporal history');
  return loaded;
}

/** The `*EventAttributes` object of an event (e.g. `workflowExecutionStartedEventAttributes`). */
export function eventAttributes<T = Record<string, unknown>>(event: HistoryEventJson): T {
  const key = Object.keys(event).find((k) => k.endsWith('EventAttributes'));
  return (key ? event[key] : {}) as T;
}

/** `EVENT_TYPE_ACTIVITY_TASK_SCHEDULED` -> `ActivityTaskScheduled` (the name Temporal's docs and UI use). */
export function shortEventType(eventType: string): string {
  if (!eventType.startsWith('EVENT_TYPE_')) return eventType;
  return eventType
    .replace(/^EVENT_TYPE_/, '')
    .toLowerCase()
    .replace(/(^|_)([a-z])/g, (_m, _u: string, c: string) => c.toUpperCase());
}

/** Serializes a history the way the CLI does (two-space indentation, trailing newline). */
export function formatHistoryJson(history: HistoryJson): string {
  return JSON.stringify(history, null, 2) + '\n';
}
