// The claim checks every side applies after the signature: the server (its
// TokenFactory, src/tokens.ts) and this verifier run this one function, so a
// token latchkey refuses is refused here for the same reason, in the same words.
import { TOKEN_MESSAGES, type TokenErrorMessage } from './wire.js';

/** SimpleJWT's three token types: AccessToken, RefreshToken and SlidingToken. */
export type TokenType = 'access' | 'refresh' | 'sliding';

/**
 * A checked token's claims: every claim of the payload, and SimpleJWT's own
 * under their default names (token_type, jti, user_id) whatever names the
 * token carries them under (TOKEN_TYPE_CLAIM, JTI_CLAIM, USER_ID_CLAIM).
 */
export interface Claims<UserId extends number | string = number> {
  token_type: TokenType;
  exp: number;
  iat: number;
  jti: string;
  /**
   * USER_ID_CLAIM's value. With `userId: 'integer'` (USER_ID_FIELD `id`, the
   * default) always a number; on the wire it may be a number or a string of
   * digits. With `userId: 'string'` (USER_ID_FIELD `username`...) a string.
   */
  user_id: UserId;
  [claim: string]: unknown;
}

/** SimpleJWT's claim-name settings; each defaults to SimpleJWT's own default. */
export interface ClaimNames {
  /** USER_ID_CLAIM, default `user_id`. */
  userIdClaim?: string | undefined;
  /** TOKEN_TYPE_CLAIM, default `token_type`. */
  tokenTypeClaim?: string | undefined;
  /** JTI_CLAIM, default `jti`. */
  jtiClaim?: string | undefined;
}

/** SimpleJWT's default claim names. */
export const DEFAULT_CLAIM_NAMES = { userIdClaim: 'user_id', tokenTypeClaim: 'token_type', jtiClaim: 'jti' } as const;

/** SlidingToken's SLIDING_TOKEN_REFRESH_EXP_CLAIM. */
export const REFRESH_EXP_CLAIM = 'refresh_exp';

/** Why a token was refused; the message is SimpleJWT's own wording (wire.ts, TOKEN_MESSAGES). */
export class TokenError extends Error {
  constructor(message: TokenErrorMessage) {
    // Expected control flow (a flood of bad tokens is thousands a second): no stack.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
    this.name = 'TokenError';
  }
}

export interface ClaimOptions extends ClaimNames {
  /** Seconds since the epoch. */
  now: number;
  leeway: number;
  issuer?: string | undefined;
  audience?: string | undefined;
  /**
   * What the user id claim holds: `integer` (default; USER_ID_FIELD `id`), an
   * integer or a string of digits, returned as a number; `string` (another
   * USER_ID_FIELD, such as `username`), a non-empty string of at most 255
   * characters or an integer, returned as a string (SimpleJWT's for_user
   * writes any non-integer id with str()).
   */
  userId?: 'integer' | 'string' | undefined;
}

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const USER_ID = /^[0-9]{1,15}$/;

const TYPES: readonly unknown[] = ['access', 'refresh', 'sliding'] satisfies TokenType[];

/**
 * The checks that depend on the time, each with `leeway` seconds: exp is
 * there and not passed, nbf and iat (when there) not ahead. The first of
 * checkClaims' checks, and the only ones whose answer can change, as time
 * goes on, for a payload that passed them all: whoever keeps a checked
 * token's claims asks this again, and only this.
 */
export function inTime(payload: Readonly<Record<string, unknown>>, o: Pick<ClaimOptions, 'now' | 'leeway'>): boolean {
  const { exp, nbf, iat } = payload;
  if (!isTime(exp) || exp <= o.now - o.leeway) return false;
  if (nbf !== undefined && (!isTime(nbf) || nbf > o.now + o.leeway)) return false;
  return iat === undefined || (isTime(iat) && iat <= o.now + o.leeway);
}

/**
 * Every claim check, in one pure function. `expected` is the token type the
 * caller needs (or the types, any one of which will do), or undefined for any
 * type (the server's verify endpoint).
 */
export function checkClaims(
  payload: Record<string, unknown>,
  expected: TokenType | readonly TokenType[] | undefined,
  o: ClaimOptions & { userId: 'string' },
): Claims<string>;
export function checkClaims(
  payload: Record<string, unknown>,
  expected: TokenType | readonly TokenType[] | undefined,
  o: ClaimOptions & { userId?: 'integer' | undefined },
): Claims;
export function checkClaims(
  payload: Record<string, unknown>,
  expected: TokenType | readonly TokenType[] | undefined,
  o: ClaimOptions,
): Claims<number | string>;
export function checkClaims(
  payload: Record<string, unknown>,
  expected: TokenType | readonly TokenType[] | undefined,
  o: ClaimOptions,
): Claims<number | string> {
  const { exp, iat } = payload;
  const type = payload[o.tokenTypeClaim ?? 'token_type'];
  const jti = payload[o.jtiClaim ?? 'jti'];
  if (!inTime(payload, o)) throw new TokenError(TOKEN_MESSAGES.invalid);
  if (o.issuer !== undefined && payload.iss !== o.issuer) throw new TokenError(TOKEN_MESSAGES.invalid);
  if (o.audience !== undefined) {
    const aud = payload.aud;
    const ok = Array.isArray(aud) ? aud.includes(o.audience) : aud === o.audience;
    if (!ok) throw new TokenError(TOKEN_MESSAGES.invalid);
  }
  if (type === undefined) throw new TokenError(TOKEN_MESSAGES.noType);
  if (!TYPES.includes(type)) throw new TokenError(TOKEN_MESSAGES.wrongType);
  if (expected !== undefined && (typeof expected === 'string' ? type !== expected : !expected.includes(type as TokenType))) {
    throw new TokenError(TOKEN_MESSAGES.wrongType);
  }
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 255) throw new TokenError(TOKEN_MESSAGES.noId);
  const uid = payload[o.userIdClaim ?? 'user_id'];
  let userId: number | string;
  if (o.userId === 'string') {
    if (typeof uid === 'string' && uid.length > 0 && uid.length <= 255) userId = uid;
    else if (typeof uid === 'number' && Number.isSafeInteger(uid)) userId = String(uid);
    else throw new TokenError(TOKEN_MESSAGES.noUser);
  } else if (typeof uid === 'number' && Number.isSafeInteger(uid) && uid >= 0) userId = uid;
  else if (typeof uid === 'string' && USER_ID.test(uid)) userId = Number(uid);
  else throw new TokenError(TOKEN_MESSAGES.noUser);
  return { ...payload, token_type: type as TokenType, exp: exp as number, iat: isTime(iat) ? iat : 0, jti, user_id: userId };
}

/**
 * SlidingToken's refresh check (TokenRefreshSlidingView): its `refresh_exp`
 * must be there and not passed, in SimpleJWT's words.
 */
export function checkRefreshExp(claims: Readonly<Record<string, unknown>>, o: Pick<ClaimOptions, 'now' | 'leeway'>): number {
  const v = claims[REFRESH_EXP_CLAIM];
  if (v === undefined) throw new TokenError(TOKEN_MESSAGES.noRefreshExp);
  if (!isTime(v)) throw new TokenError(TOKEN_MESSAGES.invalid);
  if (v <= o.now - o.leeway) throw new TokenError(TOKEN_MESSAGES.refreshExpExpired);
  return v;
}
