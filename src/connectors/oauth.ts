import { ConnectorAuthError, PermanentConnectorError } from './errors';
import { type HttpClient, type HttpRequest, type HttpResponse, pick, pickString } from './http';

export interface ClientCredentialsOptions {
  http: HttpClient;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  /** Sent as `scope` when set (Azure AD v2 needs `<resource>/.default`; CrowdStrike takes none). */
  scope?: string;
  /** Refresh this long before the token expires (capped at half its lifetime). Default 60 s. */
  refreshSkewMs?: number;
}

/**
 * OAuth2 client-credentials tokens (RFC 6749 §4.4): `POST tokenUrl` form-encoded `grant_type`,
 * `client_id`, `client_secret` (and `scope`), answer `{access_token, expires_in}`. The token is cached and
 * refreshed shortly before it expires; concurrent callers share one token request.
 */
export class ClientCredentialsToken {
  private token?: { value: string; refreshAt: number };
  private inflight?: Promise<string>;
  private readonly skewMs: number;

  constructor(private readonly opts: ClientCredentialsOptions) {
    this.skewMs = opts.refreshSkewMs ?? 60_000;
  }

  /** A valid access token: the cached one unless it is (nearly) expired or was invalidated. */
  async get(): Promise<string> {
    const now = this.opts.http.now();
    if (this.token && now < this.token.refreshAt) return this.token.value;
    this.inflight ??= this.fetchToken().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /** Forgets the cached token (after the vendor rejected it). */
  invalidate(rejected?: string): void {
    if (rejected === undefined || this.token?.value === rejected) this.token = undefined;
  }

  private async fetchToken(): Promise<string> {
    const { http } = this.opts;
    const form: Record<string, string> = {
      grant_type: 'client_credentials',
      client_id: this.opts.clientId,
      client_secret: this.opts.clientSecret,
    };
    if (this.opts.scope) form.scope = this.opts.scope;
    const res = await http.request({
      method: 'POST',
      url: this.opts.tokenUrl,
      op: 'obtain OAuth2 token',
      form,
    });
    if (res.status < 200 || res.status >= 300) {
      // Token endpoints answer 400 invalid_client / unauthorized_client for bad credentials.
      const oauthError = pickString(res.json, 'error');
      const description =
        pickString(res.json, 'error_description') ?? pickString(res.json, 'errors', 0, 'message');
      const vendorMessage = [oauthError, description].filter(Boolean).join(': ') || undefined;
      if (res.status === 400 && oauthError && /client|grant|scope/.test(oauthError)) {
        throw new ConnectorAuthError(`${http.vendor}: token request rejected: ${vendorMessage}`, {
          vendor: http.vendor,
          status: res.status,
        });
      }
      throw http.errorFor(res, 'obtain OAuth2 token', vendorMessage);
    }
    const value = pickString(res.json, 'access_token');
    const expiresIn = Number(pick(res.json, 'expires_in'));
    if (!value) {
      throw new PermanentConnectorError(`${http.vendor}: token answer has no access_token`, {
        vendor: http.vendor,
        status: res.status,
      });
    }
    const lifetimeMs = Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn * 1000 : 300_000;
    const now = http.now();
    this.token = { value, refreshAt: now + lifetimeMs - Math.min(this.skewMs, lifetimeMs / 2) };
    return value;
  }
}

/**
 * Sends a request with `Authorization: Bearer <token>`; on a 401 it drops the token, obtains a new one and
 * retries once. A second 401 (or a 403: missing permission, which a new token will not fix) is a
 * {@link ConnectorAuthError}. Other statuses are returned for the caller to interpret.
 */
export async function sendWithBearer(
  http: HttpClient,
  token: ClientCredentialsToken,
  req: HttpRequest,
  vendorMessage: (res: HttpResponse) => string | undefined,
): Promise<HttpResponse> {
  for (let attempt = 1; ; attempt++) {
    const value = await token.get();
    const res = await http.request({ ...req, headers: { ...req.headers, authorization: `Bearer ${value}` } });
    if (res.status === 401 && attempt === 1) {
      token.invalidate(value);
      continue;
    }
    if (res.status === 401 || res.status === 403) {
      throw new ConnectorAuthError(
        `${http.vendor}: ${req.op} rejected our credentials (HTTP ${res.status}` +
          `${attempt > 1 ? ', after a token refresh' : ''})${vendorMessage(res) ? `: ${vendorMessage(res)}` : ''}`,
        { vendor: http.vendor, status: res.status },
      );
    }
    return res;
  }
}

/** Azure AD v2 token endpoint (Defender for Endpoint, Microsoft Graph); `{tenant}` is replaced. */
export const AZURE_AD_TOKEN_URL_TEMPLATE = 'https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token';

/** A tenant's token URL from a template (default {@link AZURE_AD_TOKEN_URL_TEMPLATE}). */
export function azureAdTokenUrl(tenantId: string, template = AZURE_AD_TOKEN_URL_TEMPLATE): string {
  return template.replace('{tenant}', encodeURIComponent(tenantId));
}
