// The token model, in SimpleJWT's wire format: one place that mints tokens and
// one pure function that checks their claims (checkClaims, which lives in
// @latchkey/verify). A token is checked in a fixed order: signature and
// algorithm (jwt.ts), then claims (checkClaims), then the type. Storage-backed checks (blacklist, user) belong to the service.
import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
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
 * SimpleJWT has uuid4().hex: the first 48 bits are the mint time in
 * milliseconds (what exact revocation reads back, mintedMs below), then a
 * counter from a random start and random bits. Clients treat a jti as
 * opaque; the database does not. Time-ordered jtis are appended to the
 * token tables' unique index instead of landing on a random leaf page of it,
 * which on a table of millions made every rotation dirty pages all over the file.
 */
export function newJti(mintedMs: number = mintClock()): string {
  // Within one millisecond the sequence counts up from a random start (RFC
  // 9562's fixed-length counter), so this process's jtis sort in mint order.
  if (mintedMs !== order.ms || order.seq >= 0xffffffff) {
    order.ms = mintedMs;
    order.seq = randomInt(0x80000000);
  } else order.seq++;
  return uuidv7({ msecs: mintedMs, seq: order.seq }, Buffer.allocUnsafe(16)).toString('hex');
}

const order = { ms: -1, seq: 0 };

let lastMs = 0;

/**
 * The clock of mint and revocation times, in milliseconds: Date.now(), but
 * never going back within this process (a clock stepped back must not make a
 * later revocation look older than a token minted before it).
 */
export function mintClock(): number {
  lastMs = Math.max(lastMs, Date.now());
  return lastMs;
}

/** Resolves once mintClock() has passed `ms`: what is minted afterwards is later than `ms`. */
export async function mintClockPast(ms: number): Promise<void> {
  while (mintClock() <= ms) await sleep(1);
}

const V7_JTI = /^[0-9a-f]{12}7[0-9a-f]{3}[89ab][0-9a-f]{15}$/;

/** Past this far ahead of this clock, a jti's time is no mint time (another instance's clock may run a little ahead). */
const MINT_SKEW_MS = 86_400_000;

/**
 * When a token was minted, to the millisecond, if its jti is a UUIDv7 as
 * latchkey mints them; undefined for any other jti (SimpleJWT's uuid4 hex, or
 * whatever another issuer chose), whose mint time is only its iat. A time far
 * ahead of now is no mint time either: a random jti that happens to look like
 * a UUIDv7 almost always reads as a time centuries away.
 */
export function mintedMs(jti: string): number | undefined {
  if (!V7_JTI.test(jti)) return undefined;
  const ms = Number.parseInt(jti.slice(0, 12), 16);
  return ms <= Date.now() + MINT_SKEW_MS ? ms : undefined;
}

export class TokenFactory {
  constructor(
    private readonly jwt: JwtBackend,
    private readonly o: TokenFactoryOptions,
  ) {}

  /** Claims in SimpleJWT's order: token_type, exp, iat, jti, user_id. */
  private claims(type: TokenType, userId: number, now: number, exp: number, mintedAt: number | undefined): Claims {
    const c: Claims = { token_type: type, exp, iat: now, jti: newJti(mintedAt), user_id: userId };
    if (this.o.issuer !== undefined) c.iss = this.o.issuer;
    if (this.o.audience !== undefined) c.aud = this.o.audience;
    return c;
  }

  /**
   * `mintedAt` (milliseconds, mintClock()'s) is the mint time the jti carries:
   * by default now, but a login or refresh passes the instant before it read
   * what the token vouches for, so that a revocation committed after that read
   * refuses the token (service/core.ts, checkUser).
   */
  refresh(userId: number, now: number, notAfter = Infinity, mintedAt?: number): { token: string; claims: Claims } {
    const claims = this.claims('refresh', userId, now, Math.min(now + this.o.refreshLifetime, notAfter), mintedAt);
    return { token: this.jwt.sign(claims), claims };
  }

  access(userId: number, now: number, mintedAt?: number): { token: string; claims: Claims } {
    const claims = this.claims('access', userId, now, now + this.o.accessLifetime, mintedAt);
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
