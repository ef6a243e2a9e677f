// The account operations: registration, a signed-in user's own profile,
// password and sessions, and the administration the CLI does.
import type { ClaimField } from '../users/claims.js';
import validator from 'validator';
import { ApiError, FIELD_MESSAGES, toApiError, UniqueViolationError, type FieldErrors } from '../errors.js';
import { codePoints, MAX_PASSWORD_LENGTH } from '../passwords.js';
import { passwordErrors } from '../password-policy.js';
import type { SessionRecord, UserAuth, UserPatch, UserRecord } from '../storage/types.js';
import { birthdateErrors, collect, emailErrors, isE164, normalizeUsername, usernameErrors } from '../validation.js';
import { registrationValues, USER_DEFAULTS } from '../users/fields.js';
import { TokenService } from './tokens.js';
import {
  LOCAL_CLIENT,
  type Client,
  type ProfileInput,
  type ProfilePatch,
  type RegisterInput,
  type RegisterOptions,
  type TokenPair,
} from './types.js';

const today = (now: number) => new Date(now * 1000).toISOString().slice(0, 10);
/** Django's PasswordChangeForm wording. */
const WRONG_OLD_PASSWORD = 'Your old password was entered incorrectly. Please enter it again.';
/** DRF's URLField wording. */
const INVALID_URL = 'Enter a valid URL.';

export class AccountService extends TokenService {
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
      password: opts.passwordPolicy === false ? boundsErrors(input.password) : passwordErrors(input.password, attributes),
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
        ...USER_DEFAULTS,
        username,
        password,
        ...registrationValues(input),
        is_staff: opts.staff ?? false,
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
  async changePassword(
    user: UserRecord,
    oldPassword: string,
    newPassword: string,
    client: Client = LOCAL_CLIENT,
    opts: { claims?: readonly ClaimField[] | undefined } = {},
  ): Promise<TokenPair> {
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
    return this.issuePair(user.id, now, client, { claims: opts.claims });
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
    await this.revokeAll(userId, {}, 'logout');
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

  /** Deletes a user, revoking their refresh tokens first (the blacklist records outlive the user). */
  async deleteUser(userId: number): Promise<boolean> {
    await this.storage.revokeUserTokens(userId, 'revoked', this.now());
    return this.storage.deleteUser(userId);
  }

  /** Activates or deactivates a user; deactivating revokes every refresh token. */
  async setActive(userId: number, active: boolean): Promise<void> {
    if (active) await this.storage.updateUser(userId, { is_active: true });
    else await this.revokeAll(userId, { is_active: false }, 'revoked');
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
