// The service layer: every operation the presets mount, with no HTTP in it.
// Failures are ApiErrors carrying a code from the error table; the HTTP layer
// (or the CLI) decides how to show them.
import validator from 'validator';
import { LRUCache } from 'lru-cache';
import { ApiError, FIELD_MESSAGES, toApiError, UniqueViolationError, type FieldErrors } from './errors.js';
import { codePoints, MAX_PASSWORD_LENGTH, type PasswordHasher } from './passwords.js';
import { passwordErrors } from './password-policy.js';
import type {
  OutstandingToken,
  SessionMeta,
  SessionRecord,
  Storage,
  TokenState,
  UserAuth,
  UserPatch,
  UserRecord,
} from './storage/types.js';
import { TOKEN_MESSAGES, type Claims, type TokenFactory, type TokenType } from './tokens.js';
import { parseAuthorization } from './wire.js';
import { NO_THROTTLE, type Throttle } from './throttle.js';
import { birthdateErrors, collect, emailErrors, isE164, normalizeUsername, usernameErrors } from './validation.js';

export interface TokenPair {
  refresh: string;
  access: string;
}

/** How a login finds its user. */
export type Lookup = 'username' | 'phone' | 'username_or_phone';

export interface ProfileInput {
  email?: string | undefined;
  phone_number?: string | undefined;
  first_name?: string | undefined;
  last_name?: string | undefined;
  address?: string | undefined;
  postal_code?: string | undefined;
  birthdate?: string | undefined;
}

/** What a user may change of their own profile; null clears a nullable field. */
export interface ProfilePatch {
  email?: string | undefined;
  phone_number?: string | null | undefined;
  first_name?: string | undefined;
  last_name?: string | undefined;
  address?: string | undefined;
  postal_code?: string | undefined;
  birthdate?: string | null | undefined;
  profile_image?: string | null | undefined;
}

/**
 * A user as the account endpoints and the CLI show it: SPEC §4's fields, the
 * times in ISO 8601 as DRF's DateTimeField writes them, and never the password.
 */
export type Profile = Omit<UserRecord, 'password' | 'tokens_valid_after' | 'date_joined' | 'last_login'> & {
  date_joined: string;
  last_login: string | null;
};

/** A session as it is shown: its opaque id and its client, never a token or a jti. */
export interface SessionView {
  id: number;
  created_at: string;
  last_used_at: string;
  user_agent: string;
  ip_address: string;
}

export interface RegisterInput extends ProfileInput {
  username: string;
  password: string;
}

export interface RegisterOptions {
  requirePhone?: boolean;
  /** Logins here accept a phone number, so a username shaped like one would be ambiguous. */
  phoneLogin?: boolean;
  /**
   * Django's validators run on every registration from the API. An operator's
   * non-interactive createuser skips them, as Django's `createsuperuser
   * --noinput` does; the length bounds still hold.
   */
  passwordPolicy?: boolean;
  /** Only the CLI sets this. */
  staff?: boolean;
}

export interface ServiceOptions {
  /** Seconds since the epoch, as an integer. Tests pass a frozen clock. */
  now?: () => number;
  /** Longest a rotation family may live from its first login, in seconds. */
  refreshFamilyLifetime: number;
  /** Brute-force and abuse limits; none when omitted. */
  throttle?: Throttle;
  /** Told of every authentication event, for metrics. Must not throw. */
  onEvent?: (event: AuthEvent) => void;
}

/** What the service reports as it works (the metrics count these). */
export type AuthEvent = 'login_succeeded' | 'login_failed' | 'login_throttled' | 'refresh' | 'reuse_detected';

/**
 * Who is asking: the client's network address, for per-address limits, and its
 * User-Agent, which a login records on its session. Plain strings: the HTTP
 * layer fills them in.
 */
export interface Client {
  address: string;
  userAgent?: string | undefined;
}

/** Used where no network client exists (the CLI, tests of the service alone). */
export const LOCAL_CLIENT: Client = { address: '127.0.0.1' };

const systemNow = () => Math.floor(Date.now() / 1000);
/** A session's last use is written at most this often by a refresh without rotation. */
const SESSION_TOUCH_SECONDS = 60;
const today = (now: number) => new Date(now * 1000).toISOString().slice(0, 10);

/** Seconds since the epoch as DRF writes a UTC datetime: 2024-05-17T09:30:00Z. */
export const isoTime = (seconds: number): string => new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');

export function profileOf(u: UserRecord): Profile {
  return {
    id: u.id,
    username: u.username,
    email: u.email,
    phone_number: u.phone_number,
    first_name: u.first_name,
    last_name: u.last_name,
    address: u.address,
    postal_code: u.postal_code,
    birthdate: u.birthdate,
    profile_image: u.profile_image,
    is_active: u.is_active,
    is_staff: u.is_staff,
    is_superuser: u.is_superuser,
    date_joined: isoTime(u.date_joined),
    last_login: u.last_login === null ? null : isoTime(u.last_login),
  };
}

export function sessionOf(s: SessionRecord): SessionView {
  return {
    id: s.id,
    created_at: isoTime(s.createdAt),
    last_used_at: isoTime(s.lastUsedAt),
    user_agent: s.userAgent,
    ip_address: s.address,
  };
}

/** Client details as a session records them, cut to the columns' lengths. */
const sessionMeta = (client: Client): SessionMeta => ({
  userAgent: (client.userAgent ?? '').slice(0, 255),
  address: client.address.slice(0, 64),
});

/** Django's PasswordChangeForm wording. */
const WRONG_OLD_PASSWORD = 'Your old password was entered incorrectly. Please enter it again.';
/** DRF's URLField wording. */
const INVALID_URL = 'Enter a valid URL.';

export class AuthService {
  readonly now: () => number;
  readonly throttle: Throttle;
  private readonly emit: (event: AuthEvent) => void;
  /** When this process last wrote each session's last use (see refresh). */
  private readonly lastTouched = new LRUCache<string, number>({ max: 100_000 });

  constructor(
    readonly storage: Storage,
    readonly tokens: TokenFactory,
    readonly hasher: PasswordHasher,
    private readonly o: ServiceOptions,
  ) {
    this.now = o.now ?? systemNow;
    this.throttle = o.throttle ?? NO_THROTTLE;
    this.emit = o.onEvent ?? (() => {});
  }

  // ---- login -------------------------------------------------------------

  private async findForLogin(login: string, lookup: Lookup): Promise<UserRecord | undefined> {
    if (lookup === 'phone') return this.storage.getUserByPhone(login);
    if (lookup === 'username_or_phone' && isE164(login)) {
      // A phone number names its owner first, so nobody can claim another
      // user's phone login by registering that number as a username.
      return (await this.storage.getUserByPhone(login)) ?? this.storage.getUserByUsername(normalizeUsername(login));
    }
    return this.storage.getUserByUsername(normalizeUsername(login));
  }

  /**
   * Checks credentials. An unknown user costs one dummy hash, as a wrong
   * password does, and an inactive user is refused only after the hash, so
   * neither timing nor answer tells which accounts exist.
   */
  async authenticateCredentials(
    login: string,
    password: string,
    lookup: Lookup,
    client: Client = LOCAL_CLIENT,
  ): Promise<UserRecord> {
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

  async login(login: string, password: string, lookup: Lookup, client: Client = LOCAL_CLIENT): Promise<TokenPair> {
    const user = await this.authenticateCredentials(login, password, lookup, client);
    return this.issuePair(user.id, this.now(), client, { lastLogin: true });
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
    opts: { lastLogin?: boolean } = {},
  ): Promise<TokenPair> {
    const refresh = this.tokens.refresh(userId, now, now + this.o.refreshFamilyLifetime);
    await this.storage.startSession(
      outstanding(refresh.claims, { familyId: refresh.claims.jti, familyIssuedAt: now }, now),
      sessionMeta(client),
      opts,
    );
    return { refresh: refresh.token, access: this.tokens.access(userId, now).token };
  }

  // ---- registration ------------------------------------------------------

  /**
   * Creates a user from untrusted input. Only the fields named in RegisterInput
   * are read: is_staff, is_superuser, is_active and id can never be set here.
   */
  async register(input: RegisterInput, opts: RegisterOptions = {}, client?: Client): Promise<UserRecord> {
    if (client) await this.throttle.hit('register', client.address);
    const username = normalizeUsername(input.username.trim());
    const attributes = { username, first_name: input.first_name, last_name: input.last_name, email: input.email };
    const errors: Record<string, string[]> = {
      username:
        username === ''
          ? [FIELD_MESSAGES.blank]
          : opts.phoneLogin && isE164(username)
            ? [FIELD_MESSAGES.usernameIsPhone]
            : usernameErrors(username),
      password:
        opts.passwordPolicy === false
          ? boundsErrors(input.password)
          : passwordErrors(input.password, attributes),
      ...this.profileErrors(input, opts.requirePhone ?? false),
    };
    const fields = collect(errors);
    if (fields) throw ApiError.fields(fields);
    // Checked before hashing so a taken name answers fast and costs no hash.
    if (await this.storage.getUserByUsername(username)) throw takenError('username');
    if (
      input.phone_number &&
      ((await this.storage.getUserByPhone(input.phone_number)) ||
        // A phone number that is someone's username would make logins by it ambiguous.
        (await this.storage.getUserByUsername(input.phone_number)))
    ) {
      throw takenError('phone_number');
    }
    const password = await this.hashOrBusy(input.password);
    try {
      return await this.storage.createUser({
        username,
        password,
        email: (input.email ?? '').trim(),
        phone_number: input.phone_number || null,
        first_name: (input.first_name ?? '').trim(),
        last_name: (input.last_name ?? '').trim(),
        address: (input.address ?? '').trim(),
        postal_code: (input.postal_code ?? '').trim(),
        birthdate: input.birthdate || null,
        profile_image: null,
        is_active: true,
        is_staff: opts.staff ?? false,
        is_superuser: false,
        date_joined: this.now(),
      });
    } catch (err) {
      // Lost a race with a concurrent registration of the same name or phone.
      if (err instanceof UniqueViolationError) throw takenError(err.field);
      throw err;
    }
  }

  private profileErrors(p: ProfileInput, requirePhone: boolean): FieldErrors {
    const out: FieldErrors = {};
    if (p.email !== undefined) out.email = emailErrors(p.email.trim());
    if (p.phone_number !== undefined && p.phone_number !== '') {
      out.phone_number = isE164(p.phone_number) ? [] : [FIELD_MESSAGES.phone];
    } else if (requirePhone) out.phone_number = [p.phone_number === '' ? FIELD_MESSAGES.blank : FIELD_MESSAGES.required];
    if (p.birthdate !== undefined && p.birthdate !== '') out.birthdate = birthdateErrors(p.birthdate, today(this.now()));
    return out;
  }

  private async hashOrBusy(password: string): Promise<string> {
    try {
      return await this.hasher.hash(password);
    } catch (err) {
      throw toApiError(err) ?? err;
    }
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
    onReuse: 'revoke-family' | 'report' = 'report',
  ): Promise<{ claims: Claims; user: UserAuth; state?: TokenState }> {
    const now = this.now();
    let claims: Claims;
    try {
      claims = this.tokens.check(raw, expected, now);
    } catch (err) {
      throw toApiError(err) ?? err;
    }
    const user = await this.tokenUser(claims);
    let state: TokenState | undefined;
    if (claims.token_type === 'refresh') {
      state = await this.storage.getTokenState(claims.jti);
      if (state?.blacklisted) {
        // A rotated-out token presented again for refreshing means two holders:
        // revoke the family. Verify only reports; it never changes state.
        if (state.blacklisted === 'rotated' && onReuse === 'revoke-family') {
          this.emit('reuse_detected');
          await this.storage.revokeFamily(state.familyId, 'reuse', now);
        }
        throw new ApiError('token_not_valid', TOKEN_MESSAGES.blacklisted);
      }
    }
    return state ? { claims, user, state } : { claims, user };
  }

  /** The user a token names must still exist, be active, and not have revoked tokens this old. */
  private async tokenUser(claims: Claims): Promise<UserAuth> {
    return this.checkUser(await this.storage.getUserAuth(claims.user_id), claims);
  }

  private checkUser(user: UserAuth | undefined, claims: Claims): UserAuth {
    if (!user) throw new ApiError('user_not_found');
    if (!user.is_active) throw new ApiError('user_inactive');
    if (user.tokens_valid_after !== null && claims.iat < user.tokens_valid_after) {
      throw new ApiError('token_not_valid', TOKEN_MESSAGES.blacklisted);
    }
    return user;
  }

  /** SimpleJWT's refresh: a new access token, and with rotation a new refresh token too. */
  async refresh(raw: string, opts: { rotate: boolean }, client: Client = LOCAL_CLIENT): Promise<{ access: string; refresh?: string }> {
    await this.throttle.hit('refresh', client.address);
    const { claims, user, state } = await this.checkToken(raw, 'refresh', 'revoke-family');
    const now = this.now();
    const family = familyOf(claims, state);
    const familyEnd = family.familyIssuedAt + this.o.refreshFamilyLifetime;
    // A login's family has an absolute end that neither rotation nor a long-lived token passes.
    if (familyEnd <= now) throw new ApiError('token_not_valid', TOKEN_MESSAGES.invalid);
    const access = this.tokens.access(user.id, now).token;
    if (!opts.rotate) {
      // The session's last use, to the minute: a write (and an fsync) on every
      // refresh cost ten times the rest of it. A token never recorded here is
      // always written, so that its login becomes a listed session.
      // (rotate() below notes the use inside its own transaction.)
      if (!state || (this.lastTouched.get(family.familyId) ?? -Infinity) <= now - SESSION_TOUCH_SECONDS) {
        await this.storage.touchSession(outstanding(claims, family, now), now);
        this.lastTouched.set(family.familyId, now);
      }
      this.emit('refresh');
      return { access };
    }

    const next = this.tokens.refresh(user.id, now, familyEnd);
    const won = await this.storage.rotate(outstanding(claims, family, now), outstanding(next.claims, family, now), now);
    if (!won) {
      // Another request consumed this token first: that is reuse too.
      this.emit('reuse_detected');
      await this.storage.revokeFamily(family.familyId, 'reuse', now);
      throw new ApiError('token_not_valid', TOKEN_MESSAGES.blacklisted);
    }
    this.emit('refresh');
    return { access, refresh: next.token };
  }

  /** SimpleJWT's verify, plus what it misses: blacklisted tokens and gone or inactive users. */
  async verify(raw: string, client: Client = LOCAL_CLIENT): Promise<void> {
    await this.throttle.hit('verify', client.address);
    await this.checkToken(raw, undefined);
  }

  /** Blacklists a refresh token (logout). A token already blacklisted is refused. */
  async blacklist(raw: string): Promise<void> {
    const { claims, state } = await this.checkToken(raw, 'refresh');
    const now = this.now();
    const won = await this.storage.blacklist(outstanding(claims, familyOf(claims, state), now), 'logout', now);
    if (!won) throw new ApiError('token_not_valid', TOKEN_MESSAGES.blacklisted);
  }

  /**
   * Authenticates an Authorization header value as SimpleJWT's JWTAuthentication
   * does. Returns undefined when there are no credentials of our scheme.
   */
  async authenticate(header: string | undefined): Promise<UserAuth | undefined> {
    const claims = this.accessClaims(header);
    return claims && this.tokenUser(claims);
  }

  /**
   * authenticate() without waiting when it can: when the token's user is in
   * the storage's cache (a user read in the last two seconds, its TTL), the
   * answer comes back at once, else as a promise. Throws what authenticate() rejects with.
   * The route most requests take answers without a single await this way.
   */
  authenticateNow(header: string | undefined): UserAuth | undefined | Promise<UserAuth | undefined> {
    const claims = this.accessClaims(header);
    if (!claims) return undefined;
    const cached = this.storage.cachedUserAuth(claims.user_id);
    return cached ? this.checkUser(cached, claims) : this.tokenUser(claims);
  }

  /** The claims of the access token in an Authorization header; undefined if it has no Bearer credentials. */
  private accessClaims(header: string | undefined): Claims | undefined {
    if (header === undefined) return undefined;
    // The usual "Bearer <token>" first, without taking the header apart: a
    // token that verifies has no whitespace in it (fast-jwt takes only
    // base64url segments), so the header had exactly SimpleJWT's two parts.
    let failure: unknown;
    if (header.startsWith('Bearer ') && header.length > 7) {
      try {
        return this.tokens.check(header.slice(7), 'access', this.now());
      } catch (err) {
        failure = err;
      }
    }
    // SimpleJWT splits the header as bytes: on ASCII whitespace only.
    const parsed = parseAuthorization(header);
    if (parsed.kind === 'none') return undefined;
    if (parsed.kind === 'malformed') throw new ApiError('bad_authorization_header');
    try {
      if (failure !== undefined && parsed.token === header.slice(7)) throw failure;
      return this.tokens.check(parsed.token, 'access', this.now());
    } catch (err) {
      throw toApiError(err, 'header') ?? err;
    }
  }

  // ---- the account endpoints: a signed-in user's own account ----------------

  /** The signed-in user's full record (authenticate() returns only the auth columns). */
  async account(auth: UserAuth): Promise<UserRecord> {
    const user = await this.storage.getUserById(auth.id);
    if (!user) throw new ApiError('user_not_found');
    return user;
  }

  /**
   * Changes a user's own profile. Only the fields of ProfilePatch are read, so
   * id, username, is_active, is_staff, is_superuser and the dates cannot be set
   * here; they are validated as registration validates them.
   */
  async updateProfile(user: UserRecord, patch: ProfilePatch): Promise<UserRecord> {
    const blankToNull = (v: string | null | undefined) => (v === undefined ? undefined : v === null || v === '' ? null : v);
    const phone = blankToNull(patch.phone_number);
    const birthdate = blankToNull(patch.birthdate);
    const image = blankToNull(patch.profile_image);
    const errors: FieldErrors = {
      ...this.profileErrors(
        {
          email: patch.email,
          phone_number: phone ?? undefined,
          birthdate: birthdate ?? undefined,
        },
        false,
      ),
    };
    if (image) {
      errors.profile_image = validator.isURL(image, { protocols: ['http', 'https'], require_protocol: true }) ? [] : [INVALID_URL];
    }
    const fields = collect(errors);
    if (fields) throw ApiError.fields(fields);

    const changes: UserPatch = {};
    for (const f of ['email', 'first_name', 'last_name', 'address', 'postal_code'] as const) {
      const v = patch[f];
      if (v !== undefined) changes[f] = v.trim();
    }
    if (birthdate !== undefined) changes.birthdate = birthdate;
    if (image !== undefined) changes.profile_image = image;
    if (phone !== undefined && phone !== user.phone_number) {
      if (phone !== null) {
        const owner = (await this.storage.getUserByPhone(phone)) ?? (await this.storage.getUserByUsername(phone));
        if (owner && owner.id !== user.id) throw phoneTaken();
      }
      changes.phone_number = phone;
    }
    try {
      const updated = await this.storage.updateUser(user.id, changes);
      if (!updated) throw new ApiError('user_not_found');
      return updated;
    } catch (err) {
      // Lost a race with someone else taking the number.
      if (err instanceof UniqueViolationError) throw phoneTaken();
      throw err;
    }
  }

  /**
   * A user changes their own password: the old one must match (a wrong one
   * counts against the account as a failed login does), the new one passes the
   * registration validators, and then every refresh token of the user is
   * revoked and every access token issued before now refused, as setPassword
   * does. Access tokens name no session, so "every other session" cannot be
   * told apart from the caller's: the caller gets a fresh pair, a new session,
   * in the answer.
   */
  async changePassword(user: UserRecord, oldPassword: string, newPassword: string, client: Client = LOCAL_CLIENT): Promise<TokenPair> {
    const account = user.username.toLowerCase();
    await this.throttle.beforeLogin(client.address, account);
    let ok = false;
    if (codePoints(oldPassword) <= MAX_PASSWORD_LENGTH) {
      try {
        ok = await this.hasher.verify(user.password, oldPassword);
      } catch (err) {
        throw toApiError(err) ?? err;
      }
    }
    if (ok) await this.throttle.loginSucceeded(account);
    else await this.throttle.loginFailed(client.address, account);
    const fields = collect({
      old_password: ok ? [] : [WRONG_OLD_PASSWORD],
      new_password: newPasswordErrors(user, newPassword),
    });
    if (fields) throw ApiError.fields(fields);
    const now = await this.storePassword(user.id, newPassword);
    return this.issuePair(user.id, now, client);
  }

  /** The user's live sessions, the most recently used first. */
  async sessions(userId: number): Promise<SessionRecord[]> {
    return this.storage.listSessions({ userId }, this.now());
  }

  /**
   * Ends one session: every refresh token of its family is blacklisted. Its
   * access tokens, which name no family, live out their few minutes. With
   * `userId`, a session of anyone else is not found, exactly as a missing one.
   */
  async revokeSession(sessionId: number, userId?: number): Promise<void> {
    const now = this.now();
    const session = await this.storage.getSession(sessionId, now);
    if (!session || (userId !== undefined && session.userId !== userId)) throw new ApiError('not_found');
    await this.storage.revokeFamily(session.familyId, userId !== undefined ? 'logout' : 'revoked', now);
  }

  /**
   * Logs a user out everywhere: every refresh token is blacklisted, and access
   * tokens issued before now are refused at once (as after a password change).
   */
  async logoutAll(userId: number): Promise<void> {
    const now = this.now();
    await this.storage.updateUser(userId, { tokens_valid_after: now });
    await this.storage.revokeUserTokens(userId, 'logout', now);
  }

  // ---- account administration (the CLI) ------------------------------------

  /**
   * Sets a new password, checked by the same validators as registration, and
   * revokes every token issued before it.
   */
  async setPassword(user: UserRecord, password: string): Promise<void> {
    const errors = newPasswordErrors(user, password);
    if (errors.length) throw ApiError.fields({ password: errors });
    await this.storePassword(user.id, password);
  }

  /** Hashes and stores a password, revoking every earlier token; returns the time it took effect. */
  private async storePassword(userId: number, password: string): Promise<number> {
    const encoded = await this.hashOrBusy(password);
    const now = this.now();
    await this.storage.updateUser(userId, { password: encoded, tokens_valid_after: now });
    await this.storage.revokeUserTokens(userId, 'revoked', now);
    return now;
  }

  /** Deletes a user, revoking their refresh tokens first (the blacklist records outlive the user). */
  async deleteUser(userId: number): Promise<boolean> {
    await this.storage.revokeUserTokens(userId, 'revoked', this.now());
    return this.storage.deleteUser(userId);
  }

  /** Activates or deactivates a user; deactivating revokes every refresh token. */
  async setActive(userId: number, active: boolean): Promise<void> {
    const now = this.now();
    await this.storage.updateUser(userId, active ? { is_active: true } : { is_active: false, tokens_valid_after: now });
    if (!active) await this.storage.revokeUserTokens(userId, 'revoked', now);
  }

  flushExpired(): Promise<number> {
    return this.storage.flushExpired(this.now());
  }
}

/** Django's validators on a user's new password, the user's own attributes among them. */
function newPasswordErrors(user: UserRecord, password: string): string[] {
  const { username, first_name, last_name, email } = user;
  return passwordErrors(password, { username, first_name, last_name, email });
}

function boundsErrors(password: string): string[] {
  if (password === '') return [FIELD_MESSAGES.blank];
  return codePoints(password) > MAX_PASSWORD_LENGTH ? [FIELD_MESSAGES.maxLength(MAX_PASSWORD_LENGTH)] : [];
}

/** A taken phone number on a profile update: a plain DRF field error, as a UniqueValidator raises. */
const phoneTaken = () => ApiError.fields({ phone_number: [FIELD_MESSAGES.phoneTaken] });

function takenError(field: 'username' | 'phone_number'): ApiError {
  return field === 'username'
    ? new ApiError('username_taken', undefined, { fields: { username: [FIELD_MESSAGES.usernameTaken] } })
    : new ApiError('phone_taken', undefined, { fields: { phone_number: [FIELD_MESSAGES.phoneTaken] } });
}

function familyOf(claims: Claims, state: TokenState | undefined) {
  // A token we never recorded (minted by SimpleJWT before a cut-over) starts its own family.
  return { familyId: state?.familyId ?? claims.jti, familyIssuedAt: state?.familyIssuedAt ?? claims.iat };
}

function outstanding(
  claims: Claims,
  family: { familyId: string; familyIssuedAt: number },
  now: number,
): OutstandingToken {
  return {
    jti: claims.jti,
    userId: claims.user_id,
    familyId: family.familyId,
    familyIssuedAt: family.familyIssuedAt,
    createdAt: claims.iat || now,
    expiresAt: claims.exp,
  };
}
