// The user directory djoser serves: who may see, change and delete which
// user. A normal user sees only themselves; staff see everyone. Changing an
// email mails an activation link (and, when activation mail is on and the
// address changed, deactivates the account until it is used).
import { ApiError, UniqueViolationError } from '../errors.js';
import type { MailKind } from '../mail/index.js';
import type { MailFor, UserAuth, UserPatch, UserRecord } from '../storage/types.js';
import { AccountService } from './accounts.js';
import { EMAIL_RULE, FORM_MESSAGES, readForm, type FieldRule } from './forms.js';
import { LOCAL_CLIENT, type Client, type Origin } from './types.js';

/** Which user a request names: the caller (`me`) or a user id from the path, as the client wrote it. */
export type Target = 'me' | { id: string };

/** What the caller means to do with the user: reading, changing and deleting are allowed differently. */
export type Intent = 'read' | 'write' | 'delete';

export class DirectoryService extends AccountService {
  /** The users the caller may list: everyone, by id, for staff; otherwise only the caller. */
  async visibleUsers(caller: UserAuth): Promise<UserRecord[]> {
    const me = await this.account(caller);
    return me.is_staff ? this.storage.listUsers() : [me];
  }

  /**
   * The user a request names. Someone else's account is not found for a
   * normal user reading or changing it, and forbidden for one deleting it.
   */
  async targetUser(caller: UserAuth, target: Target, intent: Intent): Promise<UserRecord> {
    const me = await this.account(caller);
    if (target === 'me') return me;
    if (!/^[0-9]{1,15}$/.test(target.id)) throw new ApiError('not_found');
    const id = Number(target.id);
    if (id === me.id) return me;
    const user = await this.storage.getUserById(id);
    if (!user) throw new ApiError('not_found');
    if (!me.is_staff) throw new ApiError(intent === 'delete' ? 'permission_denied' : 'not_found');
    return user;
  }

  /**
   * Changes a user's email (the only field djoser's user serializer writes).
   * With `sendActivation`, a changed address deactivates the account, and an
   * activation link goes to the address the account has after the change.
   */
  async changeEmail(user: UserRecord, body: unknown, opts: { sendActivation: boolean; origin?: Origin }): Promise<UserRecord> {
    const form = await readForm(body, { email: EMAIL_RULE });
    if (form.errors) throw ApiError.fields(form.errors);
    const patch: UserPatch = {};
    const email = form.values.email;
    if (email !== undefined) {
      patch.email = email;
      if (opts.sendActivation && email !== user.email) patch.is_active = false;
    }
    const mail = opts.sendActivation ? this.mailFor('activation', opts.origin) : undefined;
    const updated = await this.storage.updateUser(user.id, patch, mail);
    if (!updated) throw new ApiError('not_found');
    this.mailSent(mail);
    return updated;
  }

  /** Deletes a user once the caller has given their own current password. */
  async deleteAccount(caller: UserAuth, user: UserRecord, body: unknown, client: Client = LOCAL_CLIENT): Promise<void> {
    const me = await this.account(caller);
    const form = await readForm(body, { current_password: this.currentPasswordRule(me, client) });
    if (form.errors) throw ApiError.fields(form.errors);
    await this.storage.deleteUser(user.id);
  }

  // ---- shared with account-life.ts ---------------------------------------------

  /** The caller's current password, as a field: wrong is "Invalid password.", counted as a failed login. */
  protected currentPasswordRule(user: UserRecord, client: Client): FieldRule {
    return {
      validators: [
        async (given) => {
          const account = user.username.toLowerCase();
          await this.throttle.beforeLogin(client.address, account);
          let ok = false;
          try {
            ok = await this.hasher.verify(user.password, given);
          } catch {
            ok = false;
          }
          if (ok) return [];
          await this.throttle.loginFailed(client.address, account);
          return [FORM_MESSAGES.invalidPassword];
        },
      ],
    };
  }

  /** A mail of `kind` about the user as a change leaves them, for the storage to record in the change's transaction. */
  protected mailFor(kind: MailKind, origin?: Origin): MailFor | undefined {
    const mailer = this.o.mailer;
    if (!mailer) return undefined;
    return (user) => mailer.compose(kind, user, origin);
  }

  /** Wakes the sender once a change that recorded a mail has committed. */
  protected mailSent(mail: MailFor | undefined): void {
    if (mail) this.o.mailer?.notify();
  }

  /** A user change that may collide on the username: the collision is the field error DRF gives. */
  protected async updateOrTaken(id: number, patch: UserPatch, mail: MailFor | undefined, field: string): Promise<UserRecord> {
    try {
      const updated = await this.storage.updateUser(id, patch, mail);
      if (!updated) throw new ApiError('not_found');
      this.mailSent(mail);
      return updated;
    } catch (err) {
      if (err instanceof UniqueViolationError) throw ApiError.fields({ [field]: ['A user with that username already exists.'] });
      throw err;
    }
  }
}
