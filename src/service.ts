// The service layer: every operation the presets mount, with no HTTP in it.
// Failures are ApiErrors carrying a code from the error table; the HTTP layer
// (or the CLI) decides how to show them.
import { ApiError, FIELD_MESSAGES, UniqueViolationError, type FieldErrors } from './errors.js';
import { codePoints, HasherBusyError, MAX_PASSWORD_LENGTH, type PasswordHasher } from './passwords.js';
import { passwordErrors } from './password-policy.js';
import type { OutstandingToken, Storage, TokenState, UserAuth, UserRecord } from './storage/types.js';
import { TOKEN_MESSAGES, TokenError, type Claims, type TokenFactory, type TokenType } from './tokens.js';
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

/** Who is asking: the client's network address, for per-address limits. */
export interface Client {
  address: string;
}

/** Used where no network client exists (the CLI, tests of the service alone). */
export const LOCAL_CLIENT: Client = { address: '127.0.0.1' };

const systemNow = () => Math.floor(Date.now() / 1000);
const today = (now: number) => new Date(now * 1000).toISOString().slice(0, 10);

export class AuthService {
  readonly now: () => number;
  readonly throttle: Throttle;
  private readonly emit: (event: AuthEvent) => void;

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
      if (err instanceof HasherBusyError) throw new ApiError('service_unavailable', undefined, { retryAfter: 1 });
      throw err;
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
    const now = this.now();
    await this.storage.updateUser(user.id, { last_login: now });
    return this.issuePair(user.id, now);
  }

  /** A new login: a fresh rotation family whose id is the first refresh token's jti. */
  async issuePair(userId: number, now = this.now()): Promise<TokenPair> {
    const refresh = this.tokens.refresh(userId, now, now + this.o.refreshFamilyLifetime);
    await this.storage.recordOutstanding(
      outstanding(refresh.claims, { familyId: refresh.claims.jti, familyIssuedAt: now }, now),
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
      if (err instanceof HasherBusyError) throw new ApiError('service_unavailable', undefined, { retryAfter: 1 });
      throw err;
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
      if (err instanceof TokenError) throw new ApiError('token_not_valid', err.message);
      throw err;
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
    const user = await this.storage.getUserAuth(claims.user_id);
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
    if (header === undefined) return undefined;
    // SimpleJWT splits the header as bytes: on ASCII whitespace only.
    const parts = header.split(/[ \t\n\r\f\v]+/).filter(Boolean);
    if (parts.length === 0 || parts[0] !== 'Bearer') return undefined;
    if (parts.length !== 2) throw new ApiError('bad_authorization_header');
    let claims: Claims;
    try {
      claims = this.tokens.check(parts[1]!, 'access', this.now());
    } catch (err) {
      if (!(err instanceof TokenError)) throw err;
      throw new ApiError('token_not_valid', 'Given token not valid for any token type', {
        messages: [{ token_class: 'AccessToken', token_type: 'access', message: err.message }],
      });
    }
    return this.tokenUser(claims);
  }

  // ---- account administration (CLI, and later the account endpoints) ------

  /**
   * Sets a new password, checked by the same validators as registration, and
   * revokes every token issued before it.
   */
  async setPassword(user: UserRecord, password: string): Promise<void> {
    const { username, first_name, last_name, email } = user;
    const errors = passwordErrors(password, { username, first_name, last_name, email });
    if (errors.length) throw ApiError.fields({ password: errors });
    const userId = user.id;
    const encoded = await this.hashOrBusy(password);
    const now = this.now();
    await this.storage.updateUser(userId, { password: encoded, tokens_valid_after: now });
    await this.storage.revokeUserTokens(userId, 'revoked', now);
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

function boundsErrors(password: string): string[] {
  if (password === '') return [FIELD_MESSAGES.blank];
  return codePoints(password) > MAX_PASSWORD_LENGTH ? [FIELD_MESSAGES.maxLength(MAX_PASSWORD_LENGTH)] : [];
}

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
