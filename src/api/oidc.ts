/**
 * Bearer JWTs from an OpenID Connect issuer: settings read from the environment, and a verifier that checks a
 * token's signature against the issuer's published keys (JWKS), its issuer, audience and validity window, and
 * maps a claim (e.g. `groups`) to Quell roles. HTTP answers are chosen by auth.ts from the errors thrown here.
 */
import type * as JoseModule from 'jose' with { 'resolution-mode': 'import' };
import type { JWTPayload, JWTVerifyGetKey } from 'jose' with { 'resolution-mode': 'import' };
import { z } from 'zod';
import { ConfigError } from '../config';
import { ROLES, type Actor, type Role } from '../domain/incident';
import type { ConsoleSignIn } from '../domain/sign-in';

export type { ConsoleSignIn } from '../domain/sign-in';

type Jose = typeof JoseModule;
type Env = Record<string, string | undefined>;

/** Environment variables this module reads. */
export const OIDC_ENV = {
  issuer: 'QUELL_OIDC_ISSUER',
  audience: 'QUELL_OIDC_AUDIENCE',
  jwksUrl: 'QUELL_OIDC_JWKS_URL',
  rolesClaim: 'QUELL_OIDC_ROLES_CLAIM',
  roleMap: 'QUELL_OIDC_ROLE_MAP',
  subjectClaim: 'QUELL_OIDC_SUBJECT_CLAIM',
  clockTolerance: 'QUELL_OIDC_CLOCK_TOLERANCE_S',
  clientId: 'QUELL_OIDC_CLIENT_ID',
  scopes: 'QUELL_OIDC_SCOPES',
} as const;

/**
 * Asymmetric algorithms only: `none` and HMAC (whose "secret" would be the issuer's public key) never verify.
 * `Ed25519` is the fully specified name of EdDSA over Ed25519 (RFC 9864).
 */
export const OIDC_ALGORITHMS = ['RS256', 'ES256', 'EdDSA', 'Ed25519'] as const;
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 60;
export const MAX_CLOCK_TOLERANCE_SECONDS = 300;
const FETCH_TIMEOUT_MS = 5_000;

/** What an OIDC issuer's tokens must satisfy and how their claims map to a Quell actor. */
export interface OidcSettings {
  /** The `iss` tokens must carry, exactly (also where discovery is read from). */
  issuer: string;
  /** Accepted `aud` values: a token must name at least one. */
  audience: string[];
  /** The issuer's key set; absent: `jwks_uri` from `<issuer>/.well-known/openid-configuration`. */
  jwksUrl?: string;
  /** Claim holding the caller's groups (a list, or a space-separated string); dotted paths reach nested claims. */
  rolesClaim: string;
  /** Group -> the Quell roles its members hold. */
  roleMap: Record<string, Role[]>;
  /** Claim holding the subject recorded in history (`sub`, `preferred_username`, `email`...). */
  subjectClaim: string;
  clockToleranceSeconds: number;
  /**
   * The console's client ID at the issuer (a public client: authorization code with PKCE, no secret); absent:
   * the console offers only API tokens.
   */
  clientId?: string;
  /** Scopes the console asks for (space-separated; `openid` always among them). */
  scopes: string;
}

/** Cache tuning for the issuer's key set (jose's `createRemoteJWKSet`); defaults suit production. */
export interface OidcVerifierOptions {
  /** Fewest milliseconds between two fetches prompted by an unknown key ID (default 30 s). */
  jwksCooldownMs?: number;
  /** Keys are re-fetched on the first use after this many milliseconds (default 10 min). */
  jwksCacheMaxAgeMs?: number;
  /** Discovery and JWKS request timeout (default 5 s). */
  fetchTimeoutMs?: number;
}

/** The token was verified and refused (bad signature, expired, wrong audience...): a 401. */
export class OidcTokenRejected extends Error {
  override readonly name = 'OidcTokenRejected';
  constructor(
    /** Short, stable reason for logs and metrics. */
    readonly reason: string,
    /** A sentence for the caller; never contains the token. */
    readonly detail: string,
  ) {
    super(detail);
  }
}

/** The issuer's discovery document or keys could not be fetched: the token may be fine, so a 503. */
export class OidcUnavailable extends Error {
  override readonly name = 'OidcUnavailable';
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Three base64url segments (the third may be empty, as in `alg: none`): worth verifying as a JWT. */
export function looksLikeJwt(token: string): boolean {
  return token.length <= 16_384 && JWT_SHAPE.test(token);
}

let joseModule: Promise<Jose> | undefined;
// jose is published only as ES modules; a dynamic import loads it from this CommonJS package.
const loadJose = (): Promise<Jose> => (joseModule ??= import('jose'));

const discoverySchema = z.object({
  issuer: z.string(),
  jwks_uri: z.url(),
  authorization_endpoint: z.url().optional(),
  token_endpoint: z.url().optional(),
});
type Discovery = z.infer<typeof discoverySchema>;

/**
 * Verifies bearer JWTs of one issuer. The issuer's keys are fetched on first use and cached: a token whose
 * key ID is not in the cache prompts one re-fetch (at most once per cooldown), so a rotated-in key is picked
 * up without a restart and a removed key stops verifying once the set is re-fetched.
 */
export class OidcVerifier {
  readonly settings: Readonly<OidcSettings>;
  readonly #options: Required<OidcVerifierOptions>;
  #keys: Promise<JWTVerifyGetKey> | undefined;
  #discovered: { at: number; doc: Promise<Discovery> } | undefined;

  constructor(settings: OidcSettings, options: OidcVerifierOptions = {}) {
    this.settings = Object.freeze({ ...settings, roleMap: { ...settings.roleMap } });
    this.#options = {
      jwksCooldownMs: options.jwksCooldownMs ?? 30_000,
      jwksCacheMaxAgeMs: options.jwksCacheMaxAgeMs ?? 600_000,
      fetchTimeoutMs: options.fetchTimeoutMs ?? FETCH_TIMEOUT_MS,
    };
  }

  /**
   * The actor a JWT stands for. Thrown: {@link OidcTokenRejected} when it does not verify or names no usable
   * subject; {@link OidcUnavailable} when the issuer's keys cannot be fetched. A verified token whose groups
   * map to no role yields an actor without roles (the route's role check then answers 403).
   */
  async verify(token: string): Promise<Actor> {
    const jose = await loadJose();
    const keys = await this.#keySet(jose);
    let payload: JWTPayload;
    try {
      ({ payload } = await jose.jwtVerify(token, keys, {
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        algorithms: [...OIDC_ALGORITHMS],
        clockTolerance: this.settings.clockToleranceSeconds,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      throw this.#explain(err);
    }
    return { subject: this.#subjectOf(payload), roles: this.rolesOf(payload) };
  }

  /**
   * How the console signs in with this issuer; undefined when no client ID is configured. Thrown:
   * {@link OidcUnavailable} when the discovery document cannot be read or names no authorization or token
   * endpoint.
   */
  async consoleSignIn(): Promise<ConsoleSignIn | undefined> {
    const { clientId } = this.settings;
    if (!clientId) return undefined;
    const doc = await this.#discovery();
    if (!doc.authorization_endpoint || !doc.token_endpoint) {
      throw new OidcUnavailable(
        `The identity provider's discovery document names no authorization_endpoint or token_endpoint, so the ` +
          'console cannot sign in with it.',
      );
    }
    return {
      issuer: this.settings.issuer,
      clientId,
      authorizationEndpoint: doc.authorization_endpoint,
      tokenEndpoint: doc.token_endpoint,
      scope: this.settings.scopes,
      bearer: this.settings.audience.includes(clientId) ? 'id_token' : 'access_token',
    };
  }

  /** The Quell roles the token's groups map to (unmapped groups are ignored). */
  rolesOf(payload: JWTPayload): Role[] {
    const groups = groupsOf(claimAt(payload, this.settings.rolesClaim));
    const roles = new Set<Role>();
    for (const group of groups) {
      const mapped = Object.hasOwn(this.settings.roleMap, group) ? this.settings.roleMap[group] : undefined;
      for (const role of mapped ?? []) roles.add(role);
    }
    return ROLES.filter((r) => roles.has(r));
  }

  /** A summary safe to log. */
  toJSON(): Record<string, unknown> {
    return {
      issuer: this.settings.issuer,
      audience: this.settings.audience,
      jwksUrl: this.settings.jwksUrl ?? 'discovered',
      rolesClaim: this.settings.rolesClaim,
      subjectClaim: this.settings.subjectClaim,
      groups: Object.keys(this.settings.roleMap),
      clockToleranceSeconds: this.settings.clockToleranceSeconds,
      console: this.settings.clientId
        ? { clientId: this.settings.clientId, scopes: this.settings.scopes }
        : false,
    };
  }

  #subjectOf(payload: JWTPayload): string {
    const claim = this.settings.subjectClaim;
    const parsed = subjectSchema.safeParse(claimAt(payload, claim));
    if (!parsed.success) {
      throw new OidcTokenRejected(
        'subject',
        `The token's "${claim}" claim is not a usable subject: ${parsed.error.issues[0]?.message ?? 'invalid'}.`,
      );
    }
    return parsed.data;
  }

  #keySet(jose: Jose): Promise<JWTVerifyGetKey> {
    // A failed discovery is not kept: the next request tries again.
    this.#keys ??= this.#createKeySet(jose).catch((err: unknown) => {
      this.#keys = undefined;
      throw err;
    });
    return this.#keys;
  }

  async #createKeySet(jose: Jose): Promise<JWTVerifyGetKey> {
    const url = new URL(this.settings.jwksUrl ?? (await this.#discovery()).jwks_uri);
    const remote = jose.createRemoteJWKSet(url, {
      cooldownDuration: this.#options.jwksCooldownMs,
      cacheMaxAge: this.#options.jwksCacheMaxAgeMs,
      timeoutDuration: this.#options.fetchTimeoutMs,
    });
    const keyErrors = new Set([
      'ERR_JWKS_NO_MATCHING_KEY',
      'ERR_JWKS_MULTIPLE_MATCHING_KEYS',
      'ERR_JOSE_NOT_SUPPORTED',
    ]);
    return async (header, token) => {
      try {
        return await remote(header, token);
      } catch (err) {
        if (keyErrors.has(codeOf(err))) throw err;
        throw new OidcUnavailable(
          `Cannot fetch the identity provider's signing keys from ${url.href}: ${describeFetchError(err)}.`,
          { cause: err },
        );
      }
    };
  }

  /** The discovery document, cached like the keys; a failed read is not kept, so the next call tries again. */
  #discovery(): Promise<Discovery> {
    const cached = this.#discovered;
    if (cached && Date.now() - cached.at < this.#options.jwksCacheMaxAgeMs) return cached.doc;
    const doc = this.#readDiscovery();
    const entry = { at: Date.now(), doc };
    this.#discovered = entry;
    doc.catch(() => {
      if (this.#discovered === entry) this.#discovered = undefined;
    });
    return doc;
  }

  async #readDiscovery(): Promise<Discovery> {
    const url = `${this.settings.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    let body: unknown;
    try {
      const res = await fetch(url, {
        redirect: 'manual',
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(this.#options.fetchTimeoutMs),
      });
      if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
      body = await res.json();
    } catch (err) {
      throw new OidcUnavailable(
        `Cannot read the identity provider's discovery document ${url}: ${describeFetchError(err)}.`,
        { cause: err },
      );
    }
    const parsed = discoverySchema.safeParse(body);
    if (!parsed.success) {
      throw new OidcUnavailable(`The discovery document ${url} has no valid jwks_uri.`);
    }
    // OpenID Connect Discovery 1.0, section 4.3: the document must name the issuer it was fetched for.
    if (parsed.data.issuer !== this.settings.issuer) {
      throw new OidcUnavailable(
        `The discovery document ${url} names issuer ${parsed.data.issuer}, not ${this.settings.issuer}.`,
      );
    }
    return parsed.data;
  }

  #explain(err: unknown): Error {
    if (err instanceof OidcUnavailable || err instanceof OidcTokenRejected) return err;
    const e = (err ?? {}) as { code?: string; claim?: string; reason?: string; message?: string };
    switch (e.code) {
      case 'ERR_JWT_EXPIRED':
        return new OidcTokenRejected('expired', 'The token has expired.');
      case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
        return claimRejection(e.claim ?? 'unspecified', e.reason ?? 'unspecified', this.settings);
      case 'ERR_JOSE_ALG_NOT_ALLOWED':
        return new OidcTokenRejected(
          'algorithm',
          `The token's signing algorithm is not accepted (accepted: ${OIDC_ALGORITHMS.join(', ')}).`,
        );
      case 'ERR_JWKS_NO_MATCHING_KEY':
        return new OidcTokenRejected(
          'unknown-key',
          'The token is signed with a key the issuer does not publish (unknown or retired key ID).',
        );
      case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
        return new OidcTokenRejected('ambiguous-key', 'The token names no key ID and several keys match.');
      case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
        return new OidcTokenRejected('signature', 'The token signature does not verify.');
      default:
        return new OidcTokenRejected('malformed', 'The bearer token is not a valid signed JWT.');
    }
  }
}

function claimRejection(claim: string, reason: string, settings: Readonly<OidcSettings>): OidcTokenRejected {
  if (reason === 'missing') {
    return new OidcTokenRejected(`missing-${claim}`, `The token has no "${claim}" claim.`);
  }
  switch (claim) {
    case 'nbf':
      return new OidcTokenRejected('not-yet-valid', 'The token is not valid yet (nbf is in the future).');
    case 'iat':
      return new OidcTokenRejected('issued-in-future', 'The token claims to be issued in the future.');
    case 'iss':
      return new OidcTokenRejected(
        'issuer',
        `The token is not from the configured issuer ${settings.issuer}.`,
      );
    case 'aud':
      return new OidcTokenRejected(
        'audience',
        `The token is not meant for this API (audience must include ${settings.audience.join(' or ')}).`,
      );
    default:
      return new OidcTokenRejected('claims', `The token's "${claim}" claim is invalid.`);
  }
}

const codeOf = (err: unknown): string => {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : '';
};

function describeFetchError(err: unknown): string {
  if (codeOf(err) === 'ERR_JWKS_TIMEOUT' || (err as Error | undefined)?.name === 'TimeoutError') {
    return 'timed out';
  }
  const cause = (err as { cause?: { code?: unknown } } | undefined)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  return err instanceof Error ? err.message : 'error';
}

/** A claim by exact name, else by dotted path (`realm_access.roles`), so namespaced URL claims still work. */
function claimAt(payload: JWTPayload, name: string): unknown {
  if (Object.hasOwn(payload, name)) return payload[name];
  let value: unknown = payload;
  for (const part of name.split('.')) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function groupsOf(value: unknown): string[] {
  if (typeof value === 'string') return value.split(/\s+/).filter(Boolean);
  if (Array.isArray(value)) return value.filter((g): g is string => typeof g === 'string');
  return [];
}

const subjectSchema = z
  .string({ error: 'missing or not a string' })
  .trim()
  .min(1, 'empty')
  .max(200, 'longer than 200 characters')
  // eslint-disable-next-line no-control-regex
  .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'contains control characters')
  .refine((s) => !s.startsWith('source:'), '"source:" is reserved for signed alert sources');

// ---------------------------------------------------------------------------------------------------------
// Loading from the environment

const isHttpsOrLoopback = (url: URL) =>
  url.protocol === 'https:' || ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname);

function httpsUrl(production: boolean) {
  return z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .refine((s) => !production || !URL.canParse(s) || isHttpsOrLoopback(new URL(s)), {
      error: 'must be https in production (http only for a loopback issuer)',
    });
}

function settingsSchema(production: boolean) {
  return z.strictObject({
    issuer: httpsUrl(production),
    audience: z
      .string({
        error: `required with ${OIDC_ENV.issuer}: the client ID or API identifier tokens are issued for`,
      })
      .transform((s) =>
        s
          .split(',')
          .map((a) => a.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.string().max(500)).min(1, 'needs at least one audience')),
    jwksUrl: httpsUrl(production).optional(),
    rolesClaim: z.string().trim().min(1).max(200).default('groups'),
    subjectClaim: z.string().trim().min(1).max(200).default('sub'),
    roleMap: z
      .string({ error: `required with ${OIDC_ENV.issuer}: JSON {"<group>": ["<role>", ...]}` })
      .transform((text, ctx) => {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          ctx.addIssue({ code: 'custom', message: 'is not valid JSON' });
          return z.NEVER;
        }
      })
      .pipe(
        z
          .record(
            z.string().min(1).max(500),
            z.array(z.enum(ROLES)).min(1, `needs at least one role (${ROLES.join(', ')})`),
          )
          .refine((m) => Object.keys(m).length > 0, 'maps no group to a role'),
      ),
    clockToleranceSeconds: z.coerce
      .number({ error: 'must be a number of seconds' })
      .int('must be whole seconds')
      .min(0)
      .max(MAX_CLOCK_TOLERANCE_SECONDS)
      .default(DEFAULT_CLOCK_TOLERANCE_SECONDS),
    clientId: z.string().trim().min(1).max(500).optional(),
    scopes: z
      .string()
      .max(1_000)
      .regex(/^[\x21\x23-\x5b\x5d-\x7e ]+$/, 'must be scope names separated by spaces (RFC 6749, 3.3)')
      .transform((s) => [...new Set(['openid', ...s.split(' ').filter(Boolean)])].join(' '))
      .default('openid profile'),
  });
}

const ENV_OF: Record<string, string> = {
  issuer: OIDC_ENV.issuer,
  audience: OIDC_ENV.audience,
  jwksUrl: OIDC_ENV.jwksUrl,
  rolesClaim: OIDC_ENV.rolesClaim,
  subjectClaim: OIDC_ENV.subjectClaim,
  roleMap: OIDC_ENV.roleMap,
  clockToleranceSeconds: OIDC_ENV.clockTolerance,
  clientId: OIDC_ENV.clientId,
  scopes: OIDC_ENV.scopes,
};

/**
 * Reads the OIDC settings (see {@link OIDC_ENV}); undefined when `QUELL_OIDC_ISSUER` is unset. Thrown:
 * ConfigError naming each bad variable, including any other `QUELL_OIDC_*` set without an issuer.
 */
export function loadOidcSettings(env: Env, opts: { production: boolean }): OidcSettings | undefined {
  const read = (name: string) => {
    const v = env[name]?.trim();
    return v ? v : undefined;
  };
  if (!read(OIDC_ENV.issuer)) {
    const stray = Object.values(OIDC_ENV).filter((name) => read(name) !== undefined);
    if (stray.length > 0) {
      throw new ConfigError(`${stray.join(', ')} set without ${OIDC_ENV.issuer}: set the issuer too.`);
    }
    return undefined;
  }
  const raw: Record<string, string> = {};
  for (const [key, name] of Object.entries(ENV_OF)) {
    const value = read(name);
    if (value !== undefined) raw[key] = value;
  }
  const parsed = settingsSchema(opts.production).safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const [key, ...rest] = i.path.map(String);
      const name = key ? (ENV_OF[key] ?? key) : '(OIDC)';
      return `  ${[name, ...rest].join('.')}: ${i.message}`;
    });
    throw new ConfigError(`Invalid OpenID Connect settings:\n${lines.join('\n')}`);
  }
  const { jwksUrl, clientId, ...rest } = parsed.data;
  return { ...rest, ...(jwksUrl ? { jwksUrl } : {}), ...(clientId ? { clientId } : {}) };
}
