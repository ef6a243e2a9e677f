// An account's whole life by mail: registration with activation, resending the
// activation link, setting and resetting the password, setting and resetting
// the username. Each flow reads its body as djoser's serializer does (forms.ts)
// and answers with djoser's errors; the mails are recorded in the transaction
// of the change that causes them (the storage's `mail` argument) and sent by
// the mailer's outbox.
//
// Abuse: the requests that mail a link to an address (resets, resend) are
// throttled per client address and per address asked for, and a reset answers
// the same, after the same work, whether or not an account holds the address:
// the accounts are looked up and mailed after the answer. Two accounts may
// share an address (djoser issue #716): each gets its own mail with its own
// link, and no other address is ever mailed.
import { ApiError, UniqueViolationError } from '../errors.js';
import { decodeUid, type LinkPurpose } from '../mail/index.js';
import { passwordErrors } from '../password-policy.js';
import type { UserAuth, UserRecord } from '../storage/types.js';
import { registrationValues, USER_DEFAULTS } from '../users/fields.js';
import { normalizeUsername } from '../validation.js';
import { DirectoryService } from './directory.js';
import { CHAR_RULE, EMAIL_RULE, FORM_MESSAGES, rawField, readForm, REQUIRED_EMAIL_RULE, usernameRule, type FormResult } from './forms.js';
import { LOCAL_CLIENT, type Client, type Origin } from './types.js';

const USERNAME_TAKEN = 'A user with that username already exists.';

/** The link requests, and which accounts each mails: resets go to active accounts, activation to inactive ones. */
const LINK_REQUESTS = {
  password_reset: { active: true },
  username_reset: { active: true },
  activation: { active: false },
} as const satisfies Record<LinkPurpose, { active: boolean }>;

export class AccountLifeService extends DirectoryService {
  /** Work still running after its request was answered (see requestLink); close() may wait for it. */
  private readonly pending = new Set<Promise<void>>();

  /** Resolves once the mails of every answered link request are recorded. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  // ---- registration and activation ------------------------------------------

  /**
   * djoser's registration: email (optional), username, password. With
   * `sendActivation` the account is inactive and its activation link is
   * mailed in the same transaction.
   */
  async createAccount(body: unknown, opts: { sendActivation: boolean; origin?: Origin }, client?: Client): Promise<UserRecord> {
    if (client) await this.throttle.hit('register', client.address);
    const form = await readForm(body, {
      email: EMAIL_RULE,
      username: usernameRule([(v) => this.usernameFree(v)]),
      password: CHAR_RULE,
    });
    if (form.errors) throw ApiError.fields(form.errors);
    const username = normalizeUsername(form.values.username!);
    const email = form.values.email ?? '';
    const password = form.values.password!;
    const weak = passwordErrors(password, { username, email });
    if (weak.length) throw ApiError.fields({ password: weak });
    const encoded = await this.hashOrBusy(password);
    const mail = opts.sendActivation ? this.mailFor('activation', opts.origin) : undefined;
    try {
      const user = await this.storage.createUser(
        {
          ...USER_DEFAULTS,
          ...registrationValues({ email }),
          username,
          password: encoded,
          is_active: !opts.sendActivation,
          date_joined: this.now(),
        },
        mail,
      );
      this.mailSent(mail);
      return user;
    } catch (err) {
      if (err instanceof UniqueViolationError) throw ApiError.fields({ username: [USERNAME_TAKEN] });
      throw err;
    }
  }

  /** Activates the account an activation link names; a link of an account already active is stale (403). */
  async activate(body: unknown, origin?: Origin): Promise<void> {
    const form = await readForm(body, { uid: CHAR_RULE, token: CHAR_RULE });
    if (form.errors) throw ApiError.fields(form.errors);
    const user = await this.linkUser(form.values.uid);
    const check = this.links().check('activation', user, form.values.token);
    if (check === 'stale') throw new ApiError('permission_denied', FORM_MESSAGES.staleToken);
    if (check !== 'ok') throw ApiError.fields({ token: [FORM_MESSAGES.invalidToken] });
    const mail = this.mailFor('confirmation', origin);
    await this.storage.updateUser(user.id, { is_active: true }, mail);
    this.mailSent(mail);
  }

  /**
   * Mails a new activation link to each inactive account with this exact
   * address. False when there is none (djoser then answers 400 with no body).
   */
  async resendActivation(body: unknown, origin?: Origin, client: Client = LOCAL_CLIENT): Promise<boolean> {
    const email = await this.linkRequestEmail(body, client);
    const users = await this.linkRecipients('activation', email);
    for (const user of users) await this.o.mailer?.queue('activation', user, origin);
    return users.length > 0;
  }

  // ---- password ----------------------------------------------------------------

  /** djoser's set_password: the current password, then Django's validators on the new one against the user. */
  async setOwnPassword(caller: UserAuth, body: unknown, opts: { origin?: Origin; client?: Client } = {}): Promise<void> {
    const user = await this.account(caller);
    const form = await readForm(body, {
      new_password: CHAR_RULE,
      current_password: this.currentPasswordRule(user, opts.client ?? LOCAL_CLIENT),
    });
    if (form.errors) throw ApiError.fields(form.errors);
    const password = form.values.new_password!;
    const { username, first_name, last_name, email } = user;
    const weak = passwordErrors(password, { username, first_name, last_name, email });
    if (weak.length) throw ApiError.fields({ new_password: weak });
    const encoded = await this.hashOrBusy(password);
    const mail = this.mailFor('password_changed_confirmation', opts.origin);
    await this.storage.updateUser(user.id, { password: encoded }, mail);
    this.mailSent(mail);
  }

  /**
   * Asks for a password or username reset link (or an activation link).
   * Answers the same, after the same work, whatever the address: the accounts
   * holding it are mailed after the answer, each with its own link.
   */
  async requestLink(purpose: LinkPurpose, body: unknown, origin?: Origin, client: Client = LOCAL_CLIENT): Promise<void> {
    const email = await this.linkRequestEmail(body, client);
    // Started on the next turn of the event loop, once the answer has gone out.
    const work = new Promise<void>((resolve) => setImmediate(resolve))
      .then(async () => {
        for (const user of await this.linkRecipients(purpose, email)) await this.o.mailer?.queue(purpose, user, origin);
      })
      .catch((err: unknown) => this.o.onBackgroundError?.(err));
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work));
  }

  /**
   * Sets a new password with a reset link: Django's validators first (djoser
   * runs them without the user), then the uid, then the token. The password,
   * last_login and so every outstanding link change; every earlier token of the
   * user is revoked.
   */
  async confirmPasswordReset(body: unknown, origin?: Origin): Promise<void> {
    const form = await readForm(body, { uid: CHAR_RULE, token: CHAR_RULE, new_password: CHAR_RULE });
    if (form.errors) throw ApiError.fields(form.errors);
    const weak = passwordErrors(form.values.new_password!);
    if (weak.length) throw ApiError.fields({ new_password: weak });
    const user = await this.checkedLinkUser('password_reset', form);
    const encoded = await this.hashOrBusy(form.values.new_password!);
    const now = this.now();
    const mail = this.mailFor('password_changed_confirmation', origin);
    await this.storage.updateUser(user.id, { password: encoded, last_login: now, tokens_valid_after: now }, mail);
    this.mailSent(mail);
    await this.storage.revokeUserTokens(user.id, 'revoked', now);
  }

  // ---- username ----------------------------------------------------------------

  /** djoser's set_username: the current password and a new username, free and valid. */
  async setOwnUsername(caller: UserAuth, body: unknown, opts: { origin?: Origin; client?: Client } = {}): Promise<void> {
    const user = await this.account(caller);
    const form = await readForm(body, {
      current_password: this.currentPasswordRule(user, opts.client ?? LOCAL_CLIENT),
      new_username: usernameRule([(v) => this.usernameFree(v)]),
    });
    if (form.errors) throw ApiError.fields(form.errors);
    const mail = this.mailFor('username_changed_confirmation', opts.origin);
    await this.updateOrTaken(user.id, { username: normalizeUsername(form.values.new_username!) }, mail, 'new_username');
  }

  /**
   * Sets a new username with a reset link. djoser reads uid and token as given
   * (they are not declared fields there), after the new username passed.
   */
  async confirmUsernameReset(body: unknown, origin?: Origin): Promise<void> {
    const form = await readForm(body, { new_username: usernameRule([(v) => this.usernameFree(v)]) });
    if (form.errors) throw ApiError.fields(form.errors);
    const uid = rawField(body, 'uid');
    const token = rawField(body, 'token');
    const user = await this.checkedLinkUser('username_reset', {
      values: { uid: typeof uid === 'string' ? uid : undefined, token: typeof token === 'string' ? token : undefined },
    });
    const mail = this.mailFor('username_changed_confirmation', origin);
    const patch = { username: normalizeUsername(form.values.new_username!), last_login: this.now() };
    await this.updateOrTaken(user.id, patch, mail, 'new_username');
  }

  // ---- the parts --------------------------------------------------------------

  private links() {
    const mailer = this.o.mailer;
    if (!mailer) throw new ApiError('service_unavailable');
    return mailer.links;
  }

  private async usernameFree(value: string): Promise<string[]> {
    return (await this.storage.getUserByUsername(normalizeUsername(value))) ? [USERNAME_TAKEN] : [];
  }

  /** The user a link's uid names, or djoser's uid error. */
  private async linkUser(uid: string | undefined): Promise<UserRecord> {
    const id = decodeUid(uid);
    const user = id === undefined ? undefined : await this.storage.getUserById(id);
    if (!user) throw ApiError.fields({ uid: [FORM_MESSAGES.invalidUid] });
    return user;
  }

  /** The user of a link whose token holds for `purpose` (an expired or used one is invalid). */
  private async checkedLinkUser(purpose: LinkPurpose, form: FormResult): Promise<UserRecord> {
    const user = await this.linkUser(form.values.uid);
    if (this.links().check(purpose, user, form.values.token) !== 'ok') throw ApiError.fields({ token: [FORM_MESSAGES.invalidToken] });
    return user;
  }

  /** The address a link request names, after its body and the throttles. */
  private async linkRequestEmail(body: unknown, client: Client): Promise<string> {
    const form = await readForm(body, { email: REQUIRED_EMAIL_RULE });
    if (form.errors) throw ApiError.fields(form.errors);
    const email = form.values.email!;
    await this.throttle.hit('linkAddress', client.address);
    await this.throttle.hitAccount('linkAccount', email.toLowerCase());
    return email;
  }

  /** The accounts a link for `purpose` goes to: exactly this address, active (or, for activation, inactive), with a password. */
  private async linkRecipients(purpose: LinkPurpose, email: string): Promise<UserRecord[]> {
    const users = await this.storage.getUsersByEmail(email);
    return users.filter((u) => u.is_active === LINK_REQUESTS[purpose].active && u.email === email && u.password !== '');
  }
}
