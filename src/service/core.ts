// What every service operation shares: the clock, the limits, the hasher,
// issuing a token pair, and the checks of a token's user.
import { ApiError, toApiError } from '../errors.js';
import type { PasswordHasher } from '../passwords.js';
import type {
  BlacklistReason,
  OutstandingToken,
  SessionMeta,
  Storage,
  TokenState,
  UserAuth,
  UserPatch,
  UserRecord,
} from '../storage/types.js';
import { mintClock, mintClockPast, mintedMs, TOKEN_MESSAGES, type TokenClaims, type TokenFactory } from '../tokens.js';
import { claimValues, copiedClaims, type ClaimField } from '../users/claims.js';
import { NO_THROTTLE, type Throttle } from '../throttle.js';
import { LOCAL_CLIENT, type AuthEvent, type Client, type ServiceOptions, type TokenPair } from './types.js';

const systemNow = () => Math.floor(Date.now() / 1000);

/** Client details as a session records them, cut to the columns' lengths. */
export const sessionMeta = (client: Client): SessionMeta => ({
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
   * `claims`: the custom claims (a preset's; by default LATCHKEY_TOKEN_CLAIMS),
   * on the refresh token and copied to the access token, as SimpleJWT's
   * get_token override and access_token do.
   */
  async issuePair(
    who: number | UserRecord,
    now = this.now(),
    client: Client = LOCAL_CLIENT,
    opts: { lastLogin?: boolean; mintedAt?: number; claims?: readonly ClaimField[] | undefined } = {},
  ): Promise<TokenPair> {
    const fields = opts.claims ?? this.defaultClaims;
    // A user given by id is read only when the tokens need more of it than its id.
    const user =
      typeof who === 'number' && (fields.length > 0 || this.tokens.userIdField !== 'id') ? await this.storage.getUserById(who) : who;
    if (user === undefined) throw new ApiError('user_not_found');
    const userId = typeof user === 'number' ? user : user.id;
    const key = typeof user === 'number' ? user : this.tokens.keyOf(user);
    const extra = typeof user === 'number' ? {} : claimValues(user, fields);
    const refresh = this.tokens.refresh(key, now, now + this.o.refreshFamilyLifetime, opts.mintedAt, extra);
    await this.storage.startSession(
      outstanding(refresh.claims, { familyId: refresh.claims.jti, familyIssuedAt: now }, now, userId),
      sessionMeta(client),
      opts.lastLogin ? { lastLogin: true } : {},
    );
    return { refresh: refresh.token, access: this.tokens.access(key, now, opts.mintedAt, extra).token };
  }

  /** LATCHKEY_TOKEN_CLAIMS: the custom claims of the routes whose preset names none. */
  protected get defaultClaims(): readonly ClaimField[] {
    return this.o.claims ?? [];
  }

  /**
   * The custom claims a refresh mints with: read again from the user's
   * current record, so a changed email or a new is_staff shows at the next
   * refresh; from the presented token when its user is gone (a refresh that
   * does not check the user, SimpleJWT's own). None read when none are set.
   */
  protected async freshClaims(
    userId: number | null,
    presented: TokenClaims,
    fields: readonly ClaimField[],
  ): Promise<Record<string, unknown>> {
    if (fields.length === 0) return {};
    const user = userId === null ? undefined : await this.storage.getUserById(userId);
    return user ? claimValues(user, fields) : copiedClaims(presented, fields);
  }

  protected async hashOrBusy(password: string): Promise<string> {
    try {
      return await this.hasher.hash(password);
    } catch (err) {
      throw toApiError(err) ?? err;
    }
  }

  /** The user a token names must still exist, be active, and not have revoked tokens this old. */
  protected async tokenUser(claims: TokenClaims): Promise<UserAuth> {
    return this.checkUser(await this.userAuthOf(claims), claims);
  }

  /** The user a token names, by USER_ID_FIELD: its id (the cached hot-path read), or its username. */
  protected async userAuthOf(claims: TokenClaims): Promise<UserAuth | undefined> {
    const key = claims.user_id;
    if (typeof key === 'number') return this.storage.getUserAuth(key);
    const u = await this.storage.getUserByUsername(key);
    return (
      u && {
        id: u.id,
        username: u.username,
        is_active: u.is_active,
        tokens_valid_after: u.tokens_valid_after,
        tokens_revoked_ms: u.tokens_revoked_ms,
      }
    );
  }

  protected checkUser(user: UserAuth | undefined, claims: TokenClaims): UserAuth {
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
export function revokedFor(user: UserAuth, claims: TokenClaims): boolean {
  const after = user.tokens_valid_after;
  if (after !== null && claims.iat < after) return true;
  const ms = mintedMs(claims.jti);
  if (ms !== undefined) return user.tokens_revoked_ms !== null && ms <= user.tokens_revoked_ms;
  return after !== null && claims.iat <= after;
}

export function familyOf(claims: TokenClaims, state: TokenState | undefined) {
  // A token we never recorded (minted by SimpleJWT before a cut-over) starts its own family.
  return { familyId: state?.familyId ?? claims.jti, familyIssuedAt: state?.familyIssuedAt ?? claims.iat };
}

/**
 * A token as the blacklist records it. `userId` is the user's id (null when
 * the token names a user who is gone); `expiresAt` by default its exp (a
 * sliding token's is the latest any refresh of it can give, TokenFactory.lastExpiry).
 */
export function outstanding(
  claims: TokenClaims,
  family: { familyId: string; familyIssuedAt: number },
  now: number,
  userId: number | null,
  expiresAt = claims.exp,
): OutstandingToken {
  return {
    jti: claims.jti,
    userId,
    familyId: family.familyId,
    familyIssuedAt: family.familyIssuedAt,
    createdAt: claims.iat || now,
    expiresAt,
  };
}
