// What every service operation shares: the clock, the limits, the hasher,
// issuing a token pair, and the checks of a token's user.
import { ApiError, toApiError } from '../errors.js';
import type { PasswordHasher } from '../passwords.js';
import type { OutstandingToken, SessionMeta, Storage, TokenState, UserAuth } from '../storage/types.js';
import { TOKEN_MESSAGES, type Claims, type TokenFactory } from '../tokens.js';
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
  async issuePair(userId: number, now = this.now(), client: Client = LOCAL_CLIENT, opts: { lastLogin?: boolean } = {}): Promise<TokenPair> {
    const refresh = this.tokens.refresh(userId, now, now + this.o.refreshFamilyLifetime);
    await this.storage.startSession(
      outstanding(refresh.claims, { familyId: refresh.claims.jti, familyIssuedAt: now }, now),
      sessionMeta(client),
      opts,
    );
    return { refresh: refresh.token, access: this.tokens.access(userId, now).token };
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
    if (user.tokens_valid_after !== null && claims.iat < user.tokens_valid_after) {
      throw new ApiError('token_not_valid', TOKEN_MESSAGES.blacklisted);
    }
    return user;
  }

  /** Hashes and stores a password, revoking every earlier token; returns the time it took effect. */
  protected async storePassword(userId: number, password: string): Promise<number> {
    const encoded = await this.hashOrBusy(password);
    const now = this.now();
    await this.storage.updateUser(userId, { password: encoded, tokens_valid_after: now });
    await this.storage.revokeUserTokens(userId, 'revoked', now);
    return now;
  }
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
