// The token operations: logins, refresh (with rotation and reuse detection),
// verify, blacklist, and authenticating an Authorization header.
import { boundedCache } from '../bounded-cache.js';
import { ApiError, toApiError, type TokenMessage } from '../errors.js';
import { codePoints, MAX_PASSWORD_LENGTH } from '../passwords.js';
import type { TokenState, UserAuth, UserRecord } from '../storage/types.js';
import { mintClock, TOKEN_MESSAGES, TokenError, type TokenClaims, type TokenType } from '../tokens.js';
import { claimValues, type ClaimField } from '../users/claims.js';
import { AUTH_SCHEME, MESSAGES, parseAuthorization } from '@latchkey/verify/wire';
import { isE164, normalizeUsername } from '../validation.js';
import { familyOf, outstanding, revokedFor, ServiceCore, sessionMeta } from './core.js';
import type { HeaderMemo } from './header-memo.js';
import { openSuccessor, sealSuccessor } from './successor.js';
import { LOCAL_CLIENT, type Client, type LoginKey, type Lookup, type TokenPair } from './types.js';

/** A session's last use is written at most this often by a refresh without rotation. */
const SESSION_TOUCH_SECONDS = 60;

/** SimpleJWT's token classes, as JWTAuthentication names them under `messages`. */
const TOKEN_CLASS = { access: 'AccessToken', sliding: 'SlidingToken' } as const;

export class TokenService extends ServiceCore {
  /** When this process last wrote each session's last use (see refresh). */
  private readonly lastTouched = boundedCache<string, number>(100_000);

  // ---- login -------------------------------------------------------------

  private async findForLogin(login: string, lookup: Lookup): Promise<UserRecord | undefined> {
    // A phone number names its owner first (username_or_phone), so nobody can
    // claim another user's phone login by registering that number as a username.
    const keys: readonly LoginKey[] =
      lookup === 'phone'
        ? ['phone_number']
        : lookup === 'username_or_phone'
          ? ['phone_number', 'username']
          : typeof lookup === 'string'
            ? [lookup]
            : lookup;
    for (const key of keys) {
      const user = await this.findBy(key, login);
      if (user) return user;
    }
    return undefined;
  }

  private async findBy(key: LoginKey, login: string): Promise<UserRecord | undefined> {
    if (key === 'phone_number') return isE164(login) ? this.storage.getUserByPhone(login) : undefined;
    if (key === 'username') return this.storage.getUserByUsername(normalizeUsername(login));
    // Emails are not unique (Django's email__iexact may match several users):
    // only an address that names exactly one active account logs in.
    if (!login.includes('@')) return undefined;
    const active = (await this.storage.getUsersByEmail(login, { iexact: true })).filter((u) => u.is_active);
    return active.length === 1 ? active[0] : undefined;
  }

  /**
   * Checks credentials. An unknown user costs one dummy hash, as a wrong
   * password does, and an inactive user is refused only after the hash, so
   * neither timing nor answer tells which accounts exist.
   */
  async authenticateCredentials(login: string, password: string, lookup: Lookup, client: Client = LOCAL_CLIENT): Promise<UserRecord> {
    // One key per account whatever the spelling, so case or width variants don't reset the count.
    const account = normalizeUsername(login).toLowerCase();
    try {
      await this.throttle.beforeLogin(client.address, account);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'throttled') this.emit('login_throttled');
      throw err;
    }
    if (codePoints(password) > MAX_PASSWORD_LENGTH) {
      this.emit('login_failed');
      await this.throttle.loginFailed(client.address, account);
      throw new ApiError('no_active_account');
    }
    const user = await this.findForLogin(login, lookup);
    let ok = false;
    try {
      if (user) ok = await this.hasher.verify(user.password, password);
      else await this.hasher.verifyDummy(password);
    } catch (err) {
      throw toApiError(err) ?? err;
    }
    if (!user || !ok || !user.is_active) {
      this.emit('login_failed');
      await this.throttle.loginFailed(client.address, account);
      throw new ApiError('no_active_account');
    }
    this.emit('login_succeeded');
    await this.throttle.loginSucceeded(account);
    if (this.hasher.needsRehash(user.password)) {
      // Upgrade old or imported hashes on the way in; a busy hasher just skips it.
      await this.hasher.hash(password).then(
        (encoded) => this.storage.updateUser(user.id, { password: encoded }),
        () => undefined,
      );
    }
    return user;
  }

  /** `lastLogin: false` is SimpleJWT's UPDATE_LAST_LOGIN off: a login leaves last_login (and so the user's mail links) alone. */
  async login(
    login: string,
    password: string,
    lookup: Lookup,
    client: Client = LOCAL_CLIENT,
    opts: { lastLogin?: boolean; claims?: readonly ClaimField[] | undefined } = {},
  ): Promise<TokenPair> {
    return (await this.signIn(login, password, lookup, client, opts)).tokens;
  }

  /** A login that also answers its user (for the responses that carry the user, as dj-rest-auth's). */
  async signIn(
    login: string,
    password: string,
    lookup: Lookup,
    client: Client = LOCAL_CLIENT,
    opts: { lastLogin?: boolean; claims?: readonly ClaimField[] | undefined } = {},
  ): Promise<{ user: UserRecord; tokens: TokenPair }> {
    // The tokens' mint time is now, before the user is read: a password
    // change that commits after this read refuses them (core.ts, revokeAll).
    const mintedAt = mintClock();
    const user = await this.authenticateCredentials(login, password, lookup, client);
    const tokens = await this.issuePair(user, this.now(), client, { lastLogin: opts.lastLogin ?? true, mintedAt, claims: opts.claims });
    return { user, tokens };
  }

  /**
   * SimpleJWT's TokenObtainSlidingView: one sliding token, recorded as a
   * session (its own family) so that it can be listed, revoked and blacklisted.
   */
  async loginSliding(
    login: string,
    password: string,
    lookup: Lookup,
    client: Client = LOCAL_CLIENT,
    opts: { lastLogin?: boolean; claims?: readonly ClaimField[] | undefined } = {},
  ): Promise<{ token: string }> {
    const mintedAt = mintClock(); // before the user is read, as login's
    const user = await this.authenticateCredentials(login, password, lookup, client);
    const now = this.now();
    const t = this.tokens.sliding(this.tokens.keyOf(user), now, mintedAt, claimValues(user, opts.claims ?? this.defaultClaims));
    await this.storage.startSession(
      outstanding(t.claims, { familyId: t.claims.jti, familyIssuedAt: now }, now, user.id, this.tokens.lastExpiry(t.claims)),
      sessionMeta(client),
      (opts.lastLogin ?? true) ? { lastLogin: true } : {},
    );
    return { token: t.token };
  }

  /**
   * SimpleJWT's TokenRefreshSlidingView: the token must be valid (exp
   * included) and its refresh_exp not passed; it comes back with a new exp and
   * iat, the same jti and refresh_exp, and its custom claims read again from
   * the user. With `checkUser: false` the user is not looked at (as SimpleJWT).
   */
  async refreshSliding(
    raw: string,
    opts: { checkUser?: boolean; claims?: readonly ClaimField[] | undefined } = {},
    client: Client = LOCAL_CLIENT,
  ): Promise<{ token: string }> {
    await this.throttle.hit('refresh', client.address);
    const { claims, user, state } = await this.checkToken(raw, 'sliding', 'report', opts.checkUser ?? true);
    const now = this.now();
    let next;
    try {
      const userId = userIdOf(claims, user);
      next = this.tokens.slide(claims, now, await this.freshClaims(userId, claims, opts.claims ?? this.defaultClaims));
      const family = familyOf(claims, state);
      if (!state || (this.lastTouched.get(family.familyId) ?? -Infinity) <= now - SESSION_TOUCH_SECONDS) {
        await this.storage.touchSession(outstanding(claims, family, now, userId, this.tokens.lastExpiry(claims)), now);
        this.lastTouched.set(family.familyId, now);
      }
    } catch (err) {
      throw toApiError(err) ?? err;
    }
    this.emit('refresh');
    return { token: next.token };
  }

  // ---- tokens ------------------------------------------------------------

  /**
   * Checks a raw token: signature, claims and type, then its user (gone,
   * inactive, or revoked since), then the blacklist. The user comes first so a
   * deactivated user hears "User is inactive" rather than about the blacklist.
   */
  private async checkToken(
    raw: string,
    expected: TokenType | undefined,
    onReuse: 'retry' | 'report' = 'report',
    checkUser = true,
  ): Promise<{ claims: TokenClaims; user: UserAuth | undefined; state?: TokenState }> {
    const now = this.now();
    let claims: TokenClaims;
    try {
      claims = this.tokens.check(raw, expected, now);
    } catch (err) {
      throw toApiError(err) ?? err;
    }
    const user = checkUser ? await this.tokenUser(claims) : await this.revocationOnly(claims);
    let state: TokenState | undefined;
    if (claims.token_type !== 'access') {
      state = await this.storage.getTokenState(claims.jti);
      // A rotated-out token presented again for refreshing is the caller's to
      // judge (refresh: a retry, or reuse). Verify only reports; it never changes state.
      if (state?.blacklisted && !(state.blacklisted === 'rotated' && onReuse === 'retry')) {
        throw new ApiError('token_not_valid', TOKEN_MESSAGES.blacklisted);
      }
    }
    return state ? { claims, user, state } : { claims, user };
  }

  /**
   * SimpleJWT's own check of a token's user, which is none: a gone or
   * inactive user's token still holds. Only latchkey's revocation of every
   * token before a time (a password reset, logout everywhere) is kept.
   */
  private async revocationOnly(claims: TokenClaims): Promise<UserAuth | undefined> {
    const user = await this.userAuthOf(claims);
    if (user && revokedFor(user, claims)) throw new ApiError('token_not_valid', TOKEN_MESSAGES.blacklisted);
    return user;
  }

  /**
   * SimpleJWT's refresh: a new access token, and with rotation a new refresh
   * token too. `checkUser: false` does not look at the token's user (see revocationOnly).
   */
  async refresh(
    raw: string,
    opts: { rotate: boolean; checkUser?: boolean; claims?: readonly ClaimField[] | undefined },
    client: Client = LOCAL_CLIENT,
  ): Promise<{ access: string; refresh?: string }> {
    await this.throttle.hit('refresh', client.address);
    const mintedAt = mintClock(); // before the reads, as a login's (see login)
    const { claims, user, state } = await this.checkToken(raw, 'refresh', 'retry', opts.checkUser ?? true);
    const now = this.now();
    const family = familyOf(claims, state);
    if (state?.blacklisted === 'rotated') return this.retryRotation(raw, claims.jti, family.familyId, now);
    const familyEnd = family.familyIssuedAt + this.o.refreshFamilyLifetime;
    // A login's family has an absolute end that neither rotation nor a long-lived token passes.
    if (familyEnd <= now) throw new ApiError('token_not_valid', TOKEN_MESSAGES.invalid);
    const userId = userIdOf(claims, user);
    // The custom claims, as the user is now (core.ts, freshClaims).
    const extra = await this.freshClaims(userId, claims, opts.claims ?? this.defaultClaims);
    const access = this.tokens.access(claims.user_id, now, mintedAt, extra).token;
    if (!opts.rotate) {
      // The session's last use, to the minute: a write (and an fsync) on every
      // refresh cost ten times the rest of it. A token never recorded here is
      // always written, so that its login becomes a listed session.
      // (rotate() below notes the use inside its own transaction.)
      if (!state || (this.lastTouched.get(family.familyId) ?? -Infinity) <= now - SESSION_TOUCH_SECONDS) {
        await this.storage.touchSession(outstanding(claims, family, now, userId), now);
        this.lastTouched.set(family.familyId, now);
      }
      this.emit('refresh');
      return { access };
    }

    const next = this.tokens.refresh(claims.user_id, now, familyEnd, mintedAt, extra);
    const pair = { access, refresh: next.token };
    const successor = this.reuseInterval > 0 ? { jti: next.claims.jti, sealed: sealSuccessor(pair, raw) } : undefined;
    const won = await this.storage.rotate(
      outstanding(claims, family, now, userId),
      outstanding(next.claims, family, now, userId),
      now,
      successor,
    );
    // Another request consumed this token first: the same as presenting it again.
    if (!won) return this.retryRotation(raw, claims.jti, family.familyId, now);
    this.emit('refresh');
    return pair;
  }

  private get reuseInterval(): number {
    return this.o.rotationReuseInterval ?? 0;
  }

  /**
   * A rotated-out refresh token presented again. Within the reuse interval of
   * its rotation, while the successor that rotation minted is still live, it
   * is a retry (a response lost on the way, two tabs refreshing at once): the
   * caller gets the pair the rotation answered, the same tokens. Otherwise two
   * holders have the token: its family is revoked.
   */
  private async retryRotation(raw: string, jti: string, familyId: string, now: number): Promise<{ access: string; refresh: string }> {
    const kept = this.reuseInterval > 0 ? await this.storage.getSuccessor(jti) : undefined;
    if (kept && now - kept.rotatedAt < this.reuseInterval) {
      const pair = openSuccessor(kept.sealed, raw);
      const next = pair && (await this.storage.getTokenState(kept.jti));
      if (pair && next && !next.blacklisted) {
        this.emit('refresh');
        return pair;
      }
    }
    this.emit('reuse_detected');
    await this.storage.revokeFamily(familyId, 'reuse', now);
    throw new ApiError('token_not_valid', TOKEN_MESSAGES.blacklisted);
  }

  /** SimpleJWT's verify, plus what it misses: blacklisted tokens and gone or inactive users. */
  async verify(raw: string, client: Client = LOCAL_CLIENT, opts: { checkUser?: boolean } = {}): Promise<void> {
    await this.throttle.hit('verify', client.address);
    await this.checkToken(raw, undefined, 'report', opts.checkUser ?? true);
  }

  /**
   * Blacklists a refresh token (logout), or with `type: 'sliding'` a sliding
   * token (SimpleJWT's blacklist view takes refresh tokens only; its
   * SlidingToken.blacklist() has no view). A token already blacklisted is refused.
   */
  async blacklist(raw: string, type: 'refresh' | 'sliding' = 'refresh'): Promise<void> {
    const { claims, user, state } = await this.checkToken(raw, type);
    const now = this.now();
    const token = outstanding(claims, familyOf(claims, state), now, userIdOf(claims, user), this.tokens.lastExpiry(claims));
    const won = await this.storage.blacklist(token, 'logout', now);
    if (!won) throw new ApiError('token_not_valid', TOKEN_MESSAGES.blacklisted);
  }

  /**
   * Authenticates an Authorization header value as SimpleJWT's JWTAuthentication
   * does. Returns undefined when there are no credentials of our scheme.
   */
  async authenticate(header: string | undefined, types?: readonly string[]): Promise<UserAuth | undefined> {
    const claims = this.accessClaims(header, types);
    if (claims?.token_type === 'sliding') return this.slidingUser(claims);
    return claims && this.tokenUser(claims);
  }

  /** A sliding token as a Bearer token: SlidingToken checks the blacklist (before its user is looked up). */
  private async slidingUser(claims: TokenClaims): Promise<UserAuth> {
    const state = await this.storage.getTokenState(claims.jti);
    if (state?.blacklisted) throw this.headerError(new TokenError(TOKEN_MESSAGES.blacklisted), undefined, 'sliding');
    return this.tokenUser(claims);
  }

  /** SimpleJWT's AUTH_TOKEN_CLASSES (LATCHKEY_AUTH_TOKEN_CLASSES). */
  private get authClasses(): readonly ('access' | 'sliding')[] {
    return this.o.authTokenClasses ?? ['access'];
  }

  /** What checkClaims is asked for on a protected route: `access` by default (one string, as before). */
  private readonly authExpected: TokenType | readonly TokenType[] =
    this.o.authTokenClasses === undefined || this.o.authTokenClasses.length === 0
      ? 'access'
      : this.o.authTokenClasses.length === 1
        ? this.o.authTokenClasses[0]!
        : this.o.authTokenClasses;

  /**
   * JWTAuthentication's answer when no token class takes the token: each
   * class's reason under `messages`, in AUTH_TOKEN_CLASSES's order. With one
   * class, its reason is `err`'s. With several, `err` is `failed`'s reason (a
   * token of that type, so of the wrong type for the others), or, with no
   * `failed`, each class is asked again (a failure costs that, never a success).
   */
  private headerError(err: unknown, raw: string | undefined, failed?: 'access' | 'sliding'): unknown {
    if (!(err instanceof TokenError)) return toApiError(err, 'header') ?? err;
    const classes = this.authClasses;
    const messages: TokenMessage[] = classes.map((c) => {
      let message: string = err.message;
      if (classes.length > 1 && c !== failed) {
        if (failed !== undefined || raw === undefined) message = TOKEN_MESSAGES.wrongType;
        else {
          try {
            this.tokens.check(raw, c, this.now());
          } catch (e) {
            if (e instanceof TokenError) message = e.message;
          }
        }
      }
      return { token_class: TOKEN_CLASS[c], token_type: c, message };
    });
    return new ApiError('token_not_valid', MESSAGES.tokenNotValidForAnyType, { messages });
  }

  /**
   * authenticate() without waiting when it can: when the token's user is in
   * the storage's cache (a user read in the last two seconds, its TTL), the
   * answer comes back at once, else as a promise. Throws what authenticate() rejects with.
   * The route most requests take answers without a single await this way.
   */
  authenticateNow(header: string | undefined, types?: readonly string[]): UserAuth | undefined | Promise<UserAuth | undefined> {
    const claims = this.accessClaims(header, types);
    if (!claims) return undefined;
    if (typeof claims.user_id !== 'number' || claims.token_type === 'sliding') return this.authenticateSlow(claims);
    const cached = this.storage.cachedUserAuth(claims.user_id);
    return cached ? this.checkUser(cached, claims) : this.tokenUser(claims);
  }

  /**
   * authenticateNow()'s answer when it is a caller found at once (an access
   * token whose user is cached and neither inactive nor revoked), else
   * undefined: never a promise and never a throw. For http/fast-lane.ts, which
   * leaves any other request to the route, where authenticateNow() decides.
   * `memo`: the connection's, to take its last header's claims again (header-memo.ts).
   */
  cachedCaller(header: string, types?: readonly string[], memo?: HeaderMemo): UserAuth | undefined {
    try {
      const claims = memo ? memo.claims(header, types, this.tokens, this.now(), this.headerClaims) : this.accessClaims(header, types);
      if (!claims || typeof claims.user_id !== 'number' || claims.token_type === 'sliding') return undefined;
      const cached = this.storage.cachedUserAuth(claims.user_id);
      return cached && this.checkUser(cached, claims);
    } catch {
      return undefined; // refused: the route says why
    }
  }

  private readonly headerClaims = (header: string, types: readonly string[] | undefined) => this.accessClaims(header, types);

  private authenticateSlow(claims: TokenClaims): Promise<UserAuth> {
    return claims.token_type === 'sliding' ? this.slidingUser(claims) : this.tokenUser(claims);
  }

  /**
   * The claims of the token in an Authorization header (an access token, or
   * whatever LATCHKEY_AUTH_TOKEN_CLASSES lists); undefined if it has no Bearer credentials.
   */
  private accessClaims(header: string | undefined, types: readonly string[] = [AUTH_SCHEME]): TokenClaims | undefined {
    if (header === undefined) return undefined;
    const scheme = `${types[0]} `;
    // The usual "Bearer <token>" first, without taking the header apart: a
    // token that verifies has no whitespace in it (fast-jwt takes only
    // base64url segments), so the header had exactly SimpleJWT's two parts.
    let failure: { err: unknown } | undefined;
    if (header.startsWith(scheme) && header.length > scheme.length) {
      try {
        return this.tokens.check(header.slice(scheme.length), this.authExpected, this.now());
      } catch (err) {
        failure = { err };
      }
    }
    // SimpleJWT splits the header as bytes: on ASCII whitespace only.
    const parsed = parseAuthorization(header, types);
    if (parsed.kind === 'none') return undefined;
    if (parsed.kind === 'malformed') throw new ApiError('bad_authorization_header');
    try {
      if (failure !== undefined && parsed.token === header.slice(scheme.length)) throw failure.err;
      return this.tokens.check(parsed.token, this.authExpected, this.now());
    } catch (err) {
      throw this.headerError(err, parsed.token);
    }
  }
}

/** The id of a token's user: the user found, else (a user who is gone) the token's user_id if it is an id. */
function userIdOf(claims: TokenClaims, user: UserAuth | undefined): number | null {
  return user?.id ?? (typeof claims.user_id === 'number' ? claims.user_id : null);
}
