// What every service operation shares: the clock, the limits, the hasher,
// issuing a token pair, and the checks of a token's user.
import { ApiError, toApiError } from '../errors.js';
import type { PasswordHasher } from '../passwords.js';
import type { BlacklistReason, OutstandingToken, SessionMeta, Storage, TokenState, UserAuth, UserPatch } from '../storage/types.js';
import { mintClock, mintClockPast, mintedMs, TOKEN_MESSAGES, type Claims, type TokenFactory } from '../tokens.js';
import { NO_THROTTLE, type Throttle } from '../throttle.js';
import { LOCAL_CLIENT, type AuthEvent, type Client, type ServiceOptions, type TokenPair } from './types.js';

const systemNow = () => Math.floor(Date.now() / 1000);

/** Client details as a session records them, cut to the columns' lengths. */
const sessionMeta = (client: Client): SessionMeta => ({
  userAgent: (client.userAgent ?? '').slice(0, 255),
  address: client.address.slice(0, 64),
});

export class ServiceCore {
  readonly now: () => number;
  readonly throttle: Throttle;
  protected readonly emit: (event: AuthEvent) => void;

  constructor(
    readonly storage: Storage,
    readonly tokens: TokenFactory,
    readonly hasher: PasswordHasher,
    protected readonly o: ServiceOptions,
  ) {
    this.now = o.now ?? systemNow;
    this.throttle = o.throttle ?? NO_THROTTLE;
    this.emit = o.onEvent ?? (() => {});
  }

  /**
   * A new login: a fresh rotation family whose id is the first refresh token's
   * jti, recorded as a session with the client's address and user agent. With
   * `lastLogin`, the user's last_login is set to now in the same commit.
   */
  async issuePair(
    userId: number,
    now = this.now(),
    client: Client = LOCAL_CLIENT,
    opts: { lastLogin?: boolean; mintedAt?: number } = {},
  ): Promise<TokenPair> {
    const refresh = this.tokens.refresh(userId, now, now + this.o.refreshFamilyLifetime, opts.mintedAt);
    await this.storage.startSession(
      outstanding(refresh.claims, { familyId: refresh.claims.jti, familyIssuedAt: now }, now),
      sessionMeta(client),
      opts.lastLogin ? { lastLogin: true } : {},
    );
    return { refresh: refresh.token, access: this.tokens.access(userId, now, opts.mintedAt).token };
  }

  protected async hashOrBusy(password: string): Promise<string> {
    try {
      return await this.hasher.hash(password);
    } catch (err) {
      throw toApiError(err) ?? err;
    }
  }

  /** The user a token names must still exist, be active, and not have revoked tokens this old. */
  protected async tokenUser(claims: Claims): Promise<UserAuth> {
    return this.checkUser(await this.storage.getUserAuth(claims.user_id), claims);
  }

  protected checkUser(user: UserAuth | undefined, claims: Claims): UserAuth {
    if (!user) throw new ApiError('user_not_found');
    if (!user.is_active) throw new ApiError('user_inactive');
    if (revokedFor(user, claims)) throw new ApiError('token_not_valid', TOKEN_MESSAGES.blacklisted);
    return user;
  }

  /**
   * Refuses every token of the user minted up to now, and every refresh token
   * recorded for them: a password change, a logout everywhere, a
   * deactivation. `patch` is written with the revocation time, in the same
   * commit, so the revocation is never lost; then every recorded refresh
   * token is blacklisted; then the revocation time moves to after both
   * commits. That last step refuses the tokens of a login or refresh that read
   * the user or the blacklist before the change committed (a login racing a
   * password change with the old password) and minted just after it: their
   * jti carries the instant before that read (TokenService). Resolves once
   * the mint clock has passed the revocation, so a pair issued next works.
   */
  protected async revokeAll(userId: number, patch: UserPatch, reason: BlacklistReason): Promise<number> {
    const now = this.now();
    await this.storage.updateUser(userId, { ...patch, tokens_valid_after: now, tokens_revoked_ms: mintClock() });
    await this.storage.revokeUserTokens(userId, reason, now);
    const sealed = mintClock();
    await this.storage.updateUser(userId, { tokens_revoked_ms: sealed });
    await mintClockPast(sealed);
    return now;
  }

  /** Hashes and stores a password, revoking every earlier token; returns the time it took effect. */
  protected async storePassword(userId: number, password: string): Promise<number> {
    const encoded = await this.hashOrBusy(password);
    return this.revokeAll(userId, { password: encoded }, 'revoked');
  }
}

/**
 * Whether a revocation of the user covers the token. A token latchkey minted
 * carries its mint time to the millisecond in its jti (tokens.ts), and is
 * refused if minted at or before the revocation's millisecond. Any other token
 * has only its iat, in seconds: it is refused if minted in the revocation's
 * second or before, since it cannot be told apart from one minted just before.
 */
export function revokedFor(user: UserAuth, claims: Claims): boolean {
  const after = user.tokens_valid_after;
  if (after !== null && claims.iat < after) return true;
  const ms = mintedMs(claims.jti);
  if (ms !== undefined) return user.tokens_revoked_ms !== null && ms <= user.tokens_revoked_ms;
  return after !== null && claims.iat <= after;
}

export function familyOf(claims: Claims, state: TokenState | undefined) {
  // A token we never recorded (minted by SimpleJWT before a cut-over) starts its own family.
  return { familyId: state?.familyId ?? claims.jti, familyIssuedAt: state?.familyIssuedAt ?? claims.iat };
}

export function outstanding(claims: Claims, family: { familyId: string; familyIssuedAt: number }, now: number): OutstandingToken {
  return {
    jti: claims.jti,
    userId: claims.user_id,
    familyId: family.familyId,
    familyIssuedAt: family.familyIssuedAt,
    createdAt: claims.iat || now,
    expiresAt: claims.exp,
  };
}
