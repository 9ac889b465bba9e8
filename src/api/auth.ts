import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import { ConfigError } from '../config';
import { ROLES, type Actor, type Role } from '../domain/incident';
import {
  OidcTokenRejected,
  OidcUnavailable,
  OidcVerifier,
  OIDC_ENV,
  loadOidcSettings,
  looksLikeJwt,
  type OidcVerifierOptions,
} from './oidc';
import { ApiProblem } from './problem';

export { ROLES, type Actor, type Role };

/** Environment variables this module reads. */
export const AUTH_ENV = {
  tokens: 'QUELL_API_TOKENS',
  tokensFile: 'QUELL_API_TOKENS_FILE',
  signingSecrets: 'QUELL_INGEST_SIGNING_SECRETS',
  signingSecretsFile: 'QUELL_INGEST_SIGNING_SECRETS_FILE',
} as const;

export const SIGNATURE_HEADER = 'x-quell-signature';
export const SOURCE_HEADER = 'x-quell-source';
export const DEFAULT_SIGNATURE_TOLERANCE_SECONDS = 300;
/** Subjects of signed sources are `source:<name>`; token subjects may not start with it. */
export const SIGNED_SOURCE_PREFIX = 'source:';

const sha256 = (data: string | Buffer): Buffer => createHash('sha256').update(data).digest();

/**
 * Equality in time independent of where the inputs differ and of their lengths: both sides are hashed with
 * SHA-256 and the digests compared with `timingSafeEqual`.
 */
export function constantTimeEqual(a: string | Buffer, b: string | Buffer): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

/** RFC 6750 token68 characters. */
const TOKEN_PATTERN = /^[A-Za-z0-9\-._~+/]+=*$/;
const SOURCE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

function tokenIdentitySchema() {
  return z.strictObject({
    subject: z
      .string()
      .trim()
      .min(1)
      .max(200)
      // eslint-disable-next-line no-control-regex
      .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters')
      .refine(
        (s) => !s.startsWith(SIGNED_SOURCE_PREFIX),
        `"${SIGNED_SOURCE_PREFIX}" is reserved for signed sources`,
      ),
    roles: z
      .array(z.enum(ROLES))
      .min(1, `needs at least one role (${ROLES.join(', ')})`)
      .max(ROLES.length),
  });
}

function tokensSchema(minLength: number) {
  return z.record(
    z
      .string()
      .min(minLength, `tokens must be at least ${minLength} characters`)
      .max(512)
      .regex(TOKEN_PATTERN, 'tokens may contain only A-Z a-z 0-9 - . _ ~ + / (and trailing =)'),
    tokenIdentitySchema(),
  );
}

function signingSchema(minLength: number) {
  const secret = z.string().min(minLength, `secrets must be at least ${minLength} characters`).max(1024);
  return z.record(
    z.string().regex(SOURCE_NAME_PATTERN, 'source names are letters, digits, _ . - (at most 100)'),
    z.preprocess((v) => (typeof v === 'string' ? [v] : v), z.array(secret).min(1).max(10)),
  );
}

interface TokenIdentity {
  digest: Buffer;
  actor: Actor;
}

export interface AuthConfigInit {
  /** Bearer token -> identity. */
  tokens: Record<string, { subject: string; roles: Role[] }>;
  /** Source name -> signing secrets (several during rotation). */
  signingSecrets?: Record<string, string | string[]>;
  signatureToleranceSeconds?: number;
  /** Set when the tokens were generated for a development run (role -> token), for the start banner. */
  demoTokens?: Record<string, string>;
  /** Bearer JWTs of an OpenID Connect issuer, accepted beside the static tokens. */
  oidc?: OidcVerifier;
}

export type SignatureCheck =
  { ok: true; actor: Actor } | { ok: false; reason: 'missing' | 'invalid' | 'expired' };

/**
 * Who may call the API: bearer tokens (kept only as SHA-256 digests) and per-source signing secrets. Secrets
 * live in private fields, so logging or serializing the config cannot reveal them.
 */
export class AuthConfig {
  readonly #tokens: TokenIdentity[];
  readonly #secrets: Map<string, Buffer[]>;
  readonly #demoTokens: Readonly<Record<string, string>> | undefined;
  readonly signatureToleranceSeconds: number;
  /** Verifies bearer JWTs when an OpenID Connect issuer is configured. */
  readonly oidc: OidcVerifier | undefined;

  constructor(init: AuthConfigInit) {
    this.#tokens = Object.entries(init.tokens).map(([token, id]) => ({
      digest: sha256(token),
      actor: { subject: id.subject, roles: [...new Set(id.roles)] },
    }));
    this.#secrets = new Map(
      Object.entries(init.signingSecrets ?? {}).map(([source, s]) => [
        source,
        (Array.isArray(s) ? s : [s]).map((x) => Buffer.from(x, 'utf8')),
      ]),
    );
    this.#demoTokens = init.demoTokens ? Object.freeze({ ...init.demoTokens }) : undefined;
    this.signatureToleranceSeconds = init.signatureToleranceSeconds ?? DEFAULT_SIGNATURE_TOLERANCE_SECONDS;
    this.oidc = init.oidc;
  }

  /** Role -> token, when these are generated DEMO tokens (development only); print them in the start banner. */
  get demoTokens(): Readonly<Record<string, string>> | undefined {
    return this.#demoTokens;
  }

  get tokenCount(): number {
    return this.#tokens.length;
  }

  get signingSources(): string[] {
    return [...this.#secrets.keys()];
  }

  /**
   * The identity a bearer token stands for. Every configured token is compared (no early exit), each in
   * constant time over SHA-256 digests, so the time taken says nothing about which token nearly matched.
   */
  authenticate(token: string): Actor | undefined {
    const digest = sha256(token);
    let found: Actor | undefined;
    for (const entry of this.#tokens) {
      if (timingSafeEqual(digest, entry.digest) && !found) found = entry.actor;
    }
    return found ? { subject: found.subject, roles: [...found.roles] } : undefined;
  }

  /**
   * Verifies `X-Quell-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]` over `t + "." + rawBody` with every secret of
   * the named source (constant-time comparisons, all performed). Within tolerance and matching: the source's
   * identity `source:<name>` with the ingest role.
   */
  verifySignature(
    source: string | undefined,
    header: string | undefined,
    rawBody: Buffer,
    nowSeconds = Math.floor(Date.now() / 1000),
  ): SignatureCheck {
    if (!source || !header) return { ok: false, reason: 'missing' };
    const parsed = parseSignatureHeader(header);
    if (!parsed) return { ok: false, reason: 'invalid' };
    const secrets = this.#secrets.get(source);
    // An unknown source still costs one HMAC, so response time does not reveal which sources exist.
    const candidates = secrets && SOURCE_NAME_PATTERN.test(source) ? secrets : [randomBytes(32)];
    let matched = false;
    for (const secret of candidates) {
      const expected = createHmac('sha256', secret).update(`${parsed.timestamp}.`).update(rawBody).digest();
      for (const given of parsed.signatures) {
        if (timingSafeEqual(expected, given)) matched = true;
      }
    }
    if (!matched || !secrets) return { ok: false, reason: 'invalid' };
    if (Math.abs(nowSeconds - parsed.timestamp) > this.signatureToleranceSeconds) {
      return { ok: false, reason: 'expired' };
    }
    return { ok: true, actor: { subject: `${SIGNED_SOURCE_PREFIX}${source}`, roles: ['ingest'] } };
  }

  /** A summary safe to log: no tokens, no secrets. */
  toJSON(): Record<string, unknown> {
    return {
      tokens: this.#tokens.length,
      subjects: [...new Set(this.#tokens.map((t) => t.actor.subject))],
      signingSources: this.signingSources,
      signatureToleranceSeconds: this.signatureToleranceSeconds,
      demo: this.#demoTokens !== undefined,
      ...(this.oidc ? { oidc: this.oidc.toJSON() } : {}),
    };
  }
}

/** Parses `t=<unix seconds>,v1=<64 hex>[,v1=...]`; other schemes are ignored. Undefined when malformed. */
export function parseSignatureHeader(
  header: string,
): { timestamp: number; signatures: Buffer[] } | undefined {
  if (header.length > 2_000) return undefined;
  let timestamp: number | undefined;
  const signatures: Buffer[] = [];
  const parts = header.split(',');
  if (parts.length > 12) return undefined;
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq < 0) return undefined;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (timestamp !== undefined || !/^\d{1,12}$/.test(value)) return undefined;
      timestamp = Number(value);
    } else if (key === 'v1') {
      if (!/^[0-9a-fA-F]{64}$/.test(value)) return undefined;
      signatures.push(Buffer.from(value, 'hex'));
    }
  }
  if (timestamp === undefined || signatures.length === 0) return undefined;
  return { timestamp, signatures };
}

/** `v1` signature of a body, as a sender computes it: hex HMAC-SHA256(secret, `${timestamp}.${body}`). */
export function signBody(secret: string, timestamp: number, rawBody: string | Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex');
}

/** The full `X-Quell-Signature` header value for a body (senders and tests). */
export function signatureHeader(
  secret: string,
  rawBody: string | Buffer,
  timestamp = Math.floor(Date.now() / 1000),
): string {
  return `t=${timestamp},v1=${signBody(secret, timestamp, rawBody)}`;
}

// ---------------------------------------------------------------------------------------------------------
// Loading from the environment

type Env = Record<string, string | undefined>;

function describeIssues(error: z.ZodError, secretKeys: string[], what: string): string {
  return error.issues
    .flatMap((i) =>
      // A record key that fails: report the key schema's own messages at the key's path.
      i.code === 'invalid_key' ? i.issues.map((inner) => ({ ...inner, path: i.path })) : [i],
    )
    .map((i) => {
      // Record keys are the tokens themselves: never put them in an error message.
      const path = i.path.map((p) => {
        const idx = typeof p === 'string' ? secretKeys.indexOf(p) : -1;
        return idx >= 0 ? `<${what} #${idx + 1}>` : String(p);
      });
      return `  ${path.join('.') || '(root)'}: ${i.message}`;
    })
    .join('\n');
}

function readJsonSetting(
  env: Env,
  inline: string,
  file: string,
): { value: unknown; from: string } | undefined {
  const inlineValue = env[inline]?.trim();
  const filePath = env[file]?.trim();
  if (inlineValue && filePath) {
    throw new ConfigError(`Set ${inline} or ${file}, not both.`);
  }
  let text: string;
  let from: string;
  if (inlineValue) {
    text = inlineValue;
    from = inline;
  } else if (filePath) {
    try {
      text = readFileSync(filePath, 'utf8');
    } catch (err) {
      throw new ConfigError(
        `${file}: cannot read ${filePath}: ${(err as NodeJS.ErrnoException).code ?? 'error'}.`,
      );
    }
    from = `${file} (${filePath})`;
  } else {
    return undefined;
  }
  try {
    return { value: JSON.parse(text) as unknown, from };
  } catch {
    // The parser's message quotes the text, which holds secrets.
    throw new ConfigError(`${from} is not valid JSON.`);
  }
}

function generateDemoTokens(): { tokens: AuthConfigInit['tokens']; demoTokens: Record<string, string> } {
  const tokens: AuthConfigInit['tokens'] = {};
  const demoTokens: Record<string, string> = {};
  // A second approver, so a newcomer can walk a two-person approval with demo tokens alone.
  const identities: [string, Role][] = [
    ...ROLES.map((role): [string, Role] => [role, role]),
    ['approver-2', 'approver'],
  ];
  for (const [name, role] of identities) {
    const token = `quell-demo-${name}-${randomBytes(24).toString('base64url')}`;
    tokens[token] = { subject: `demo-${name}`, roles: [role] };
    demoTokens[name] = token;
  }
  return { tokens, demoTokens };
}

/**
 * Reads who may call the API from the environment:
 * - `QUELL_API_TOKENS` (JSON `{"<token>": {"subject": "...", "roles": ["responder", ...]}}`) or
 *   `QUELL_API_TOKENS_FILE` (a file holding the same JSON);
 * - `QUELL_INGEST_SIGNING_SECRETS` (JSON `{"<source>": ["secret", "older secret"]}`) or
 *   `QUELL_INGEST_SIGNING_SECRETS_FILE`.
 * - `QUELL_OIDC_*` (see `loadOidcSettings` in oidc.ts): bearer JWTs of an OpenID Connect issuer.
 * In production, neither tokens nor an OIDC issuer is an error (thrown ConfigError), and tokens and secrets
 * must be at least 32 characters. In development with no tokens, one random DEMO token per role is generated:
 * `demoTokens` holds them for the start banner (see {@link demoTokenBanner}).
 */
export function loadAuthConfig(
  env: Env,
  opts: { production: boolean; oidc?: OidcVerifierOptions },
): AuthConfig {
  const minLength = opts.production ? 32 : 16;
  const rawTokens = readJsonSetting(env, AUTH_ENV.tokens, AUTH_ENV.tokensFile);
  let tokens: AuthConfigInit['tokens'] | undefined;
  if (rawTokens) {
    const keys =
      rawTokens.value !== null && typeof rawTokens.value === 'object' ? Object.keys(rawTokens.value) : [];
    const parsed = tokensSchema(minLength).safeParse(rawTokens.value);
    if (!parsed.success) {
      throw new ConfigError(
        `Invalid API tokens in ${rawTokens.from}:\n${describeIssues(parsed.error, keys, 'token')}`,
      );
    }
    tokens = Object.keys(parsed.data).length > 0 ? parsed.data : undefined;
  }

  const rawSecrets = readJsonSetting(env, AUTH_ENV.signingSecrets, AUTH_ENV.signingSecretsFile);
  let signingSecrets: Record<string, string | string[]> | undefined;
  if (rawSecrets) {
    const parsed = signingSchema(minLength).safeParse(rawSecrets.value);
    if (!parsed.success) {
      throw new ConfigError(
        `Invalid ingest signing secrets in ${rawSecrets.from}:\n${describeIssues(parsed.error, [], 'secret')}`,
      );
    }
    signingSecrets = parsed.data;
  }

  const oidcSettings = loadOidcSettings(env, { production: opts.production });
  const oidc = oidcSettings ? { oidc: new OidcVerifier(oidcSettings, opts.oidc) } : {};

  if (!tokens) {
    if (opts.production && !oidcSettings) {
      throw new ConfigError(
        `No API tokens configured: set ${AUTH_ENV.tokens} (JSON {"<token>": {"subject": "...", "roles": [...]}}) ` +
          `or ${AUTH_ENV.tokensFile}, or an OpenID Connect issuer (${OIDC_ENV.issuer}). Quell will not serve ` +
          'its API without authentication in production.',
      );
    }
    if (opts.production)
      return new AuthConfig({ tokens: {}, ...oidc, ...(signingSecrets ? { signingSecrets } : {}) });
    const demo = generateDemoTokens();
    return new AuthConfig({
      tokens: demo.tokens,
      demoTokens: demo.demoTokens,
      ...oidc,
      ...(signingSecrets ? { signingSecrets } : {}),
    });
  }
  return new AuthConfig({ tokens, ...oidc, ...(signingSecrets ? { signingSecrets } : {}) });
}

/** Lines for the start banner when the tokens are generated DEMO tokens; empty otherwise. */
export function demoTokenBanner(auth: AuthConfig): string[] {
  const demo = auth.demoTokens;
  if (!demo) return [];
  return [
    '  DEMO API tokens (development only, new on every start; set QUELL_API_TOKENS for real ones):',
    ...Object.entries(demo).map(([name, token]) => `    ${name.padEnd(10)} ${token}`),
  ];
}

/**
 * The banner's "Try:" lines: a first alert that works pasted as printed. With demo tokens it carries the demo
 * ingest token itself; with configured tokens it says where to put yours.
 */
export function firstAlertHint(apiUrl: string, auth: AuthConfig | undefined, samplePath: string): string[] {
  const token = auth?.demoTokens?.ingest;
  const post =
    `curl -s -X POST ${apiUrl}/api/v1/alerts -H "Authorization: Bearer ${token ?? '$QUELL_INGEST_TOKEN'}" ` +
    `-H 'content-type: application/json' -d @${samplePath}`;
  return token
    ? [`  Try:         ${post}`]
    : [
        '  Try:         export QUELL_INGEST_TOKEN=<a token with the ingest role from QUELL_API_TOKENS>',
        `               ${post}`,
      ];
}

// ---------------------------------------------------------------------------------------------------------
// Request-time helpers

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

export function unauthorized(
  detail: string,
  error?: 'invalid_token' | 'invalid_request',
  /** RFC 6750 `error_description` (characters outside its set are dropped). */
  description?: string,
): ApiProblem {
  const describe = description
    ? `, error_description="${description.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '')}"`
    : '';
  return new ApiProblem(401, 'unauthorized', 'Unauthorized', detail, {
    headers: { 'WWW-Authenticate': `Bearer realm="quell"${error ? `, error="${error}"` : ''}${describe}` },
  });
}

export function signatureProblem(reason: 'missing' | 'invalid' | 'expired'): ApiProblem {
  return new ApiProblem(401, 'signature-invalid', 'Unauthorized', `Signature ${reason}.`, {
    headers: { 'WWW-Authenticate': 'Bearer realm="quell"' },
  });
}

/** JWT callers whose groups map to no role -> the roles claim, so their 403 says why they have none. */
const unmappedJwtCallers = new WeakMap<Actor, string>();

export function forbidden(actor: Actor, allowed: readonly Role[]): ApiProblem {
  const claim = unmappedJwtCallers.get(actor);
  const why = claim ? ` (no group in the token's ${claim} claim is mapped to a Quell role)` : '';
  return new ApiProblem(
    403,
    'forbidden',
    'Forbidden',
    `This operation needs one of the roles ${[...allowed, 'admin'].filter((r, i, a) => a.indexOf(r) === i).join(', ')}; ` +
      `${actor.subject} has ${actor.roles.join(', ') || 'none'}${why}.`,
    { headers: { 'WWW-Authenticate': 'Bearer realm="quell", error="insufficient_scope"' } },
  );
}

/** Admin may do everything; otherwise the actor needs one of the allowed roles. */
export function hasRole(actor: Actor, allowed: readonly Role[]): boolean {
  return actor.roles.includes('admin') || actor.roles.some((r) => allowed.includes(r));
}

/** The verified identity of this request (set by the authentication middleware). */
export function actorOf(res: Response): Actor {
  const actor = (res.locals as { actor?: Actor }).actor;
  if (!actor) throw new Error('no verified actor on this request (authentication middleware missing)');
  return actor;
}

export function setActor(res: Response, actor: Actor): void {
  (res.locals as { actor?: Actor }).actor = actor;
}

/** Seconds a client should wait before retrying when the identity provider cannot be reached. */
export const IDENTITY_PROVIDER_RETRY_SECONDS = 5;

/**
 * The identity behind `Authorization: Bearer <token>`: a configured static token, else (when an OIDC issuer is
 * configured and the token is JWT-shaped) a verified JWT.
 * Rejected: a 401 problem (with `WWW-Authenticate: Bearer`) when the header is missing, malformed or unknown,
 * or the JWT does not verify; a 503 problem when the issuer's keys cannot be fetched (the token may be valid,
 * so the client should retry, not discard it).
 */
export async function authenticateBearer(auth: AuthConfig, req: Request): Promise<Actor> {
  const header = req.headers.authorization;
  if (!header) throw unauthorized('Authentication required: send Authorization: Bearer <token>.');
  const m = BEARER.exec(header);
  if (!m?.[1])
    throw unauthorized('Malformed Authorization header: expected Bearer <token>.', 'invalid_request');
  const actor = auth.authenticate(m[1]);
  if (actor) return actor;
  if (auth.oidc && looksLikeJwt(m[1])) return authenticateJwt(auth.oidc, m[1], req);
  req.log?.warn('authentication failed: unknown bearer token');
  throw unauthorized('Invalid bearer token.', 'invalid_token');
}

async function authenticateJwt(oidc: OidcVerifier, token: string, req: Request): Promise<Actor> {
  try {
    const actor = await oidc.verify(token);
    if (actor.roles.length === 0) {
      unmappedJwtCallers.set(actor, oidc.settings.rolesClaim);
      req.log?.info({ subject: actor.subject }, 'bearer JWT verified, but its groups map to no Quell role');
    }
    return actor;
  } catch (err) {
    if (err instanceof OidcTokenRejected) {
      req.log?.warn({ reason: err.reason }, 'authentication failed: bearer JWT refused');
      throw unauthorized(`Invalid bearer token: ${err.detail}`, 'invalid_token', err.detail);
    }
    if (err instanceof OidcUnavailable) {
      req.log?.error({ err }, 'identity provider unavailable');
      throw identityProviderUnavailable(err);
    }
    throw err;
  }
}

/** The 503 answered while the OpenID Connect issuer's discovery document or keys cannot be read. */
export function identityProviderUnavailable(err: OidcUnavailable): ApiProblem {
  return new ApiProblem(
    503,
    'identity-provider-unavailable',
    'Identity provider unavailable',
    `${err.message} Retry later.`,
    { retryAfterSeconds: IDENTITY_PROVIDER_RETRY_SECONDS },
  );
}

/** Authenticates `Authorization: Bearer <token>`; 401 problem when missing or unknown. */
export function bearerAuth(auth: AuthConfig): RequestHandler {
  return async (req, res, next) => {
    setActor(res, await authenticateBearer(auth, req));
    next();
  };
}

/** 403 problem unless the verified actor holds one of the roles (or admin). */
export function requireRoles(roles: readonly Role[]): RequestHandler {
  return (_req, res, next) => {
    const actor = actorOf(res);
    if (!hasRole(actor, roles)) throw forbidden(actor, roles);
    next();
  };
}
