/**
 * Single sign-on with the OpenID Connect issuer the API trusts: the authorization code flow with PKCE
 * (RFC 7636) for a public client. The verifier, `state` and `nonce` wait in sessionStorage only across the trip
 * to the identity provider (they are useless without this page's origin and are removed on return); the token
 * itself lives in page memory like a pasted API token, and the code never stays in the address bar.
 */

import type { ConsoleSignIn } from '../../domain/sign-in';

export interface SignInOptions {
  token: true;
  oidc?: ConsoleSignIn;
}

interface PendingSignIn {
  state: string;
  nonce: string;
  verifier: string;
  issuer: string;
  startedAt: number;
}

const PENDING_KEY = 'quell.console.pending-sign-in';
/** A sign-in left at the identity provider longer than this is not finished. */
const PENDING_MAX_AGE_MS = 10 * 60_000;

/** Where the identity provider sends people back: register exactly this URL for the client. */
export function redirectUri(): string {
  return `${location.origin}/console/`;
}

function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const randomValue = () => base64url(crypto.getRandomValues(new Uint8Array(32)));

/** Sends the browser to the identity provider; it comes back to {@link redirectUri} with a code. */
export async function startSignIn(oidc: ConsoleSignIn): Promise<void> {
  const pending: PendingSignIn = {
    state: randomValue(),
    nonce: randomValue(),
    verifier: randomValue(),
    issuer: oidc.issuer,
    startedAt: Date.now(),
  };
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(pending.verifier));
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  const url = new URL(oidc.authorizationEndpoint);
  const params: Record<string, string> = {
    response_type: 'code',
    client_id: oidc.clientId,
    redirect_uri: redirectUri(),
    scope: oidc.scope,
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: base64url(new Uint8Array(digest)),
    code_challenge_method: 'S256',
  };
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  location.assign(url.href);
}

function takePending(): PendingSignIn | undefined {
  const raw = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as PendingSignIn;
  } catch {
    return undefined;
  }
}

function claimsOf(jwt: string): Record<string, unknown> | undefined {
  const part = jwt.split('.')[1];
  if (!part) return undefined;
  try {
    const binary = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
    const json = new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
    return JSON.parse(json) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export type SignInResult = { token: string } | { error: string };

/**
 * Finishes a sign-in when the page is the identity provider's redirect back (`?code=...&state=...` or
 * `?error=...`): checks the state this page stored, exchanges the code with the verifier, and returns the token
 * to use as the bearer. Undefined when the page is not such a redirect. The signature and claims of the token
 * are the API's to verify; here only the nonce ties an ID token to this sign-in.
 */
export async function finishSignIn(oidc: ConsoleSignIn | undefined): Promise<SignInResult | undefined> {
  const params = new URLSearchParams(location.search);
  const code = params.get('code');
  const error = params.get('error');
  if (code === null && error === null) return undefined;
  // Neither the code nor the state stays in the address bar or the history.
  history.replaceState(null, '', `${location.pathname}${location.hash}`);
  const pending = takePending();
  if (error !== null) {
    const why = params.get('error_description') ?? error;
    return { error: `The identity provider did not sign you in: ${why.slice(0, 300)}` };
  }
  if (!pending || pending.state !== params.get('state')) {
    return { error: 'This sign-in was not started from this page (state mismatch): sign in again.' };
  }
  if (Date.now() - pending.startedAt > PENDING_MAX_AGE_MS) {
    return { error: 'The sign-in took too long and has expired: sign in again.' };
  }
  if (!oidc || oidc.issuer !== pending.issuer) {
    return { error: 'Single sign-on is not available right now: sign in with an API token.' };
  }
  // RFC 9207: an issuer that names itself in the response must be the one this sign-in went to.
  const iss = params.get('iss');
  if (iss !== null && iss !== oidc.issuer) {
    return { error: 'The sign-in response came from another identity provider: sign in again.' };
  }
  let body: Record<string, unknown>;
  try {
    const res = await fetch(oidc.tokenEndpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      credentials: 'omit',
      cache: 'no-store',
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: code ?? '',
        redirect_uri: redirectUri(),
        client_id: oidc.clientId,
        code_verifier: pending.verifier,
      }),
    });
    body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (!res.ok) {
      const why = [body.error_description, body.error].find((v): v is string => typeof v === 'string');
      return { error: `The identity provider refused the sign-in code (${why ?? `HTTP ${res.status}`}).` };
    }
  } catch (err) {
    return { error: `The identity provider cannot be reached: ${(err as Error).message}` };
  }
  if (typeof body.id_token === 'string' && claimsOf(body.id_token)?.nonce !== pending.nonce) {
    return { error: 'The identity token was not issued for this sign-in (nonce mismatch): sign in again.' };
  }
  const token = body[oidc.bearer];
  if (typeof token !== 'string' || token === '') {
    return { error: `The identity provider returned no ${oidc.bearer}.` };
  }
  return { token };
}
