// What the server, @latchkey/verify and latchkey/client must agree on, in one
// place (the server and the client import it as @latchkey/verify/wire): the algorithms, the HMAC key-size minimum, the JWT header fields that
// are refused, the Authorization header's parsing and the wording of the
// answers a protected route gives. This module imports nothing, so the
// verifier and the browser client can use it without pulling in server code
// (test/errors.test.ts walks their import graphs to make sure).

export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;
export const ASYMMETRIC_ALGORITHMS = ['EdDSA', 'ES256', 'RS256'] as const;
export const ALGORITHMS = [...HMAC_ALGORITHMS, ...ASYMMETRIC_ALGORITHMS] as const;
export type HmacAlgorithm = (typeof HMAC_ALGORITHMS)[number];
export type AsymmetricAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];
export type Algorithm = (typeof ALGORITHMS)[number];

/** Minimum HMAC key length in bytes (RFC 7518 §3.2: at least the hash output size). */
export const MIN_HMAC_KEY_BYTES = 32;

/**
 * JWT header parameters a token is refused for. jku, jwk, x5u and x5c name or
 * carry a key: only the keys latchkey (or the verifier) was configured with are
 * ever used, so a token that tries to bring its own is refused outright.
 * latchkey never sets `crit` (and so never `b64`, which needs it), so a token
 * that does was not minted by latchkey.
 */
export const REFUSED_JWT_HEADERS = ['jku', 'jwk', 'x5u', 'x5c', 'crit', 'b64'] as const;

/** DRF puts this on every 401; `Bearer` is SimpleJWT's AUTH_HEADER_TYPES[0], `api` DRF's realm. */
export const WWW_AUTHENTICATE = 'Bearer realm="api"';

/** The WWW-Authenticate value for a scheme (AUTH_HEADER_TYPES[0]). */
export const wwwAuthenticate = (scheme: string): string => `${scheme} realm="api"`;

/** The Authorization scheme SimpleJWT reads (AUTH_HEADER_TYPES[0]). */
export const AUTH_SCHEME = 'Bearer';

/** DRF's and SimpleJWT's own wording for the answers every side gives. */
export const MESSAGES = {
  notAuthenticated: 'Authentication credentials were not provided.',
  badAuthorizationHeader: 'Authorization header must contain two space-delimited values',
  /** The `detail` of a 401 on a protected route; the reason is under `messages`. */
  tokenNotValidForAnyType: 'Given token not valid for any token type',
  serviceUnavailable: 'Service temporarily unavailable, try again later.',
} as const;

/** Why a token was refused, in SimpleJWT's own words. */
export const TOKEN_MESSAGES = {
  invalid: 'Token is invalid or expired',
  wrongType: 'Token has wrong type',
  blacklisted: 'Token is blacklisted',
  noId: 'Token has no id',
  noType: 'Token has no type',
  noUser: 'Token contained no recognizable user identification',
  /** SlidingToken's refresh, on a token without `refresh_exp` (check_exp's "Token has no '{}' claim"). */
  noRefreshExp: "Token has no 'refresh_exp' claim",
  /** SlidingToken's refresh, past `refresh_exp` (check_exp's "Token '{}' claim has expired"). */
  refreshExpExpired: "Token 'refresh_exp' claim has expired",
} as const;
export type TokenErrorMessage = (typeof TOKEN_MESSAGES)[keyof typeof TOKEN_MESSAGES];

// What bytes.split() treats as whitespace: SimpleJWT splits the header as
// bytes (HTTP_HEADER_ENCODING), so only ASCII whitespace separates values.
const HEADER_SPLIT = /[ \t\n\r\v\f]+/;

/**
 * An Authorization header as SimpleJWT's get_raw_token reads it: `none` when
 * there is no header or its first value is not exactly `Bearer` (another
 * scheme is not ours to judge; `types` are SimpleJWT's AUTH_HEADER_TYPES); `malformed` when `Bearer` is not followed by
 * exactly one value; otherwise the token.
 */
export type ParsedAuthorization = { kind: 'none' } | { kind: 'malformed' } | { kind: 'bearer'; token: string };

export function parseAuthorization(header: string | null | undefined, types: readonly string[] = [AUTH_SCHEME]): ParsedAuthorization {
  if (header === undefined || header === null) return { kind: 'none' };
  const parts = header.split(HEADER_SPLIT).filter((p) => p !== '');
  if (parts.length === 0 || !types.includes(parts[0]!)) return { kind: 'none' };
  if (parts.length !== 2) return { kind: 'malformed' };
  return { kind: 'bearer', token: parts[1]! };
}

/** The Authorization header value that carries a token. */
export const bearerHeader = (token: string): string => `${AUTH_SCHEME} ${token}`;
