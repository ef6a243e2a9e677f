// The token model, in SimpleJWT's wire format: one place that mints tokens and
// one pure function that checks their claims (checkClaims, which lives in
// @latchkey/verify). A token is checked in a fixed order: signature and
// algorithm (jwt.ts), then claims (checkClaims), then the type. Storage-backed checks (blacklist, user) belong to the service.
import { setTimeout as sleep } from 'node:timers/promises';
import { v7 as uuidv7 } from 'uuid';
import { randomChunk } from './random-pool.js';
import type { JwtBackend } from './jwt.js';
import { TokenBackendError } from './jwt.js';
import { checkClaims, checkRefreshExp, inTime, REFRESH_EXP_CLAIM, TokenError, type Claims, type TokenType } from '@latchkey/verify/claims';
import { TOKEN_MESSAGES } from '@latchkey/verify/wire';

// The claim checks live in @latchkey/verify, so the server and the verifier
// run one function; TokenError (thrown by them) and the messages come with them.
export { checkClaims, TokenError, type ClaimOptions, type Claims, type TokenType } from '@latchkey/verify/claims';

/** What names a token's user: its id, or (USER_ID_FIELD `username`) its username. */
export type UserKey = number | string;

/** A token's claims as the server checks them: user_id is the USER_ID_CLAIM's value, a number or (USER_ID_FIELD username) a string. */
export type TokenClaims = Claims<UserKey>;
export { TOKEN_MESSAGES, type TokenErrorMessage } from '@latchkey/verify/wire';

export interface TokenFactoryOptions {
  accessLifetime: number;
  refreshLifetime: number;
  leeway: number;
  issuer?: string | undefined;
  audience?: string | undefined;
  /** SimpleJWT's SLIDING_TOKEN_LIFETIME (default 300) and SLIDING_TOKEN_REFRESH_LIFETIME (default 86400), in seconds. */
  slidingLifetime?: number | undefined;
  slidingRefreshLifetime?: number | undefined;
  /** SimpleJWT's USER_ID_FIELD: `id` (default) or `username`. */
  userIdField?: 'id' | 'username' | undefined;
  /** SimpleJWT's USER_ID_CLAIM, TOKEN_TYPE_CLAIM and JTI_CLAIM; SimpleJWT's defaults when omitted. */
  userIdClaim?: string | undefined;
  tokenTypeClaim?: string | undefined;
  jtiClaim?: string | undefined;
}

/** Custom claims: user fields by name, added after the standard claims. */
export type ExtraClaims = Readonly<Record<string, unknown>>;

const NO_EXTRA: ExtraClaims = Object.freeze({});

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
    order.seq = randomChunk(4).readUInt32BE(0) >>> 1;
  } else order.seq++;
  return uuidv7({ msecs: mintedMs, seq: order.seq, random: randomChunk(16) }, Buffer.allocUnsafe(16)).toString('hex');
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
  // The same jti as last time (a client's token, request after request): its time as read then.
  if (jti !== lastJti.jti) lastJti = { jti, ms: V7_JTI.test(jti) ? Number.parseInt(jti.slice(0, 12), 16) : undefined };
  const ms = lastJti.ms;
  return ms !== undefined && ms <= Date.now() + MINT_SKEW_MS ? ms : undefined;
}

let lastJti: { jti: string; ms: number | undefined } = { jti: '', ms: undefined };

export class TokenFactory {
  /** The claim names on the wire (SimpleJWT's USER_ID_CLAIM, TOKEN_TYPE_CLAIM, JTI_CLAIM). */
  readonly names: { readonly userId: string; readonly tokenType: string; readonly jti: string };
  readonly userIdField: 'id' | 'username';
  readonly slidingLifetime: number;
  readonly slidingRefreshLifetime: number;
  /** Whether every name is SimpleJWT's default, so a payload is its Claims as it is. */
  private readonly plain: boolean;

  constructor(
    private readonly jwt: JwtBackend,
    private readonly o: TokenFactoryOptions,
  ) {
    this.names = { userId: o.userIdClaim ?? 'user_id', tokenType: o.tokenTypeClaim ?? 'token_type', jti: o.jtiClaim ?? 'jti' };
    this.userIdField = o.userIdField ?? 'id';
    this.slidingLifetime = o.slidingLifetime ?? 300;
    this.slidingRefreshLifetime = o.slidingRefreshLifetime ?? 86400;
    this.plain = this.names.userId === 'user_id' && this.names.tokenType === 'token_type' && this.names.jti === 'jti';
  }

  /** What a token names `user` by: USER_ID_FIELD's value. */
  keyOf(user: { id: number; username: string }): UserKey {
    return this.userIdField === 'id' ? user.id : user.username;
  }

  /**
   * The payload in SimpleJWT's order: token_type, exp, iat, jti, then (a
   * sliding token) refresh_exp, then user_id, then the custom claims (a
   * get_token override adds them to what for_user made). The claims under
   * their default names come back beside it, for the service.
   */
  private mint(
    type: TokenType,
    user: UserKey,
    now: number,
    exp: number,
    jti: string,
    extra: ExtraClaims,
    refreshExp?: number,
  ): { token: string; claims: TokenClaims } {
    const n = this.names;
    const p: Record<string, unknown> = { [n.tokenType]: type, exp, iat: now, [n.jti]: jti };
    if (refreshExp !== undefined) p[REFRESH_EXP_CLAIM] = refreshExp;
    p[n.userId] = user;
    for (const k in extra) p[k] = extra[k];
    if (this.o.issuer !== undefined) p.iss = this.o.issuer;
    if (this.o.audience !== undefined) p.aud = this.o.audience;
    const token = this.jwt.sign(p);
    const claims = (this.plain ? p : { ...p, token_type: type, jti, user_id: user }) as TokenClaims;
    return { token, claims };
  }

  /**
   * `mintedAt` (milliseconds, mintClock()'s) is the mint time the jti carries:
   * by default now, but a login or refresh passes the instant before it read
   * what the token vouches for, so that a revocation committed after that read
   * refuses the token (service/core.ts, checkUser).
   */
  refresh(user: UserKey, now: number, notAfter = Infinity, mintedAt?: number, extra: ExtraClaims = NO_EXTRA) {
    return this.mint('refresh', user, now, Math.min(now + this.o.refreshLifetime, notAfter), newJti(mintedAt), extra);
  }

  access(user: UserKey, now: number, mintedAt?: number, extra: ExtraClaims = NO_EXTRA) {
    return this.mint('access', user, now, now + this.o.accessLifetime, newJti(mintedAt), extra);
  }

  /** SimpleJWT's SlidingToken.for_user: exp a sliding lifetime away, refresh_exp a sliding refresh lifetime away. */
  sliding(user: UserKey, now: number, mintedAt?: number, extra: ExtraClaims = NO_EXTRA) {
    return this.mint('sliding', user, now, now + this.slidingLifetime, newJti(mintedAt), extra, now + this.slidingRefreshLifetime);
  }

  /**
   * TokenRefreshSlidingSerializer: refresh_exp must not have passed; the
   * token comes back with a new exp and iat and everything else as it was
   * (its jti, refresh_exp and user), its custom claims replaced by `extra`.
   */
  slide(claims: TokenClaims, now: number, extra: ExtraClaims = NO_EXTRA) {
    const refreshExp = checkRefreshExp(claims, { now, leeway: this.o.leeway });
    return this.mint('sliding', claims.user_id, now, now + this.slidingLifetime, claims.jti, extra, refreshExp);
  }

  /** The latest a token can expire: a sliding token refreshed just before its refresh_exp lives a sliding lifetime past it. */
  lastExpiry(claims: TokenClaims): number {
    const refreshExp = claims[REFRESH_EXP_CLAIM];
    if (claims.token_type !== 'sliding' || typeof refreshExp !== 'number') return claims.exp;
    return Math.max(claims.exp, refreshExp + this.slidingLifetime);
  }

  /** The key set check() verifies signatures with now: a token checked under another one has not been checked under this one. */
  get keys(): object {
    return this.jwt.keys;
  }

  /**
   * Whether claims that check() returned still pass its checks that depend on
   * the time (exp, nbf, iat; inTime in @latchkey/verify), the only ones whose
   * answer can change for the same token under the same keys. (An iat that was
   * absent reads as 0 here, as check() returns it: not ahead of any clock after 1970.)
   */
  inTime(claims: TokenClaims, now: number): boolean {
    return inTime(claims, { now, leeway: this.o.leeway });
  }

  /** Signature and algorithm first, then claims, then type. */
  check(raw: string, expected: TokenType | readonly TokenType[] | undefined, now: number): TokenClaims {
    let payload: Record<string, unknown>;
    try {
      payload = this.jwt.decode(raw);
    } catch (err) {
      if (err instanceof TokenBackendError) throw new TokenError(TOKEN_MESSAGES.invalid);
      throw err;
    }
    return checkClaims(payload, expected, {
      now,
      leeway: this.o.leeway,
      issuer: this.o.issuer,
      audience: this.o.audience,
      userIdClaim: this.names.userId,
      tokenTypeClaim: this.names.tokenType,
      jtiClaim: this.names.jti,
      userId: this.userIdField === 'id' ? 'integer' : 'string',
    });
  }
}
