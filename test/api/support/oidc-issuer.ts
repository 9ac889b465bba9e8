import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type * as JoseModule from 'jose' with { 'resolution-mode': 'import' };
import type { CryptoKey, JWK, JWTPayload } from 'jose' with { 'resolution-mode': 'import' };

type Jose = typeof JoseModule;
export type SigningAlg = 'RS256' | 'ES256' | 'EdDSA';

interface IssuerKey {
  kid: string;
  alg: SigningAlg;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export interface TokenOptions {
  kid?: string;
  /** Seconds from now; negative for a token that already expired. Null: no `exp` claim. */
  expiresIn?: number | null;
  /** Seconds from now for `nbf`. */
  notBefore?: number;
  audience?: string;
  issuer?: string;
}

/** A person who can sign in at the issuer's login page, and the claims their tokens carry. */
export interface IssuerUser {
  sub: string;
  groups: string[];
}

interface IssuedCode {
  clientId: string;
  redirectUri: string;
  challenge: string;
  nonce: string | undefined;
  user: IssuerUser;
  expiresAt: number;
}

/** What the token endpoint was asked, for tests to check the client's side of the exchange. */
export interface TokenExchange {
  status: number;
  error?: string;
  origin: string | undefined;
}

/**
 * A local OpenID Connect issuer on 127.0.0.1: serves `/.well-known/openid-configuration` and the key set it
 * currently publishes at `/jwks`, and signs tokens with generated keys (published or not). It counts fetches,
 * so tests can see when the API re-reads the keys, and can answer 500 to play an outage.
 *
 * For browser sign-in it also plays the authorization code flow with PKCE (RFC 6749 4.1, RFC 7636): `/authorize`
 * shows a login page listing its users (`addUser`) and redirects back with a one-time code; `/token` exchanges
 * the code for an ID token (audience: the client ID, with the nonce) and an access token (audience `quell-api`)
 * only with the matching client ID, redirect URI and `code_verifier`, and answers CORS for the browser.
 */
export class LocalIssuer {
  readonly #keys = new Map<string, IssuerKey>();
  #published: string[] = [];
  jwksFetches = 0;
  discoveryFetches = 0;
  /** While true, every request answers 500. */
  failing = false;
  readonly #users = new Map<string, IssuerUser>();
  readonly #codes = new Map<string, IssuedCode>();
  readonly tokenExchanges: TokenExchange[] = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly jose: Jose,
  ) {}

  static async start(): Promise<LocalIssuer> {
    const jose = await import('jose');
    const holder: { issuer?: LocalIssuer } = {};
    const server = createServer((req, res) => {
      holder.issuer!.handle(req, res).catch((err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    holder.issuer = new LocalIssuer(server, `http://127.0.0.1:${port}`, jose);
    return holder.issuer;
  }

  get jwksUrl(): string {
    return `${this.url}/jwks`;
  }

  /** Generates a key (not yet published unless `publish`), returning its key ID. */
  async addKey(kid: string, alg: SigningAlg = 'ES256', publish = true): Promise<string> {
    const { privateKey, publicKey } = await this.jose.generateKeyPair(alg, { extractable: true });
    const publicJwk = { ...(await this.jose.exportJWK(publicKey)), kid, alg, use: 'sig' };
    this.#keys.set(kid, { kid, alg, privateKey, publicJwk });
    if (publish) this.#published.push(kid);
    return kid;
  }

  /** Publishes exactly these keys from now on (rotation: add the new one, later drop the old one). */
  publish(...kids: string[]): void {
    this.#published = kids;
  }

  publicJwk(kid: string): JWK {
    return this.#key(kid).publicJwk;
  }

  async sign(claims: JWTPayload, opts: TokenOptions = {}): Promise<string> {
    const kid = opts.kid ?? this.#published[0]!;
    const key = this.#key(kid);
    const now = Math.floor(Date.now() / 1000);
    const jwt = new this.jose.SignJWT(claims)
      .setProtectedHeader({ alg: key.alg, kid, typ: 'JWT' })
      .setIssuer(opts.issuer ?? this.url)
      .setAudience(opts.audience ?? 'quell-api')
      .setIssuedAt(now);
    if (opts.expiresIn !== null) jwt.setExpirationTime(now + (opts.expiresIn ?? 300));
    if (opts.notBefore !== undefined) jwt.setNotBefore(now + opts.notBefore);
    return jwt.sign(key.privateKey);
  }

  /** Someone who can sign in at `/authorize`. */
  addUser(user: IssuerUser): void {
    this.#users.set(user.sub, user);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  #key(kid: string): IssuerKey {
    const key = this.#keys.get(kid);
    if (!key) throw new Error(`no key ${kid}`);
    return key;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    if (url.pathname === '/authorize' && !this.failing) {
      if (req.method === 'GET') return this.loginPage(url.searchParams, res);
      if (req.method === 'POST') return this.authorize(new URLSearchParams(await readBody(req)), res);
    }
    if (url.pathname === '/token' && !this.failing) {
      const origin = typeof req.headers.origin === 'string' ? req.headers.origin : undefined;
      if (req.method === 'OPTIONS') {
        res.writeHead(204, cors(origin));
        return void res.end();
      }
      if (req.method === 'POST') {
        return this.exchange(new URLSearchParams(await readBody(req)), origin, res);
      }
    }
    this.serve(url.pathname, res);
  }

  /** The login page: the request's parameters ride along as hidden fields, one button per user. */
  private loginPage(params: URLSearchParams, res: ServerResponse): void {
    const hidden = [...params]
      .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
      .join('');
    const buttons = [...this.#users.keys()]
      .map(
        (sub) =>
          `<button type="submit" name="user" value="${escapeHtml(sub)}">Sign in as ${escapeHtml(sub)}</button>`,
      )
      .join('');
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(
      `<!doctype html><html><head><title>Local issuer</title></head><body><h1>Local issuer</h1>` +
        `<form method="post" action="/authorize">${hidden}${buttons}</form></body></html>`,
    );
  }

  private authorize(form: URLSearchParams, res: ServerResponse): void {
    const redirectUri = form.get('redirect_uri') ?? '';
    const user = this.#users.get(form.get('user') ?? '');
    const challenge = form.get('code_challenge');
    if (!URL.canParse(redirectUri) || !user || form.get('response_type') !== 'code') {
      res.writeHead(400, { 'content-type': 'text/plain' });
      return void res.end('bad authorization request');
    }
    const back = new URL(redirectUri);
    const state = form.get('state');
    if (state !== null) back.searchParams.set('state', state);
    // PKCE is required of public clients here, as OAuth 2.1 requires it.
    if (!challenge || form.get('code_challenge_method') !== 'S256') {
      back.searchParams.set('error', 'invalid_request');
      back.searchParams.set('error_description', 'PKCE with S256 is required');
    } else {
      const code = randomBytes(24).toString('base64url');
      this.#codes.set(code, {
        clientId: form.get('client_id') ?? '',
        redirectUri,
        challenge,
        nonce: form.get('nonce') ?? undefined,
        user,
        expiresAt: Date.now() + 60_000,
      });
      back.searchParams.set('code', code);
      back.searchParams.set('iss', this.url);
    }
    res.writeHead(302, { location: back.href });
    res.end();
  }

  private async exchange(form: URLSearchParams, origin: string | undefined, res: ServerResponse) {
    const answer = (status: number, body: Record<string, unknown>) => {
      this.tokenExchanges.push({
        status,
        origin,
        ...(typeof body.error === 'string' ? { error: body.error } : {}),
      });
      res.writeHead(status, {
        'content-type': 'application/json',
        'cache-control': 'no-store',
        ...cors(origin),
      });
      res.end(JSON.stringify(body));
    };
    const code = form.get('code') ?? '';
    const issued = this.#codes.get(code);
    // A code is good once (RFC 6749 4.1.2).
    this.#codes.delete(code);
    if (form.get('grant_type') !== 'authorization_code' || !issued || issued.expiresAt < Date.now()) {
      return answer(400, { error: 'invalid_grant' });
    }
    if (form.get('client_id') !== issued.clientId || form.get('redirect_uri') !== issued.redirectUri) {
      return answer(400, { error: 'invalid_grant', error_description: 'client or redirect URI mismatch' });
    }
    const verifier = form.get('code_verifier') ?? '';
    if (createHash('sha256').update(verifier).digest('base64url') !== issued.challenge) {
      return answer(400, { error: 'invalid_grant', error_description: 'code_verifier does not match' });
    }
    const claims = { sub: issued.user.sub, groups: issued.user.groups };
    const idToken = await this.sign(
      { ...claims, ...(issued.nonce ? { nonce: issued.nonce } : {}) },
      { audience: issued.clientId },
    );
    const accessToken = await this.sign(claims, { audience: 'quell-api' });
    return answer(200, {
      token_type: 'Bearer',
      expires_in: 300,
      id_token: idToken,
      access_token: accessToken,
    });
  }

  private serve(path: string, res: ServerResponse): void {
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (path === '/.well-known/openid-configuration') this.discoveryFetches += 1;
    if (path === '/jwks') this.jwksFetches += 1;
    if (this.failing) return json(500, { error: 'server_error' });
    if (path === '/.well-known/openid-configuration') {
      return json(200, {
        issuer: this.url,
        jwks_uri: this.jwksUrl,
        authorization_endpoint: `${this.url}/authorize`,
        token_endpoint: `${this.url}/token`,
        id_token_signing_alg_values_supported: ['RS256', 'ES256', 'EdDSA'],
      });
    }
    if (path === '/jwks') return json(200, { keys: this.#published.map((kid) => this.#key(kid).publicJwk) });
    json(404, { error: 'not_found' });
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

function cors(origin: string | undefined): Record<string, string> {
  return origin
    ? {
        'access-control-allow-origin': origin,
        'access-control-allow-methods': 'POST',
        'access-control-allow-headers': 'content-type, accept',
        vary: 'Origin',
      }
    : {};
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A compact JWS with `alg: none` and no signature (what a forger sends). */
export function unsignedToken(claims: JWTPayload): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
}
