// The token model, in SimpleJWT's wire format: one place that mints tokens and
// one pure function that checks their claims. A token is checked in a fixed
// order: signature and algorithm (jwt.ts), then claims (checkClaims), then the
// type. Storage-backed checks (blacklist, user) belong to the service.
import { v7 as uuidv7 } from 'uuid';
import type { JwtBackend } from './jwt.js';
import { TokenBackendError } from './jwt.js';
import { TokenError } from './errors.js';
import { TOKEN_MESSAGES } from './wire.js';

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

// TokenError and the messages live with the other errors and the shared wording.
export { TokenError } from './errors.js';
export { TOKEN_MESSAGES, type TokenErrorMessage } from './wire.js';

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
 * caller needs, or undefined for "either" (the verify endpoint).
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

export interface TokenFactoryOptions {
  accessLifetime: number;
  refreshLifetime: number;
  leeway: number;
  issuer?: string | undefined;
  audience?: string | undefined;
}

/**
 * A jti in SimpleJWT's form, 32 lowercase hex characters, but a UUIDv7 where
 * SimpleJWT has uuid4().hex: the first 48 bits are the time in milliseconds,
 * the other 74 (besides version and variant) random. Clients treat a jti as
 * opaque; the database does not. Time-ordered jtis are appended to the
 * token tables' unique index instead of landing on a random leaf page of it,
 * which on a table of millions made every rotation dirty pages all over the file.
 */
export const newJti = (): string => uuidv7(undefined, Buffer.allocUnsafe(16)).toString('hex');

export class TokenFactory {
  constructor(
    private readonly jwt: JwtBackend,
    private readonly o: TokenFactoryOptions,
  ) {}

  /** Claims in SimpleJWT's order: token_type, exp, iat, jti, user_id. */
  private claims(type: TokenType, userId: number, now: number, exp: number): Claims {
    const c: Claims = { token_type: type, exp, iat: now, jti: newJti(), user_id: userId };
    if (this.o.issuer !== undefined) c.iss = this.o.issuer;
    if (this.o.audience !== undefined) c.aud = this.o.audience;
    return c;
  }

  refresh(userId: number, now: number, notAfter = Infinity): { token: string; claims: Claims } {
    const claims = this.claims('refresh', userId, now, Math.min(now + this.o.refreshLifetime, notAfter));
    return { token: this.jwt.sign(claims), claims };
  }

  access(userId: number, now: number): { token: string; claims: Claims } {
    const claims = this.claims('access', userId, now, now + this.o.accessLifetime);
    return { token: this.jwt.sign(claims), claims };
  }

  /** Signature and algorithm first, then claims, then type. */
  check(raw: string, expected: TokenType | undefined, now: number): Claims {
    let payload: Record<string, unknown>;
    try {
      payload = this.jwt.decode(raw);
    } catch (err) {
      if (err instanceof TokenBackendError) throw new TokenError(TOKEN_MESSAGES.invalid);
      throw err;
    }
    return checkClaims(payload, expected, { now, leeway: this.o.leeway, issuer: this.o.issuer, audience: this.o.audience });
  }
}
