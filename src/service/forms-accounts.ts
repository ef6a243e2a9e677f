// The account flows as dj-rest-auth's serializers read them (7.1.1, with
// django-allauth): a login by username or email, the user details a user may
// change, the password change and reset with two password fields, and the
// registration with password1/password2. Each body is read field by field as
// DRF does (forms.ts), then the cross-field checks run, in dj-rest-auth's
// order and with its (and Django's) wording. No HTTP here.
import { ApiError, FIELD_MESSAGES, UniqueViolationError } from '../errors.js';
import { decodeUid } from '../mail/index.js';
import { passwordErrors } from '../password-policy.js';
import type { UserAuth, UserPatch, UserRecord } from '../storage/types.js';
import type { ClaimField } from '../users/claims.js';
import { mintClock } from '../tokens.js';
import { registrationValues, USER_DEFAULTS } from '../users/fields.js';
import { normalizeUsername } from '../validation.js';
import { AccountLifeService } from './account-life.js';
import { CHAR_RULE, readForm, usernameRule, type FieldRule } from './forms.js';
import { LOCAL_CLIENT, type Client, type Origin, type TokenPair } from './types.js';

export const FORM_FLOW_MESSAGES = {
  badCredentials: 'Unable to log in with provided credentials.',
  mustInclude: 'Must include either "username" or "email" and "password".',
  /** Django's SetPasswordForm (a curly apostrophe). */
  passwordMismatch: 'The two password fields didn\u2019t match.',
  /** dj-rest-auth's RegisterSerializer (a straight one). */
  registerMismatch: "The two password fields didn't match.",
  wrongOldPassword: 'Your old password was entered incorrectly. Please enter it again.',
  /** dj-rest-auth's reset confirm, for a uid or token that does not hold. */
  invalidValue: 'Invalid value',
  usernameTaken: FIELD_MESSAGES.usernameTaken,
} as const;

/** A login or registration: the user and their new token pair. */
export interface SignedIn {
  user: UserRecord;
  tokens: TokenPair;
}

/** DRF's CharField(max_length=128), as dj-rest-auth declares its password fields. */
const PASSWORD_RULE: FieldRule = { max: 128 };
/** DRF's CharField(required=False, allow_blank=True). */
const OPTIONAL_CHAR: FieldRule = { required: false, allowBlank: true };
/** A first or last name: Django's CharField(max_length=150, blank=True). */
const NAME_RULE: FieldRule = { required: false, allowBlank: true, max: 150 };

export class FormAccountService extends AccountLifeService {
  /**
   * dj-rest-auth's LoginSerializer with allauth's LOGIN_METHODS {"username",
   * "email"}: the email names the account when given, else the username. Bad
   * credentials, or an inactive account, are one non-field error (400).
   */
  async loginByForm(body: unknown, client: Client = LOCAL_CLIENT, claims?: readonly ClaimField[]): Promise<SignedIn> {
    const form = await readForm(body, {
      username: OPTIONAL_CHAR,
      email: { kind: 'email', required: false, allowBlank: true },
      password: CHAR_RULE,
    });
    if (form.errors) throw ApiError.fields(form.errors);
    const { username, email, password } = form.values;
    let by: { login: string; lookup: 'email' | 'username' };
    if (email) by = { login: email, lookup: 'email' };
    else if (username) by = { login: username, lookup: 'username' };
    else throw ApiError.fields({ non_field_errors: [FORM_FLOW_MESSAGES.mustInclude] });
    try {
      return await this.signIn(by.login, password!, by.lookup, client, { claims });
    } catch (err) {
      if (err instanceof ApiError && err.code === 'no_active_account') {
        throw ApiError.fields({ non_field_errors: [FORM_FLOW_MESSAGES.badCredentials] });
      }
      throw err;
    }
  }

  /**
   * dj-rest-auth's UserDetailsSerializer: username, first_name and last_name
   * are writable (username required unless `partial`); pk and email are
   * read-only and ignored. Keeping one's own username is not a collision.
   */
  async updateDetails(caller: UserAuth, body: unknown, opts: { partial: boolean }): Promise<UserRecord> {
    const user = await this.account(caller);
    const form = await readForm(body, {
      username: {
        ...usernameRule([async (v) => ((await this.usernameHeldByOther(v, user.id)) ? [FORM_FLOW_MESSAGES.usernameTaken] : [])]),
        required: !opts.partial,
      },
      first_name: NAME_RULE,
      last_name: NAME_RULE,
    });
    if (form.errors) throw ApiError.fields(form.errors);
    const patch: UserPatch = {};
    if (form.values.username !== undefined) patch.username = normalizeUsername(form.values.username);
    if (form.values.first_name !== undefined) patch.first_name = form.values.first_name;
    if (form.values.last_name !== undefined) patch.last_name = form.values.last_name;
    if (Object.keys(patch).length === 0) return user;
    return this.updateOrTaken(user.id, patch, undefined, 'username');
  }

  /**
   * dj-rest-auth's PasswordChangeSerializer: new_password1 and new_password2
   * (and old_password with OLD_PASSWORD_FIELD_ENABLED), then Django's
   * SetPasswordForm. With LOGOUT_ON_PASSWORD_CHANGE off (its default) the
   * user's tokens stay valid.
   */
  async changePasswordByForm(caller: UserAuth, body: unknown, opts: { oldPassword: boolean; client?: Client }): Promise<void> {
    const user = await this.account(caller);
    const client = opts.client ?? LOCAL_CLIENT;
    const fields: Record<string, FieldRule> = {};
    if (opts.oldPassword) {
      fields.old_password = {
        ...PASSWORD_RULE,
        validators: [
          async (given) => {
            const wrong = await this.currentPasswordRule(user, client).validators![0]!(given);
            return wrong.length ? [FORM_FLOW_MESSAGES.wrongOldPassword] : [];
          },
        ],
      };
    }
    fields.new_password1 = PASSWORD_RULE;
    fields.new_password2 = PASSWORD_RULE;
    const form = await readForm(body, fields);
    if (form.errors) throw ApiError.fields(form.errors);
    const password = setPasswordForm(form.values, user);
    const encoded = await this.hashOrBusy(password);
    await this.storage.updateUser(user.id, { password: encoded });
  }

  /** dj-rest-auth's PasswordResetSerializer: mails a reset link to the active accounts with this email, answering the same whatever it is. */
  async requestPasswordReset(body: unknown, origin?: Origin, client?: Client): Promise<void> {
    await this.requestLink('password_reset', body, origin, client);
  }

  /**
   * dj-rest-auth's PasswordResetConfirmSerializer: the four fields, then the
   * uid, then the token, then Django's SetPasswordForm. The new password
   * revokes every earlier token of the user (dj-rest-auth leaves them valid).
   */
  async confirmPasswordResetByForm(body: unknown): Promise<void> {
    const form = await readForm(body, {
      new_password1: PASSWORD_RULE,
      new_password2: PASSWORD_RULE,
      uid: CHAR_RULE,
      token: CHAR_RULE,
    });
    if (form.errors) throw ApiError.fields(form.errors);
    const id = decodeUid(form.values.uid);
    const user = id === undefined ? undefined : await this.storage.getUserById(id);
    if (!user) throw ApiError.fields({ uid: [FORM_FLOW_MESSAGES.invalidValue] });
    const links = this.o.mailer?.links;
    if (!links) throw new ApiError('service_unavailable');
    if (links.check('password_reset', user, form.values.token) !== 'ok') {
      throw ApiError.fields({ token: [FORM_FLOW_MESSAGES.invalidValue] });
    }
    const password = setPasswordForm(form.values, user);
    await this.storePassword(user.id, password);
  }

  /**
   * dj-rest-auth's RegisterSerializer with allauth (username required, email
   * optional, ACCOUNT_EMAIL_VERIFICATION "none"): an active account, signed in.
   */
  async registerByForm(body: unknown, client: Client = LOCAL_CLIENT, claims?: readonly ClaimField[]): Promise<SignedIn> {
    await this.throttle.hit('register', client.address);
    const form = await readForm(body, {
      username: usernameRule([async (v) => ((await this.usernameHeldByOther(v)) ? [FORM_FLOW_MESSAGES.usernameTaken] : [])]),
      email: { kind: 'email', required: false, max: 254 },
      password1: { validators: [(v) => passwordErrors(v)] },
      password2: CHAR_RULE,
    });
    if (form.errors) throw ApiError.fields(form.errors);
    const { password1, password2 } = form.values;
    if (password1 !== password2) throw ApiError.fields({ non_field_errors: [FORM_FLOW_MESSAGES.registerMismatch] });
    const username = normalizeUsername(form.values.username!);
    const email = form.values.email ?? '';
    // allauth checks the password again against the new user (its similarity to the username and email).
    const similar = passwordErrors(password1!, { username, email });
    if (similar.length) throw ApiError.fields({ non_field_errors: similar });
    const encoded = await this.hashOrBusy(password1!);
    const mintedAt = mintClock();
    let user: UserRecord;
    try {
      user = await this.storage.createUser({
        ...USER_DEFAULTS,
        ...registrationValues({ email }),
        username,
        password: encoded,
        is_active: true,
        date_joined: this.now(),
      });
    } catch (err) {
      if (err instanceof UniqueViolationError) throw ApiError.fields({ username: [FORM_FLOW_MESSAGES.usernameTaken] });
      throw err;
    }
    const tokens = await this.issuePair(user, this.now(), client, { lastLogin: true, mintedAt, claims });
    return { user, tokens };
  }

  /** Whether another account than `self` holds this username. */
  private async usernameHeldByOther(value: string, self?: number): Promise<boolean> {
    const holder = await this.storage.getUserByUsername(normalizeUsername(value));
    return holder !== undefined && holder.id !== self;
  }
}

/**
 * Django's SetPasswordForm on new_password1 and new_password2: a mismatch,
 * else the password validators against the user, both on new_password2.
 * Returns the new password.
 */
function setPasswordForm(values: Record<string, string | undefined>, user: UserRecord): string {
  const password = values.new_password1!;
  if (password !== values.new_password2) throw ApiError.fields({ new_password2: [FORM_FLOW_MESSAGES.passwordMismatch] });
  const { username, first_name, last_name, email } = user;
  const weak = passwordErrors(password, { username, first_name, last_name, email });
  if (weak.length) throw ApiError.fields({ new_password2: weak });
  return password;
}
