// The verifier itself: the signature with jose, against a remote JWKS or a
// shared HMAC secret, then the claims with latchkey's own checkClaims
// (claims.ts, which the server runs too), so the rules are latchkey's exactly. See index.ts for what it does not see.
import { compactVerify, createRemoteJWKSet, customFetch, errors as joseErrors } from 'jose';
import type { CompactJWSHeaderParameters, CompactVerifyGetKey } from 'jose';
import { checkClaims, TokenError, type ClaimNames, type Claims } from './claims.js';
import {
  ASYMMETRIC_ALGORITHMS,
  HMAC_ALGORITHMS,
  MIN_HMAC_KEY_BYTES,
  parseAuthorization,
  REFUSED_JWT_HEADERS,
  TOKEN_MESSAGES,
  type Algorithm,
  type AsymmetricAlgorithm,
  type HmacAlgorithm,
} from './wire.js';
import { VerifyError } from './errors.js';

export type { AsymmetricAlgorithm, HmacAlgorithm };
export type VerifyAlgorithm = Algorithm;

const HMAC: readonly string[] = HMAC_ALGORITHMS;
const ASYMMETRIC: readonly string[] = ASYMMETRIC_ALGORITHMS;

/** Verify against latchkey's published keys, GET /.well-known/jwks.json. */
export interface JwksOptions {
  jwksUrl: string | URL;
  /** Longest wait for the JWKS response (ms). Default 5000. */
  timeoutMs?: number;
  /** How long a fetched JWKS is used before it is fetched again (ms). Default 300000, the server's Cache-Control max-age. */
  cacheMaxAgeMs?: number;
  /** The fetch to use (a proxy agent, a test double). Default: the global fetch. */
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
}

/** Verify with the HMAC secret latchkey signs with (LATCHKEY_SIGNING_KEY, its UTF-8 bytes). */
export interface SecretOptions {
  secret: string | Uint8Array;
  /** latchkey's LATCHKEY_ALGORITHM. Default HS256. */
  algorithm?: HmacAlgorithm;
}

/** The token types a verifier accepts as credentials: SimpleJWT's AUTH_TOKEN_CLASSES. */
export type AuthTokenType = 'access' | 'sliding';

/**
 * SimpleJWT's claim settings, for a latchkey (or SimpleJWT) configured away
 * from the defaults: `userIdClaim`, `tokenTypeClaim`, `jtiClaim` (latchkey's
 * LATCHKEY_USER_ID_CLAIM, LATCHKEY_TOKEN_TYPE_CLAIM, LATCHKEY_JTI_CLAIM).
 */
export interface CommonOptions extends ClaimNames {
  /**
   * What the user id claim holds (latchkey's LATCHKEY_USER_ID_FIELD):
   * `integer` (default; USER_ID_FIELD `id`), returned as a number; `string`
   * (USER_ID_FIELD `username`), returned as a string.
   */
  userId?: 'integer' | 'string';
  /**
   * The token types accepted, SimpleJWT's AUTH_TOKEN_CLASSES (latchkey's
   * LATCHKEY_AUTH_TOKEN_CLASSES). Default `['access']`. A sliding token's
   * blacklist is not seen here (see index.ts): a blacklisted sliding token
   * verifies until its `exp`.
   */
  tokenTypes?: readonly AuthTokenType[];
  /**
   * Algorithms accepted; every other one is refused before any key is looked
   * up. Default: EdDSA, ES256 and RS256 for a JWKS; the given HMAC algorithm
   * for a secret. HMAC algorithms are refused with a JWKS, and the others with a secret.
   */
  algorithms?: readonly VerifyAlgorithm[];
  /** latchkey's LATCHKEY_ISSUER: `iss` must equal it. */
  issuer?: string;
  /** latchkey's LATCHKEY_AUDIENCE: `aud` must be or contain it. */
  audience?: string;
  /** Seconds of clock skew allowed on exp, nbf and iat (latchkey's LATCHKEY_LEEWAY). Default 0. */
  leeway?: number;
  /**
   * After a fetch, how long a token naming an unknown `kid` is refused
   * without fetching the JWKS again (ms), so forged kids cannot make this
   * service hammer latchkey. Default 10000: after a `latchkey keys rotate
   * --now`, a new key is accepted within 10 s at worst.
   */
  cooldownMs?: number;
  /** The clock, in seconds since the epoch. Default: the system clock. */
  now?: () => number;
}

export interface Verifier<UserId extends number | string = number> {
  /** Checks one access token; resolves to its claims (user_id a number, or a string with `userId: 'string'`) or rejects with a VerifyError. */
  verify(token: string): Promise<Claims<UserId>>;
  /**
   * Checks an Authorization header value as SimpleJWT's JWTAuthentication does.
   * Resolves to undefined when there are no Bearer credentials (the caller
   * decides whether that is a 401); rejects with a VerifyError otherwise.
   */
  authenticate(authorization: string | null | undefined): Promise<Claims<UserId> | undefined>;
}

/**
 * The token of an Authorization header, as SimpleJWT's get_raw_token finds it:
 * undefined when there is no header or its first value is not exactly `Bearer`
 * (another scheme is not ours to judge); a VerifyError when `Bearer` is not
 * followed by exactly one value.
 */
export function bearerToken(authorization: string | null | undefined): string | undefined {
  const parsed = parseAuthorization(authorization);
  if (parsed.kind === 'malformed') throw VerifyError.badAuthorizationHeader();
  return parsed.kind === 'bearer' ? parsed.token : undefined;
}

const systemNow = (): number => Math.floor(Date.now() / 1000);
const utf8 = new TextDecoder('utf-8', { fatal: true });

function pickAlgorithms(
  given: readonly string[] | undefined,
  fallback: readonly string[],
  allowed: readonly string[],
  what: string,
): string[] {
  const algs = [...(given ?? fallback)];
  if (algs.length === 0) throw new TypeError('latchkey/verify: `algorithms` must not be empty');
  for (const a of algs) {
    if (!allowed.includes(a)) {
      throw new TypeError(`latchkey/verify: algorithm ${JSON.stringify(a)} cannot be used with ${what}; use one of ${allowed.join(', ')}`);
    }
  }
  return algs;
}

/** Errors from jose's key lookup that are about the token, not about fetching the JWKS. */
const isTokenKeyError = (err: unknown): boolean =>
  err instanceof joseErrors.JWKSNoMatchingKey ||
  err instanceof joseErrors.JWKSMultipleMatchingKeys ||
  err instanceof joseErrors.JOSENotSupported;

type KeyLookup = CompactVerifyGetKey;

const TOKEN_CLASS = { access: 'AccessToken', sliding: 'SlidingToken' } as const;

export function createVerifier(source: JwksOptions | SecretOptions, common: CommonOptions & { userId: 'string' }): Verifier<string>;
export function createVerifier(source: JwksOptions | SecretOptions, common?: CommonOptions & { userId?: 'integer' }): Verifier;
export function createVerifier(source: JwksOptions | SecretOptions, common: CommonOptions = {}): Verifier<number | string> {
  const tokenTypes: AuthTokenType[] = [...new Set<AuthTokenType>(common.tokenTypes ?? ['access'])];
  if (tokenTypes.length === 0 || tokenTypes.some((t) => !(t in TOKEN_CLASS))) {
    throw new TypeError("latchkey/verify: `tokenTypes` must list 'access', 'sliding' or both");
  }
  if (common.userId !== undefined && common.userId !== 'integer' && common.userId !== 'string') {
    throw new TypeError("latchkey/verify: `userId` must be 'integer' or 'string'");
  }
  for (const name of ['userIdClaim', 'tokenTypeClaim', 'jtiClaim'] as const) {
    const v = common[name];
    if (v !== undefined && (typeof v !== 'string' || v === ''))
      throw new TypeError(`latchkey/verify: \`${name}\` must be a non-empty string`);
  }
  const claimOptions = {
    userIdClaim: common.userIdClaim,
    tokenTypeClaim: common.tokenTypeClaim,
    jtiClaim: common.jtiClaim,
    userId: common.userId,
  };
  const leeway = common.leeway ?? 0;
  if (!Number.isFinite(leeway) || leeway < 0) throw new TypeError('latchkey/verify: `leeway` must be a non-negative number of seconds');
  const now = common.now ?? systemNow;
  const { issuer, audience } = common;

  let algorithms: string[];
  let lookup: KeyLookup;
  if ('jwksUrl' in source) {
    if ('secret' in source) throw new TypeError('latchkey/verify: give either `jwksUrl` or `secret`, not both');
    algorithms = pickAlgorithms(common.algorithms, ASYMMETRIC, ASYMMETRIC, 'a JWKS');
    const url = new URL(source.jwksUrl);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError('latchkey/verify: `jwksUrl` must be an http(s) URL');
    // jose caches the set, fetches it again when it is older than cacheMaxAge,
    // and at once on a kid it does not know, at most once per cooldown. Concurrent
    // lookups share one fetch. Redirects are not followed.
    const jwks = createRemoteJWKSet(url, {
      cooldownDuration: common.cooldownMs ?? 10_000,
      cacheMaxAge: source.cacheMaxAgeMs ?? 300_000,
      timeoutDuration: source.timeoutMs ?? 5_000,
      ...(source.fetch ? { [customFetch]: source.fetch } : {}),
    });
    lookup = async (header, token) => {
      try {
        return await jwks(header, token);
      } catch (err) {
        if (isTokenKeyError(err)) throw VerifyError.tokenNotValid(TOKEN_MESSAGES.invalid, err);
        // The JWKS could not be fetched, timed out, was not 200, or was not a
        // key set: fail closed. Never accept a token whose key we cannot see.
        throw VerifyError.unavailable(err);
      }
    };
  } else if ('secret' in source) {
    algorithms = pickAlgorithms(common.algorithms, [source.algorithm ?? 'HS256'], HMAC, 'a shared secret');
    const key = typeof source.secret === 'string' ? new TextEncoder().encode(source.secret) : new Uint8Array(source.secret);
    if (key.byteLength < MIN_HMAC_KEY_BYTES) {
      throw new TypeError(
        `latchkey/verify: the secret is shorter than ${MIN_HMAC_KEY_BYTES} bytes; latchkey refuses such a key, so it cannot be latchkey's`,
      );
    }
    lookup = () => Promise.resolve(key);
  } else {
    throw new TypeError('latchkey/verify: give `jwksUrl` or `secret`');
  }

  // Refuses key-bearing and extension headers (wire.ts, the list latchkey
  // refuses too) before any key is looked up, so such a token never causes a JWKS fetch.
  const getKey: KeyLookup = async (header: CompactJWSHeaderParameters, token) => {
    for (const h of REFUSED_JWT_HEADERS) if (Object.hasOwn(header, h)) throw VerifyError.tokenNotValid(TOKEN_MESSAGES.invalid);
    return lookup(header, token);
  };

  /** SimpleJWT's JWTAuthentication: each token class in turn; failing them all lists each one's reason. */
  function check(payload: Record<string, unknown>): Claims<number | string> {
    const t = now();
    const failures: { type: AuthTokenType; message: string; err: TokenError }[] = [];
    for (const type of tokenTypes) {
      try {
        return checkClaims(payload, type, { ...claimOptions, now: t, leeway, issuer, audience });
      } catch (err) {
        if (!(err instanceof TokenError)) throw err;
        failures.push({ type, message: err.message, err });
      }
    }
    throw VerifyError.tokenNotValidFor(
      failures.map((f) => ({ token_class: TOKEN_CLASS[f.type], token_type: f.type, message: f.message })),
      failures[0]!.err,
    );
  }

  async function verify(token: string): Promise<Claims<number | string>> {
    let payloadBytes: Uint8Array;
    try {
      // The algorithm is pinned before the key is looked up; the signature is
      // checked before any claim is read. jose's own claim checks are not used
      // (compactVerify, not jwtVerify): checkClaims below is the only one.
      ({ payload: payloadBytes } = await compactVerify(token, getKey, { algorithms }));
    } catch (err) {
      if (err instanceof VerifyError) throw err;
      if (err instanceof joseErrors.JOSEError) throw VerifyError.tokenNotValid(TOKEN_MESSAGES.invalid, err);
      throw err;
    }
    let payload: unknown;
    try {
      payload = JSON.parse(utf8.decode(payloadBytes));
    } catch {
      throw VerifyError.tokenNotValid(TOKEN_MESSAGES.invalid);
    }
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
      throw VerifyError.tokenNotValid(TOKEN_MESSAGES.invalid);
    }
    return check(payload as Record<string, unknown>);
  }

  return {
    verify,
    async authenticate(authorization) {
      const token = bearerToken(authorization);
      return token === undefined ? undefined : verify(token);
    },
  };
}
