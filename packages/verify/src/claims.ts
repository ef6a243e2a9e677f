// The claim checks every side applies after the signature: the server (its
// TokenFactory, src/tokens.ts) and this verifier run this one function, so a
// token latchkey refuses is refused here for the same reason, in the same words.
import { TOKEN_MESSAGES, type TokenErrorMessage } from './wire.js';

export type TokenType = 'access' | 'refresh';

export interface Claims {
  token_type: TokenType;
  exp: number;
  iat: number;
  jti: string;
  /** Always a number once checked; on the wire it may be a number or a string of digits. */
  user_id: number;
  [claim: string]: unknown;
}

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

export interface ClaimOptions {
  /** Seconds since the epoch. */
  now: number;
  leeway: number;
  issuer?: string | undefined;
  audience?: string | undefined;
}

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const USER_ID = /^[0-9]{1,15}$/;

/**
 * Every claim check, in one pure function. `expected` is the token type the
 * caller needs, or undefined for "either" (the server's verify endpoint).
 */
export function checkClaims(payload: Record<string, unknown>, expected: TokenType | undefined, o: ClaimOptions): Claims {
  const { exp, nbf, iat, jti, token_type: type } = payload;
  if (!isTime(exp) || exp <= o.now - o.leeway) throw new TokenError(TOKEN_MESSAGES.invalid);
  if (nbf !== undefined && (!isTime(nbf) || nbf > o.now + o.leeway)) throw new TokenError(TOKEN_MESSAGES.invalid);
  if (iat !== undefined && (!isTime(iat) || iat > o.now + o.leeway)) throw new TokenError(TOKEN_MESSAGES.invalid);
  if (o.issuer !== undefined && payload.iss !== o.issuer) throw new TokenError(TOKEN_MESSAGES.invalid);
  if (o.audience !== undefined) {
    const aud = payload.aud;
    const ok = Array.isArray(aud) ? aud.includes(o.audience) : aud === o.audience;
    if (!ok) throw new TokenError(TOKEN_MESSAGES.invalid);
  }
  if (type === undefined) throw new TokenError(TOKEN_MESSAGES.noType);
  if (type !== 'access' && type !== 'refresh') throw new TokenError(TOKEN_MESSAGES.wrongType);
  if (expected !== undefined && type !== expected) throw new TokenError(TOKEN_MESSAGES.wrongType);
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 255) throw new TokenError(TOKEN_MESSAGES.noId);
  const uid = payload.user_id;
  let userId: number;
  if (typeof uid === 'number' && Number.isSafeInteger(uid) && uid >= 0) userId = uid;
  else if (typeof uid === 'string' && USER_ID.test(uid)) userId = Number(uid);
  else throw new TokenError(TOKEN_MESSAGES.noUser);
  return { ...payload, token_type: type, exp, iat: isTime(iat) ? iat : 0, jti, user_id: userId };
}
