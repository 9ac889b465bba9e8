/**
 * How the console signs people in with the OpenID Connect issuer (OAuth 2.0 authorization code with PKCE,
 * RFC 7636): built by the API's verifier, served by `GET /api/v1/auth/config`, read by the console. Nothing in
 * it is secret.
 */
export interface ConsoleSignIn {
  issuer: string;
  clientId: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  scope: string;
  /**
   * Which token the console sends as its bearer: the ID token when its audience (the client ID) is one this
   * API accepts, else the access token (an IdP issuing JWT access tokens for the API's audience).
   */
  bearer: 'id_token' | 'access_token';
}
