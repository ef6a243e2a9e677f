// The token model, in SimpleJWT's wire format: one place that mints tokens and
// one pure function that checks their claims (checkClaims, which lives in
// @latchkey/verify). A token is checked in a fixed order: signature and
// algorithm (jwt.ts), then claims (checkClaims), then the type. Storage-backed checks (blacklist, user) belong to the service.
import { v7 as uuidv7 } from 'uuid';
import type { JwtBackend } from './jwt.js';
import { TokenBackendError } from './jwt.js';
import { checkClaims, TokenError, type Claims, type TokenType } from '@latchkey/verify/claims';
import { TOKEN_MESSAGES } from '@latchkey/verify/wire';

// The claim checks live in @latchkey/verify, so the server and the verifier
// run one function; TokenError (thrown by them) and the messages come with them.
export { checkClaims, TokenError, type ClaimOptions, type Claims, type TokenType } from '@latchkey/verify/claims';
export { TOKEN_MESSAGES, type TokenErrorMessage } from '@latchkey/verify/wire';

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
