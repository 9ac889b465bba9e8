/**
 * Payloads inside Temporal JSON histories: reading their values, finding encrypted ones, decrypting a whole
 * history with the configured codec, and saying clearly which key is missing when there is none.
 */
import { defaultPayloadConverter, type Payload, type PayloadCodec } from '@temporalio/common';
import {
  AesGcmPayloadCodec,
  ENCODING_ENCRYPTED,
  METADATA_ENCODING,
  METADATA_KEY_ID,
  MissingEncryptionKeyError,
} from '../temporal/codec';
import type { HistoryJson, JsonPayload } from './history-json';

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
const unb64 = (text: string) => new Uint8Array(Buffer.from(text, 'base64'));
const text = (b64text: string | undefined) =>
  b64text === undefined ? undefined : Buffer.from(b64text, 'base64').toString('utf8');

export function isJsonPayload(value: unknown): value is JsonPayload {
  if (typeof value !== 'object' || value === null) return false;
  const metadata = (value as { metadata?: unknown }).metadata;
  return (
    typeof metadata === 'object' &&
    metadata !== null &&
    typeof (metadata as Record<string, unknown>)[METADATA_ENCODING] === 'string'
  );
}

export function jsonToPayload(p: JsonPayload): Payload {
  const metadata: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries(p.metadata ?? {})) metadata[k] = unb64(v);
  return { metadata, data: unb64(p.data ?? '') };
}

export function payloadToJson(p: Payload): JsonPayload {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(p.metadata ?? {})) if (v) metadata[k] = b64(v);
  return { metadata, ...(p.data && p.data.length ? { data: b64(p.data) } : {}) };
}

/** The payload's `encoding` metadata (e.g. `json/plain`, `binary/encrypted`). */
export function payloadEncoding(p: JsonPayload): string | undefined {
  return text(p.metadata?.[METADATA_ENCODING]);
}

export function isEncryptedJsonPayload(p: JsonPayload): boolean {
  return payloadEncoding(p) === ENCODING_ENCRYPTED;
}

/** Visits every payload in a JSON document (history, event, failure...), depth first. */
export function forEachPayload(
  node: unknown,
  fn: (payload: JsonPayload, path: string) => void,
  at = '',
): void {
  if (Array.isArray(node)) {
    node.forEach((child, i) => forEachPayload(child, fn, `${at}[${i}]`));
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  if (isJsonPayload(node)) {
    fn(node, at);
    return;
  }
  for (const [k, v] of Object.entries(node)) forEachPayload(v, fn, at ? `${at}.${k}` : k);
}

/** The key IDs of every encrypted payload in the document (empty when nothing is encrypted). */
export function encryptionKeyIdsIn(doc: unknown): string[] {
  const ids = new Set<string>();
  forEachPayload(doc, (p) => {
    if (isEncryptedJsonPayload(p)) ids.add(text(p.metadata?.[METADATA_KEY_ID]) ?? '(unnamed)');
  });
  return [...ids];
}

/**
 * Throws {@link MissingEncryptionKeyError} when the document holds payloads encrypted with a key the codec
 * does not hold (or when there is no codec at all). `context` names the document in the message.
 */
export function assertDecryptable(doc: unknown, codec: PayloadCodec | undefined, context?: string): void {
  const needed = encryptionKeyIdsIn(doc);
  if (!needed.length) return;
  const held = codec instanceof AesGcmPayloadCodec ? codec.keyIds : [];
  const missing =
    codec && !(codec instanceof AesGcmPayloadCodec) ? [] : needed.filter((k) => !held.includes(k));
  if (missing.length) throw new MissingEncryptionKeyError(missing, held, context);
}

/**
 * A copy of the history with every encrypted payload decrypted, and failure messages and stack traces that
 * were encoded (`encodedAttributes`) restored: what the workflow itself saw.
 * Thrown: {@link MissingEncryptionKeyError} naming the key IDs when the codec cannot decrypt them.
 */
export async function decryptHistoryJson(
  history: HistoryJson,
  codec: PayloadCodec | undefined,
  context?: string,
): Promise<HistoryJson> {
  assertDecryptable(history, codec, context);
  if (!codec || !encryptionKeyIdsIn(history).length) return history;
  const copy = structuredClone(history);
  const pending: { holder: Record<string, unknown>; key: string; payload: JsonPayload }[] = [];
  const failures: Record<string, unknown>[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach((child, i) => {
        if (isJsonPayload(child) && isEncryptedJsonPayload(child))
          pending.push({
            holder: node as unknown as Record<string, unknown>,
            key: String(i),
            payload: child,
          });
        else walk(child);
      });
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    const obj = node as Record<string, unknown>;
    if ('encodedAttributes' in obj && isJsonPayload(obj.encodedAttributes)) failures.push(obj);
    for (const [k, v] of Object.entries(obj)) {
      if (isJsonPayload(v)) {
        if (isEncryptedJsonPayload(v)) pending.push({ holder: obj, key: k, payload: v });
      } else walk(v);
    }
  };
  walk(copy);
  const decoded = await codec.decode(pending.map((p) => jsonToPayload(p.payload)));
  pending.forEach((p, i) => {
    p.holder[p.key] = payloadToJson(decoded[i]!);
  });
  for (const failure of failures) {
    const attrs = payloadValue(failure.encodedAttributes as JsonPayload) as
      { message?: unknown; stack_trace?: unknown } | undefined;
    if (attrs && typeof attrs === 'object') {
      if (typeof attrs.message === 'string') failure.message = attrs.message;
      if (typeof attrs.stack_trace === 'string') failure.stackTrace = attrs.stack_trace;
      delete failure.encodedAttributes;
    }
  }
  return copy;
}

/**
 * The value of a (decrypted) payload, through Temporal's default payload converter.
 * Thrown: {@link MissingEncryptionKeyError} for a payload that is still encrypted.
 */
export function payloadValue(p: JsonPayload | undefined): unknown {
  if (!p) return undefined;
  if (isEncryptedJsonPayload(p)) {
    throw new MissingEncryptionKeyError([text(p.metadata?.[METADATA_KEY_ID]) ?? '(unnamed)'], []);
  }
  return defaultPayloadConverter.fromPayload(jsonToPayload(p));
}

/** The values of a `{ payloads: [...] }` field (inputs, results, details). */
export function payloadsValues(field: unknown): unknown[] {
  const list = (field as { payloads?: JsonPayload[] } | undefined)?.payloads ?? [];
  return list.map((p) => payloadValue(p));
}

/** The first value of a `{ payloads: [...] }` field. */
export function firstPayloadValue<T = unknown>(field: unknown): T | undefined {
  return payloadsValues(field)[0] as T | undefined;
}
