import { createServer, type Server, type ServerResponse } from 'node:http';
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

/**
 * A local OpenID Connect issuer on 127.0.0.1: serves `/.well-known/openid-configuration` and the key set it
 * currently publishes at `/jwks`, and signs tokens with generated keys (published or not). It counts fetches,
 * so tests can see when the API re-reads the keys, and can answer 500 to play an outage.
 */
export class LocalIssuer {
  readonly #keys = new Map<string, IssuerKey>();
  #published: string[] = [];
  jwksFetches = 0;
  discoveryFetches = 0;
  /** While true, every request answers 500. */
  failing = false;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly jose: Jose,
  ) {}

  static async start(): Promise<LocalIssuer> {
    const jose = await import('jose');
    const holder: { issuer?: LocalIssuer } = {};
    const server = createServer((req, res) => holder.issuer!.serve(req.url ?? '/', res));
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

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  #key(kid: string): IssuerKey {
    const key = this.#keys.get(kid);
    if (!key) throw new Error(`no key ${kid}`);
    return key;
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

/** A compact JWS with `alg: none` and no signature (what a forger sends). */
export function unsignedToken(claims: JWTPayload): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
}
