/**
 * The Temporal codec server (Temporal's "Codec Server Protocol"): the Temporal UI and CLI post the payloads they
 * show or send, as the proto3 JSON of `temporal.api.common.v1.Payloads`, to `<endpoint>/decode` and
 * `<endpoint>/encode` and get the same shape back with Quell's payload codec applied. Only callers with a bearer
 * token (or OIDC JWT) and a reading role get plaintext; everyone else gets 401/403 and the UI keeps showing
 * ciphertext.
 */
import type { Payload, PayloadCodec } from '@temporalio/common';
import { z } from 'zod';
import {
  encryptedPayloadKeyId,
  MissingEncryptionKeyError,
  PayloadDecryptionError,
} from '../../temporal/codec';
import { ApiProblem } from '../problem';
import { defineRoute, type RouteDeps, type RouteSpec } from '../route-spec';

/** What the codec routes need from the running API; without it they answer as an API without encryption. */
export interface CodecServerOptions {
  /** Quell's payload codec (QUELL_ENCRYPTION_KEY); undefined when encryption is off. */
  codec?: PayloadCodec;
  /** The Temporal namespace Quell's incidents live in: the only one whose payloads this codec serves. */
  namespace?: string;
  /** Browser origins (the Temporal UI) allowed to call the codec routes; see `codecCors`. */
  corsOrigins?: readonly string[];
}

export const CODEC_PATHS = { encode: '/api/v1/codec/encode', decode: '/api/v1/codec/decode' } as const;
export const NAMESPACE_HEADER = 'x-namespace';

/**
 * A request's limits. 1000 payloads is far more than one history event carries (the UI posts one event's
 * payloads at a time); 2 MiB of data is Temporal's default blob size limit, so no stored payload is larger.
 * The body as a whole is still capped by QUELL_API_BODY_LIMIT (413 beyond it).
 */
export const CODEC_LIMITS = {
  payloads: 1000,
  dataBytes: 2 * 1024 * 1024,
  metadataEntries: 64,
  metadataKeyChars: 256,
  metadataValueBytes: 16 * 1024,
} as const;

// 15 digits: any int64 size a payload can have, and still exact as a JS number.
const MAX_SIZE_BYTES = 999_999_999_999_999;
const base64Chars = (bytes: number) => Math.ceil(bytes / 3) * 4;
// proto3 JSON writes bytes as standard base64 with padding and accepts the URL-safe alphabet and no padding.
const BASE64 = /^(?:[A-Za-z0-9+/_-]{4})*(?:[A-Za-z0-9+/_-]{2}(?:==)?|[A-Za-z0-9+/_-]{3}=?)?$/;
const base64 = (maxBytes: number) =>
  z
    .string()
    .max(base64Chars(maxBytes), `must be at most ${maxBytes} bytes (base64)`)
    .regex(BASE64, 'must be base64 (proto3 JSON bytes)');

const payloadJsonSchema = z
  .object({
    metadata: z
      .record(z.string().min(1).max(CODEC_LIMITS.metadataKeyChars), base64(CODEC_LIMITS.metadataValueBytes))
      .refine((m) => Object.keys(m).length <= CODEC_LIMITS.metadataEntries, {
        message: `at most ${CODEC_LIMITS.metadataEntries} metadata entries`,
      })
      .optional(),
    data: base64(CODEC_LIMITS.dataBytes).optional(),
    // Payload field 3 (int64 sizes are strings in proto3 JSON); kept so a payload survives the round trip.
    externalPayloads: z
      .array(
        z.strictObject({
          sizeBytes: z
            .union([z.string().regex(/^\d{1,15}$/), z.number().int().min(0).max(MAX_SIZE_BYTES)])
            .optional(),
        }),
      )
      .max(CODEC_LIMITS.payloads)
      .optional(),
  })
  .strict()
  .describe('A `temporal.api.common.v1.Payload` in proto3 JSON (bytes as base64).');

/** `{}` is valid proto3 JSON for no payloads (empty repeated fields are omitted). */
export const codecPayloadsSchema = z
  .strictObject({
    payloads: z.array(payloadJsonSchema).max(CODEC_LIMITS.payloads).optional(),
  })
  .describe(
    'A `temporal.api.common.v1.Payloads` in proto3 JSON, as the Temporal codec-server protocol sends it.',
  );

type PayloadJson = z.output<typeof payloadJsonSchema>;

const fromBase64 = (text: string) => new Uint8Array(Buffer.from(text, 'base64'));
const toBase64 = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? []).toString('base64');

function fromJson(p: PayloadJson): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, fromBase64(v)])),
    data: fromBase64(p.data ?? ''),
    ...(p.externalPayloads
      ? { externalPayloads: p.externalPayloads.map((e) => ({ sizeBytes: Number(e.sizeBytes ?? 0) })) }
      : {}),
  } as Payload;
}

function toJson(p: Payload): PayloadJson {
  return {
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {})
        .filter(([, v]) => v !== null && v !== undefined)
        .map(([k, v]) => [k, toBase64(v)]),
    ),
    data: toBase64(p.data),
    ...(p.externalPayloads?.length
      ? { externalPayloads: p.externalPayloads.map((e) => ({ sizeBytes: String(Number(e.sizeBytes ?? 0)) })) }
      : {}),
  };
}

/**
 * A payload encrypted with a key this server does not hold, or one that does not authenticate, is a 422: the
 * request is well-formed, but these payloads cannot be read here. Not a 500: the payloads the UI posts may come
 * from anywhere in the namespace (another deployment's key, an old rotated-out key), which is no fault of this
 * server and nothing to page anyone about; not a 400, since nothing in the request is malformed.
 */
function codecProblem(err: unknown): ApiProblem | undefined {
  if (err instanceof MissingEncryptionKeyError) {
    return new ApiProblem(
      422,
      'encryption-key-unavailable',
      'Encryption key unavailable',
      `Payloads are encrypted with key ${err.keyIds.map((k) => `"${k}"`).join(', ')}, which this server ` +
        `does not hold (${err.heldKeyIds.length ? `it holds ${err.heldKeyIds.map((k) => `"${k}"`).join(', ')}` : 'encryption is off'}).`,
      { keyIds: err.keyIds },
    );
  }
  if (err instanceof PayloadDecryptionError) {
    return new ApiProblem(422, 'payload-not-decryptable', 'Payload cannot be decrypted', err.message);
  }
  return undefined;
}

function checkNamespace(header: string | string[] | undefined, namespace: string | undefined): void {
  if (header === undefined || namespace === undefined) return;
  const sent = Array.isArray(header) ? header.join(',') : header;
  if (sent === namespace) return;
  throw new ApiProblem(
    400,
    'validation-error',
    'Request validation failed',
    `Invalid header: X-Namespace: this codec serves Temporal namespace "${namespace}" only.`,
    { errors: [{ path: 'header.X-Namespace', message: `must be "${namespace}" (Quell's namespace)` }] },
  );
}

const codecRoute = (direction: 'encode' | 'decode', options: CodecServerOptions): RouteSpec =>
  defineRoute({
    operationId: direction === 'decode' ? 'codecDecode' : 'codecEncode',
    method: 'post',
    path: CODEC_PATHS[direction],
    tag: 'codec',
    summary:
      direction === 'decode'
        ? 'Temporal codec server: decrypts payloads (for the Temporal UI and CLI).'
        : 'Temporal codec server: encrypts payloads (what the Temporal UI sends when it starts or signals a workflow).',
    description:
      'The Temporal codec-server protocol: `{"payloads": [{"metadata": {"<key>": "<base64>"}, "data": "<base64>"}]}` ' +
      "in and out, same order and count. The UI sends `X-Namespace`; another namespace than Quell's is refused. " +
      (direction === 'decode'
        ? 'Payloads that are not encrypted come back unchanged. With encryption off, encrypted payloads answer 422.'
        : 'With encryption off (no QUELL_ENCRYPTION_KEY) payloads come back unchanged, as Quell itself stores them then.'),
    auth: 'bearer',
    roles: ['responder', 'auditor'],
    body: codecPayloadsSchema,
    usesIncidents: false,
    responses: {
      200: {
        description: `The ${direction}d payloads.`,
        schema: codecPayloadsSchema,
        headers: { 'Cache-Control': 'no-store (decrypted payloads are not to be kept by caches)' },
      },
    },
    errors: {
      422: 'A payload is encrypted with a key this server does not hold, or does not authenticate.',
    },
    handle: async ({ body, req }) => {
      checkNamespace(req.headers[NAMESPACE_HEADER], options.namespace);
      const payloads = (body.payloads ?? []).map(fromJson);
      let out: Payload[];
      try {
        out = options.codec
          ? await options.codec[direction](payloads)
          : direction === 'decode'
            ? decodeWithoutKeys(payloads)
            : payloads;
      } catch (err) {
        throw codecProblem(err) ?? err;
      }
      return {
        status: 200,
        json: { payloads: out.map(toJson) },
        headers: { 'Cache-Control': 'no-store' },
      };
    },
  });

/** Without encryption there is nothing to decrypt with: plain payloads pass, encrypted ones are refused. */
function decodeWithoutKeys(payloads: Payload[]): Payload[] {
  const keyIds = [
    ...new Set(payloads.map(encryptedPayloadKeyId).filter((id): id is string => id !== undefined)),
  ];
  if (keyIds.length) throw new MissingEncryptionKeyError(keyIds, []);
  return payloads;
}

export function codecRoutes({ codecServer }: Pick<RouteDeps, 'codecServer'>): RouteSpec[] {
  const options = codecServer ?? {};
  return [codecRoute('decode', options), codecRoute('encode', options)];
}
