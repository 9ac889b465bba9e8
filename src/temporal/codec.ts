/**
 * Payload encryption: AES-256-GCM over every payload Temporal stores (workflow and activity inputs and
 * results, update and signal arguments, failure details), and over failure messages and stack traces, so
 * hostnames, usernames and comments are not readable in Temporal's database or UI.
 *
 * Configuration: `QUELL_ENCRYPTION_KEY=<keyId>:<base64 of 32 bytes>[,<keyId>:<base64>...]`. The FIRST key
 * encrypts; every listed key decrypts (rotation: put the new key first, keep the old ones until no history
 * needs them). Each encrypted payload names its key in the `encryption-key-id` metadata.
 *
 * Wire format (the one Temporal's samples use): the whole `temporal.api.common.v1.Payload` is serialized to
 * protobuf and encrypted; the stored payload has metadata `encoding=binary/encrypted`,
 * `encryption-key-id=<keyId>` and data `IV (12 bytes) || ciphertext || GCM tag (16 bytes)`.
 *
 * Search attributes are NOT payloads a codec sees: Temporal indexes them in plain text.
 *
 * Sandbox-safe on purpose: this module is also the `failureConverterPath` of the data converter, which the
 * Temporal bundler compiles into the workflow bundle. It therefore imports nothing from Node and uses Web
 * Crypto (`globalThis.crypto.subtle`) and a small hand-written protobuf codec for `Payload`.
 */
import type { webcrypto } from 'node:crypto';
import {
  DefaultFailureConverter,
  type DataConverter,
  type Payload,
  type PayloadCodec,
} from '@temporalio/common';
import { UserFixableError } from '../errors';

export const ENCRYPTION_KEY_ENV = 'QUELL_ENCRYPTION_KEY';
export const ENCODING_ENCRYPTED = 'binary/encrypted';
export const METADATA_ENCODING = 'encoding';
export const METADATA_KEY_ID = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Thrown when `QUELL_ENCRYPTION_KEY` is malformed; the message names the bad entry (never the key). */
export class EncryptionConfigError extends UserFixableError {
  override readonly name = 'EncryptionConfigError';
}

/** Thrown when a payload was encrypted with a key this process does not hold. */
export class MissingEncryptionKeyError extends UserFixableError {
  override readonly name = 'MissingEncryptionKeyError';
  constructor(
    readonly keyIds: string[],
    readonly heldKeyIds: string[],
    context?: string,
  ) {
    super(
      `${context ? `${context}: ` : ''}payloads are encrypted (encoding ${ENCODING_ENCRYPTED}) with key ` +
        `${keyIds.map((k) => `"${k}"`).join(', ')}, but ` +
        (heldKeyIds.length
          ? `${ENCRYPTION_KEY_ENV} holds only ${heldKeyIds.map((k) => `"${k}"`).join(', ')}`
          : `${ENCRYPTION_KEY_ENV} is not set`) +
        `. Set ${ENCRYPTION_KEY_ENV}=${keyIds[0] ?? '<keyId>'}:<base64 key>[,...] to read them.`,
    );
  }
}

/** Thrown when an encrypted payload fails authentication (wrong key material for its ID, or tampering). */
export class PayloadDecryptionError extends UserFixableError {
  override readonly name = 'PayloadDecryptionError';
}

export interface EncryptionKey {
  id: string;
  /** 32 bytes. */
  key: Uint8Array;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

function base64ToBytes(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'base64'));
}

/**
 * Parses `<keyId>:<base64 32-byte key>[,...]`.
 * Thrown: {@link EncryptionConfigError} naming the entry (by position and key ID) that is wrong.
 */
export function parseEncryptionKeys(spec: string): EncryptionKey[] {
  const entries = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!entries.length) throw new EncryptionConfigError(`${ENCRYPTION_KEY_ENV} is empty`);
  const keys: EncryptionKey[] = [];
  entries.forEach((entry, i) => {
    const colon = entry.indexOf(':');
    const id = colon > 0 ? entry.slice(0, colon).trim() : '';
    const b64 = colon > 0 ? entry.slice(colon + 1).trim() : '';
    if (!id || !b64) {
      throw new EncryptionConfigError(
        `${ENCRYPTION_KEY_ENV} entry ${i + 1} is not "<keyId>:<base64 32-byte key>"`,
      );
    }
    if (!/^[A-Za-z0-9+/=_-]+$/.test(b64)) {
      throw new EncryptionConfigError(`${ENCRYPTION_KEY_ENV} key "${id}" is not base64`);
    }
    const key = base64ToBytes(b64.replace(/-/g, '+').replace(/_/g, '/'));
    if (key.length !== 32) {
      throw new EncryptionConfigError(
        `${ENCRYPTION_KEY_ENV} key "${id}" is ${key.length} bytes; AES-256 needs exactly 32 (e.g. \`openssl rand -base64 32\`)`,
      );
    }
    if (keys.some((k) => k.id === id))
      throw new EncryptionConfigError(`${ENCRYPTION_KEY_ENV} lists key "${id}" twice`);
    keys.push({ id, key });
  });
  return keys;
}

// ---- Minimal protobuf wire codec for temporal.api.common.v1.Payload ------------------------------------------
// message Payload { map<string, bytes> metadata = 1; bytes data = 2; repeated ExternalPayloadDetails
// external_payloads = 3; }  message ExternalPayloadDetails { int64 size_bytes = 1; }

class Writer {
  private chunks: number[] = [];
  varint(n: number): this {
    let v = n;
    while (v > 0x7f) {
      this.chunks.push((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    this.chunks.push(v);
    return this;
  }
  tag(field: number, wire: number): this {
    return this.varint(field * 8 + wire);
  }
  bytes(field: number, b: Uint8Array): this {
    this.tag(field, 2).varint(b.length);
    for (const x of b) this.chunks.push(x);
    return this;
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}

class Reader {
  pos = 0;
  constructor(private readonly buf: Uint8Array) {}
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): number {
    let result = 0;
    let mul = 1;
    for (;;) {
      const b = this.buf[this.pos++];
      if (b === undefined) throw new PayloadDecryptionError('truncated payload (varint)');
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
  }
  bytes(): Uint8Array {
    const len = this.varint();
    if (this.pos + len > this.buf.length) throw new PayloadDecryptionError('truncated payload (bytes)');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new PayloadDecryptionError(`unsupported protobuf wire type ${wire}`);
  }
}

/** Serializes a Payload exactly as `temporal.api.common.v1.Payload.encode` does. */
export function encodePayloadProto(payload: Payload): Uint8Array {
  const w = new Writer();
  for (const [k, v] of Object.entries(payload.metadata ?? {})) {
    if (v === null || v === undefined) continue;
    const entry = new Writer().bytes(1, utf8.encode(k)).bytes(2, v).finish();
    w.bytes(1, entry);
  }
  if (payload.data && payload.data.length) w.bytes(2, payload.data);
  for (const ext of payload.externalPayloads ?? []) {
    const size = Number(ext.sizeBytes ?? 0);
    const inner = new Writer();
    if (size) inner.tag(1, 0).varint(size);
    w.bytes(3, inner.finish());
  }
  return w.finish();
}

/** Parses the bytes {@link encodePayloadProto} (or protobufjs) wrote. */
export function decodePayloadProto(bytes: Uint8Array): Payload {
  const r = new Reader(bytes);
  const metadata: Record<string, Uint8Array> = {};
  let data: Uint8Array = new Uint8Array(0);
  const externalPayloads: { sizeBytes?: number }[] = [];
  while (!r.done) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === 2) {
      const entry = new Reader(r.bytes());
      let key = '';
      let value: Uint8Array = new Uint8Array(0);
      while (!entry.done) {
        const t = entry.varint();
        if (t === 10) key = fromUtf8.decode(entry.bytes());
        else if (t === 18) value = entry.bytes();
        else entry.skip(t & 7);
      }
      metadata[key] = value;
    } else if (field === 2 && wire === 2) {
      data = r.bytes();
    } else if (field === 3 && wire === 2) {
      const inner = new Reader(r.bytes());
      let sizeBytes = 0;
      while (!inner.done) {
        const t = inner.varint();
        if (t === 8) sizeBytes = inner.varint();
        else inner.skip(t & 7);
      }
      externalPayloads.push({ sizeBytes });
    } else {
      r.skip(wire);
    }
  }
  return { metadata, data, ...(externalPayloads.length ? { externalPayloads } : {}) } as Payload;
}

// ---- The codec ------------------------------------------------------------------------------------------------

// Types only (erased at compile time): the module stays free of Node imports for the workflow bundler.
type CryptoKey = webcrypto.CryptoKey;
type BufferSource = webcrypto.BufferSource;

function webCrypto(): webcrypto.Crypto {
  const c = (globalThis as { crypto?: webcrypto.Crypto }).crypto;
  if (!c?.subtle) throw new Error('Web Crypto (globalThis.crypto.subtle) is not available in this runtime');
  return c;
}
const subtle = () => webCrypto().subtle;

function metadataText(payload: Payload, key: string): string | undefined {
  const v = payload.metadata?.[key];
  return v ? fromUtf8.decode(v) : undefined;
}

/** True when the payload was written by {@link AesGcmPayloadCodec}. */
export function isEncryptedPayload(payload: Payload): boolean {
  return metadataText(payload, METADATA_ENCODING) === ENCODING_ENCRYPTED;
}

/** The key ID an encrypted payload names (undefined for other payloads). */
export function encryptedPayloadKeyId(payload: Payload): string | undefined {
  return isEncryptedPayload(payload) ? (metadataText(payload, METADATA_KEY_ID) ?? '') : undefined;
}

/**
 * AES-256-GCM {@link PayloadCodec}: encrypts with the first key, decrypts with whichever key the payload names.
 * Payloads that are not `binary/encrypted` pass through `decode` unchanged (histories written before
 * encryption was turned on stay readable).
 */
export class AesGcmPayloadCodec implements PayloadCodec {
  private readonly cryptoKeys = new Map<string, Promise<CryptoKey>>();
  readonly keyIds: string[];

  constructor(private readonly keys: EncryptionKey[]) {
    if (!keys.length) throw new EncryptionConfigError('AesGcmPayloadCodec needs at least one key');
    this.keyIds = keys.map((k) => k.id);
  }

  /** The key ID new payloads are encrypted with. */
  get activeKeyId(): string {
    return this.keys[0]!.id;
  }

  private cryptoKey(id: string): Promise<CryptoKey> {
    let key = this.cryptoKeys.get(id);
    if (!key) {
      const material = this.keys.find((k) => k.id === id)?.key;
      if (!material) throw new MissingEncryptionKeyError([id], this.keyIds);
      key = subtle().importKey('raw', material as BufferSource, 'AES-GCM', false, ['encrypt', 'decrypt']);
      this.cryptoKeys.set(id, key);
    }
    return key;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const id = this.activeKeyId;
    const key = await this.cryptoKey(id);
    return Promise.all(
      payloads.map(async (payload) => {
        const iv = new Uint8Array(IV_BYTES);
        webCrypto().getRandomValues(iv);
        const sealed = new Uint8Array(
          await subtle().encrypt(
            { name: 'AES-GCM', iv, tagLength: TAG_BYTES * 8 },
            key,
            encodePayloadProto(payload),
          ),
        );
        const data = new Uint8Array(IV_BYTES + sealed.length);
        data.set(iv, 0);
        data.set(sealed, IV_BYTES);
        return {
          metadata: {
            [METADATA_ENCODING]: utf8.encode(ENCODING_ENCRYPTED),
            [METADATA_KEY_ID]: utf8.encode(id),
          },
          data,
        };
      }),
    );
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    const missing = new Set<string>();
    for (const p of payloads) {
      const id = encryptedPayloadKeyId(p);
      if (id !== undefined && !this.keyIds.includes(id)) missing.add(id);
    }
    if (missing.size) throw new MissingEncryptionKeyError([...missing], this.keyIds);
    return Promise.all(
      payloads.map(async (payload) => {
        const id = encryptedPayloadKeyId(payload);
        if (id === undefined) return payload;
        const data = payload.data ?? new Uint8Array(0);
        if (data.length < IV_BYTES + TAG_BYTES)
          throw new PayloadDecryptionError(`encrypted payload (key "${id}") is too short`);
        let plain: ArrayBuffer;
        try {
          plain = await subtle().decrypt(
            { name: 'AES-GCM', iv: data.subarray(0, IV_BYTES) as BufferSource, tagLength: TAG_BYTES * 8 },
            await this.cryptoKey(id),
            data.subarray(IV_BYTES),
          );
        } catch {
          throw new PayloadDecryptionError(
            `payload encrypted with key "${id}" does not authenticate: the key material for "${id}" is wrong, or the payload was altered`,
          );
        }
        return decodePayloadProto(new Uint8Array(plain));
      }),
    );
  }
}

/**
 * The failure converter of encrypted deployments: error messages and stack traces travel as an encoded
 * payload (`encodedAttributes`), which the codec then encrypts. The data converter names this module as its
 * `failureConverterPath`, so the worker, the client and the workflow bundle all load it from here.
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });

/** This module's own path: what `failureConverterPath` points at (source `.ts` or compiled `.js`). */
export const FAILURE_CONVERTER_PATH: string = typeof __filename === 'string' ? __filename : '';

/**
 * The data converter for worker and client: the AES-GCM codec plus failure-attribute encoding. Pass the same
 * one to `createIncidentWorker({ dataConverter })` and `connectClient(endpoint, { dataConverter })`.
 */
export function encryptionDataConverter(keys: EncryptionKey[] | AesGcmPayloadCodec): DataConverter {
  const codec = keys instanceof AesGcmPayloadCodec ? keys : new AesGcmPayloadCodec(keys);
  return { payloadCodecs: [codec], failureConverterPath: FAILURE_CONVERTER_PATH };
}

/** The codec configured by `QUELL_ENCRYPTION_KEY`, or undefined when it is not set. */
export function codecFromEnv(env: NodeJS.ProcessEnv = process.env): AesGcmPayloadCodec | undefined {
  const spec = env[ENCRYPTION_KEY_ENV];
  if (!spec || !spec.trim()) return undefined;
  return new AesGcmPayloadCodec(parseEncryptionKeys(spec));
}

/**
 * The data converter `QUELL_ENCRYPTION_KEY` asks for, or undefined (plain payloads) when it is not set.
 * Thrown: {@link EncryptionConfigError} when the variable is set but malformed.
 */
export function dataConverterFromEnv(env: NodeJS.ProcessEnv = process.env): DataConverter | undefined {
  const codec = codecFromEnv(env);
  return codec ? encryptionDataConverter(codec) : undefined;
}

/** The AES-GCM codec inside a data converter, if it has one. */
export function encryptionCodecOf(dc: DataConverter | undefined): AesGcmPayloadCodec | undefined {
  return dc?.payloadCodecs?.find((c): c is AesGcmPayloadCodec => c instanceof AesGcmPayloadCodec);
}
